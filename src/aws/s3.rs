//! S3: download the application archive, upload the bundle (SSE-KMS, multipart in parallel,
//! aborted on any failure or signal), tag it with the deployment's outcome.

use super::sdk_error;
use crate::error::{Error, Result};
use crate::s3url::S3Url;
use crate::shutdown::Shutdown;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, Tag, Tagging,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What S3 says of an object we read or wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectInfo {
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub bytes: u64,
}

/// The region a bucket lives in, from HeadBucket.
pub async fn bucket_region(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Option<String>> {
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(out) => Ok(out.bucket_region().map(str::to_string)),
        Err(err) if err.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Err(Error::Aws {
            action: format!("cannot use artifact bucket {bucket}"),
            message: "bucket not found: create it (the infra stack does) or fix --artifact-bucket ($ARTIFACT_BUCKET)".into(),
        }),
        Err(err) => Err(sdk_error(
            format!("cannot use artifact bucket {bucket}"),
            "the role needs s3:ListBucket on the artifact bucket",
            err,
        )),
    }
}

/// Streams an object to `dest`, never holding it whole in memory.
pub async fn download(s3: &aws_sdk_s3::Client, url: &S3Url, dest: &Path) -> Result<ObjectInfo> {
    let action = || format!("cannot download application archive {url}");
    let out = s3
        .get_object()
        .bucket(&url.bucket)
        .key(&url.key)
        .set_version_id(url.version_id.clone())
        .send()
        .await
        .map_err(|err| match err.as_service_error() {
            Some(GetObjectError::NoSuchKey(_)) => Error::Aws {
                action: action(),
                message: "no such object: check the key in the SSM parameter or --app-archive".into(),
            },
            _ if err.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Error::Aws {
                action: action(),
                message: "not found (no such bucket, key or version)".into(),
            },
            _ => sdk_error(
                action(),
                "the role needs s3:GetObject on the object (s3:GetObjectVersion for a version id) and kms:Decrypt on its key if it is SSE-KMS",
                err,
            ),
        })?;
    let etag = out.e_tag().map(str::to_string);
    let version_id = out.version_id().map(str::to_string);
    let mut reader = out.body.into_async_read();
    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(|e| Error::io("cannot create", dest, e))?;
    let bytes = tokio::io::copy_buf(&mut reader, &mut file)
        .await
        .map_err(|e| Error::Aws {
            action: action(),
            message: format!("download broke off: {e}"),
        })?;
    file.sync_all()
        .await
        .map_err(|e| Error::io("cannot write", dest, e))?;
    Ok(ObjectInfo {
        etag,
        version_id,
        bytes,
    })
}

/// How bundles are uploaded.
#[derive(Debug, Clone, Copy)]
pub struct UploadSettings {
    /// Bundles from this size on go up in parts.
    pub multipart_threshold: u64,
    pub part_size: u64,
    /// Parts in flight at once; memory use is about this times `part_size` at most.
    pub concurrency: usize,
}

impl Default for UploadSettings {
    fn default() -> Self {
        UploadSettings {
            multipart_threshold: 16 << 20,
            part_size: 8 << 20,
            concurrency: 4,
        }
    }
}

/// A bundle to upload.
#[derive(Debug, Clone)]
pub struct Upload {
    pub bucket: String,
    pub key: String,
    pub path: PathBuf,
    pub size: u64,
    pub kms_key_id: Option<String>,
    /// Object metadata (x-amz-meta-*): the bundle's SHA-256, the source commit.
    pub metadata: HashMap<String, String>,
}

impl Upload {
    /// What an upload error says it could not do.
    fn failure(&self) -> String {
        format!("cannot upload bundle to s3://{}/{}", self.bucket, self.key)
    }
}

const CONTENT_TYPE: &str = "application/octet-stream";

const UPLOAD_DENIED: &str = "the role needs s3:PutObject on the artifact bucket, and kms:GenerateDataKey and kms:Decrypt on its key (the bucket policy also rejects any other KMS key id than its own)";

/// Uploads with SSE-KMS; in parts, in parallel, from `settings.multipart_threshold` on. On any
/// failure, and on SIGINT/SIGTERM, a multipart upload is aborted (no orphan parts, no object)
/// and a single PUT that may have landed is deleted.
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    up: &Upload,
    settings: UploadSettings,
    shutdown: &Shutdown,
) -> Result<ObjectInfo> {
    if up.size < settings.multipart_threshold {
        let put = put_single(s3, up);
        return tokio::select! {
            // A signal that has arrived wins over work that could still finish.
            biased;
            signal = shutdown.wait() => {
                // The PUT was cut off; should it have completed, remove it.
                let _ = s3.delete_object().bucket(&up.bucket).key(&up.key).send().await;
                Err(Error::Interrupted(signal))
            }
            result = put => result,
        };
    }
    let action = || up.failure();
    let created = s3
        .create_multipart_upload()
        .bucket(&up.bucket)
        .key(&up.key)
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .set_ssekms_key_id(up.kms_key_id.clone())
        .content_type(CONTENT_TYPE)
        .set_metadata(Some(up.metadata.clone()))
        .send()
        .await
        .map_err(|err| sdk_error(action(), UPLOAD_DENIED, err))?;
    let upload_id = created
        .upload_id()
        .ok_or_else(|| Error::Aws {
            action: action(),
            message: "CreateMultipartUpload returned no upload id".into(),
        })?
        .to_string();
    let parts = upload_parts(s3, up, settings, &upload_id);
    let outcome = tokio::select! {
        biased;
        signal = shutdown.wait() => Err(Error::Interrupted(signal)),
        result = parts => result,
    };
    match outcome {
        Ok(info) => Ok(info),
        Err(err) => {
            let aborted = s3
                .abort_multipart_upload()
                .bucket(&up.bucket)
                .key(&up.key)
                .upload_id(&upload_id)
                .send()
                .await;
            match aborted {
                Ok(_) => Err(err),
                Err(abort_err)
                    if abort_err
                        .as_service_error()
                        .is_some_and(|e| e.is_no_such_upload()) =>
                {
                    // Completed after all (the answer to CompleteMultipartUpload was lost or
                    // unreadable): remove the object, which nothing will deploy.
                    let _ = s3.delete_object().bucket(&up.bucket).key(&up.key).send().await;
                    Err(err)
                }
                Err(abort_err) => Err(Error::Aws {
                    action: action(),
                    message: format!(
                        "{err}; and aborting multipart upload {upload_id} failed too ({}): the bucket's lifecycle rule removes it within a day",
                        aws_sdk_s3::error::DisplayErrorContext(&abort_err)
                    ),
                }),
            }
        }
    }
}

