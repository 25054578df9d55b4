//! Bundles already in S3: an object version looked at, copied to another region's bucket,
//! hashed, and tagged with the outcome of its deployment (the tag the lifecycle rules read).

use crate::aws::s3::multipart::{CopySource, Upload, Uploaded, SHA256_METADATA};
use crate::aws::s3::status::{pending_tagging, status_tag};
use crate::aws::sdk_error;
use crate::base::error::{Error, Result};
use aws_sdk_s3::types::{Tag, Tagging};
use std::collections::HashMap;
use std::path::PathBuf;

/// An object version that exists: its ETag and size, and the SHA-256 recorded when it was
/// built (its `sha256` metadata), if any.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub etag: String,
    pub size: u64,
    pub sha256: Option<String>,
}

/// An object version, or `None` when it is gone (404: no such key or version; 405: the
/// version is a delete marker), as HeadObject answers
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html>).
pub(crate) async fn head_version(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> Result<Option<Found>> {
    let answer = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_string))
        .send()
        .await;
    match answer {
        Ok(out) => Ok(Some(Found {
            etag: out.e_tag().unwrap_or_default().to_string(),
            size: out
                .content_length()
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            sha256: out.metadata().and_then(|m| m.get(SHA256_METADATA)).cloned(),
        })),
        Err(err) if matches!(crate::aws::status(&err), Some(404 | 405)) => Ok(None),
        Err(err) => Err(sdk_error(
            "s3",
            "HeadObject",
            format!("cannot read bundle s3://{bucket}/{key}"),
            err,
        )),
    }
}

/// The largest object one CopyObject copies
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html>).
pub(crate) const MAX_COPY_OBJECT: u64 = 5 << 30;

/// Copies a bundle into another bucket (another region: CodeDeploy needs the revision in the
/// instances' region) with CopyObject, pinned to the source's version and ETag; its metadata
/// comes along, its tags are replaced by `Pending`, and it is encrypted as `deploy` encrypts.
/// The copy is this run's: the returned handle can remove it.
pub(crate) async fn copy_bundle(
    s3: &aws_sdk_s3::Client,
    from: &CopySource,
    to_bucket: &str,
    kms_key_id: Option<String>,
) -> Result<Uploaded> {
    let target = Upload {
        bucket: to_bucket.to_string(),
        key: from.key.clone(),
        path: PathBuf::new(),
        size: from.len,
        kms_key_id,
        metadata: HashMap::new(),
        copy_from: None,
    };
    let action = format!(
        "cannot copy bundle s3://{}/{} to s3://{to_bucket}/{}",
        from.bucket, from.key, from.key
    );
    if from.len > MAX_COPY_OBJECT {
        return Err(Error::aws(
            "CopyObject",
            action,
            "the bundle is larger than the 5 GiB one CopyObject copies; promote within its region instead",
        ));
    }
    let out = s3
        .copy_object()
        .bucket(to_bucket)
        .key(&from.key)
        .copy_source(from.header())
        .set_copy_source_if_match(from.etag.clone())
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Copy)
        .tagging_directive(aws_sdk_s3::types::TaggingDirective::Replace)
        .tagging(pending_tagging())
        .set_server_side_encryption(target.encryption())
        .set_ssekms_key_id(target.kms_key_id.clone())
        .send()
        .await
        .map_err(|err| sdk_error("s3", "CopyObject", action, err))?;
    Ok(Uploaded {
        bucket: to_bucket.to_string(),
        key: from.key.clone(),
        etag: out
            .copy_object_result()
            .and_then(|r| r.e_tag())
            .map(str::to_string),
        version_id: out.version_id().map(str::to_string),
        completing: None,
    })
}

/// The SHA-256 of an object version's bytes, read and hashed here: what a copy is checked by
/// (never the metadata, which a copy carries along whatever its bytes).
pub(crate) async fn sha256_of(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> Result<String> {
    use sha2::{Digest, Sha256};
    let action = || format!("cannot read s3://{bucket}/{key}");
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_string))
        .send()
        .await
        .map_err(|err| sdk_error("s3", "GetObject", action(), err))?;
    let mut body = out.body;
    let mut hasher = Sha256::new();
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| Error::aws("GetObject", action(), e.to_string()))?
    {
        hasher.update(&chunk);
    }
    Ok(crate::bundle::writer::hex(&hasher.finalize()))
}

/// Tags the bundle with the final status of its deployment.
pub(crate) async fn tag_status(
    s3: &aws_sdk_s3::Client,
    bundle: &Uploaded,
    status: &str,
) -> Result<()> {
    tag(
        s3,
        &bundle.bucket,
        &bundle.key,
        bundle.version_id.as_deref(),
        status,
    )
    .await
}

/// Sets a bundle's status tag (any bundle: tagging never removes anything).
pub(crate) async fn tag(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    status: &str,
) -> Result<()> {
    let tag = Tag::builder()
        .key(&status_tag().key)
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
                "s3",
                "PutObjectTagging",
                format!("cannot tag bundle s3://{bucket}/{key}"),
                err,
            )
        })?;
    Ok(())
}
