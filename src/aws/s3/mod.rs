//! S3: the artifact bucket's region, the application archive's download, the bundle's upload
//! (with the parts sent ahead during the download) and what becomes of bundles already there.
//! `multipart` is what the upload and the parts sent ahead share; neither imports the other
//! back. `status` is the bundle's status tag, from the data file the infra reads too.

pub(crate) mod ahead;
pub(crate) mod download;
pub(crate) mod multipart;
pub(crate) mod objects;
pub(crate) mod region;
pub(crate) mod status;
pub(crate) mod upload;

pub use download::download;
pub(crate) use download::ObjectInfo;
pub use multipart::UploadSettings;
pub(crate) use multipart::{
    upload_token, CopySource, Upload, Uploaded, MIN_PART, SHA256_METADATA, UPLOAD_TOKEN_METADATA,
};
pub(crate) use objects::{copy_bundle, head_version, sha256_of, tag, tag_status, Found};
pub(crate) use region::check_bucket_region;
pub(crate) use status::status_tag;
pub(crate) use upload::upload;