async fn put_single(s3: &aws_sdk_s3::Client, up: &Upload) -> Result<ObjectInfo> {
    let action = || up.failure();
    let body = ByteStream::from_path(&up.path)
        .await
        .map_err(|e| Error::io("cannot read bundle", &up.path, std::io::Error::other(e)))?;
    let out = s3
        .put_object()
        .bucket(&up.bucket)
        .key(&up.key)
        .body(body)
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .set_ssekms_key_id(up.kms_key_id.clone())
        .content_type(CONTENT_TYPE)
        .set_metadata(Some(up.metadata.clone()))
        .send()
        .await
        .map_err(|err| sdk_error(action(), UPLOAD_DENIED, err))?;
    Ok(ObjectInfo {
        etag: out.e_tag().map(str::to_string),
        version_id: out.version_id().map(str::to_string),
        bytes: up.size,
    })
}

async fn upload_parts(
    s3: &aws_sdk_s3::Client,
    up: &Upload,
    settings: UploadSettings,
    upload_id: &str,
) -> Result<ObjectInfo> {
    let action = || up.failure();
    let part_size = settings.part_size.max(5 << 20);
    let count = up.size.div_ceil(part_size).max(1);
    let mut tasks = tokio::task::JoinSet::new();
    let mut parts = Vec::with_capacity(count as usize);
    let mut next = 0u64;
    loop {
        while next < count && tasks.len() < settings.concurrency.max(1) {
            let (s3, bucket, key, path, upload_id) = (
                s3.clone(),
                up.bucket.clone(),
                up.key.clone(),
                up.path.clone(),
                upload_id.to_string(),
            );
            let offset = next * part_size;
            let length = part_size.min(up.size - offset);
            let number = i32::try_from(next + 1).expect("at most 10000 parts");
            tasks.spawn(async move {
                let body = ByteStream::read_from()
                    .path(&path)
                    .offset(offset)
                    .length(Length::Exact(length))
                    .build()
                    .await
                    .map_err(|e| {
                        Error::io("cannot read bundle", &path, std::io::Error::other(e))
                    })?;
                let out = s3
                    .upload_part()
                    .bucket(&bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(body)
                    .send()
                    .await
                    .map_err(|err| {
                        sdk_error(
                            format!("cannot upload part {number} of bundle s3://{bucket}/{key}"),
                            UPLOAD_DENIED,
                            err,
                        )
                    })?;
                Ok::<_, Error>(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(out.e_tag().map(str::to_string))
                        .build(),
                )
            });
            next += 1;
        }
        match tasks.join_next().await {
            Some(joined) => {
                let part = joined.map_err(|e| Error::Aws {
                    action: action(),
                    message: format!("upload task failed: {e}"),
                })??;
                parts.push(part);
            }
            None => break,
        }
    }
    parts.sort_by_key(|p| p.part_number());
    let out = s3
        .complete_multipart_upload()
        .bucket(&up.bucket)
        .key(&up.key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .map_err(|err| sdk_error(action(), UPLOAD_DENIED, err))?;
    Ok(ObjectInfo {
        etag: out.e_tag().map(str::to_string),
        version_id: out.version_id().map(str::to_string),
        bytes: up.size,
    })
}

/// Removes an uploaded bundle that will not be deployed.
pub async fn delete(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> Result<()> {
    s3.delete_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_string))
        .send()
        .await
        .map_err(|err| {
            sdk_error(
                format!("cannot delete unused bundle s3://{bucket}/{key}"),
                "the role needs s3:DeleteObject on the artifact bucket",
                err,
            )
        })?;
    Ok(())
}

/// The object tag that records a bundle's deployment outcome, for lifecycle rules.
pub const STATUS_TAG: &str = "invisible-pipeline-status";

/// Tags the bundle with the final status of its deployment.
pub async fn tag_status(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    status: &str,
) -> Result<()> {
    let tag = Tag::builder()
        .key(STATUS_TAG)
        .value(status)
        .build()
        .expect("key and value are set");
    let tagging = Tagging::builder()
        .tag_set(tag)
        .build()
        .expect("tag set is set");
    s3.put_object_tagging()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_string))
        .tagging(tagging)
        .send()
        .await
        .map_err(|err| {
            sdk_error(
                format!("cannot tag bundle s3://{bucket}/{key}"),
                "the role needs s3:PutObjectTagging (and s3:PutObjectVersionTagging) on the artifact bucket",
                err,
            )
        })?;
    Ok(())
}
