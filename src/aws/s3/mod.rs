//! S3: the artifact bucket's region, the application archive's download, the bundle's upload
//! (with the parts sent ahead during the download) and what becomes of bundles already there.
//! `multipart` is what the upload and the parts sent ahead share; neither imports the other
//! back.

pub mod ahead;
pub mod download;
pub mod multipart;
pub mod objects;
pub mod region;
pub mod upload;

pub use download::{download, ObjectInfo, DOWNLOAD_RESUMES};
pub use multipart::{
    part_size, upload_token, CopySource, Upload, UploadSettings, Uploaded, MAX_PART, MAX_PARTS,
    MIN_PART, SHA256_METADATA, UPLOAD_TOKEN_METADATA,
};
pub use objects::{
    copy_bundle, head_version, sha256_of, tag, tag_status, Found, LIVE, MAX_COPY_OBJECT, PENDING,
    STATUS_TAG,
};
pub use region::{check_bucket_region, BUCKET_REGION_HEADER};
pub use upload::upload;
