//! The bundle's upload: SSE-KMS, in one PUT or multipart in parallel (its leading parts
//! copied inside S3 from the release, or sent ahead during the download), aborted on any
//! failure or signal, and an object that landed after all deleted by its version.
//!
//! Only the upload that wrote a bundle can delete it: [`Uploaded`] is made here and nowhere
//! else, and its deletion names the version the upload returned (in a versioned bucket a
//! delete without a version id only adds a delete marker:
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeleteMarker.html>). Rollback and
//! promotion redeploy old bundles; nothing they do can remove one.

use crate::aws::s3::multipart::{
    create_multipart_settled, file_crc32, part_size, plan_parts, send_file_part, CopySource,
    FileRange, PartSource, Upload, UploadSettings, Uploaded, CONTENT_TYPE, MAX_PART, MAX_PARTS,
    MIN_PART, UPLOAD_TOKEN_METADATA,
};
use crate::aws::sdk_error;
use crate::base::error::{Error, Result};
use crate::base::shutdown::Shutdown;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use std::collections::HashMap;
use std::path::PathBuf;

/// The object an upload whose answer was lost wrote, when it is this upload's.
async fn completed_after_all(s3: &aws_sdk_s3::Client, up: &Upload) -> Option<Uploaded> {
    let out = s3
        .head_object()
        .bucket(&up.bucket)
        .key(&up.key)
        .send()
        .await
        .ok()?;
    let theirs = out.metadata().and_then(|m| m.get(UPLOAD_TOKEN_METADATA));
    (theirs.map(String::as_str) == up.token() && theirs.is_some()).then(|| Uploaded {
        bucket: up.bucket.clone(),
        key: up.key.clone(),
        etag: out.e_tag().map(str::to_string),
        version_id: out.version_id().map(str::to_string),
        completing: None,
    })
}

/// After an upload whose outcome is unknown (cut off by a signal, or a lost answer): deletes
/// the object only when it is this upload's (its upload token matches), by its version;
/// with nothing there, no delete is sent.
async fn remove_if_ours(s3: &aws_sdk_s3::Client, up: &Upload) -> Result<()> {
    match completed_after_all(s3, up).await {
        Some(ours) => ours.discard(s3).await,
        None => Ok(()),
    }
}

/// Uploads with SSE-KMS; in parts, in parallel, from `settings.multipart_threshold` on. On any
/// failure, and on SIGINT/SIGTERM, a multipart upload is aborted (no orphan parts, no object)
/// and an object that landed after all is deleted by its version. With `ahead`, the upload
/// it started goes on: its parts that hold the bundle's bytes are kept, the others sent (a
/// part sent again under the same number replaces the earlier one).
pub(crate) async fn upload(
    s3: &aws_sdk_s3::Client,
    up: &Upload,
    settings: UploadSettings,
    shutdown: &Shutdown,
    ahead: Option<crate::aws::s3::ahead::Ahead>,
) -> Result<Uploaded> {
    if let Some(signal) = shutdown.fired() {
        if let Some(ahead) = ahead {
            ahead.abort(s3).await;
        }
        return Err(Error::Interrupted(signal));
    }
    let copying = up.copy_from.as_ref().is_some_and(|c| c.len >= MIN_PART);
    if ahead.is_none() && up.size < settings.multipart_threshold && !copying {
        let result = shutdown.guard(put_single(s3, up)).await;
        if matches!(result, Err(Error::Interrupted(_))) {
            // The PUT was cut off; should it have completed, remove it.
            if let Err(err) = remove_if_ours(s3, up).await {
                crate::base::term::log(format!("warning: {err}"));
            }
        }
        return result;
    }
    let (upload_id, mut part, sent) = match ahead {
        Some(ahead) => (ahead.upload_id, ahead.part, ahead.sent),
        None => (
            create_multipart_settled(s3, up, shutdown).await?,
            part_size(up.size, settings.part_size)?,
            Vec::new(),
        ),
    };
    let copy = up.copy_from.as_ref().map_or(0, |c| c.len);
    let parts = fitting_plan(up.size, &mut part, copy);
    // Parts sent ahead that the plan does not list (a bundle smaller than the release) are
    // left out of CompleteMultipartUpload: "only after you either complete or abort multipart
    // upload, Amazon S3 frees up the parts storage" (S3 API reference, UploadPart), so they
    // cost nothing once the upload is complete.
    let done = crate::aws::s3::ahead::reusable(&parts, &sent);
    let outcome = shutdown
        .guard(upload_parts(
            s3,
            up,
            parts,
            done,
            settings.concurrency,
            &upload_id,
        ))
        .await;
    match outcome {
        Ok(done) => Ok(done),
        Err(err) => abort_multipart(s3, up, &upload_id, err).await,
    }
}

/// The part plan within S3's 10,000 parts: the copy/file split can add a part, so the parts
/// grow a MiB at a time until they fit (parts sent ahead fix the size: the plan keeps them
/// only where it did not grow).
fn fitting_plan(size: u64, part: &mut u64, copy: u64) -> Vec<PartSource> {
    let mut parts = plan_parts(size, *part, copy);
    while parts.len() as u64 > MAX_PARTS && *part < MAX_PART {
        *part += 1 << 20;
        parts = plan_parts(size, *part, copy);
    }
    parts
}

/// After a failed multipart upload: aborts it (no orphan parts) and gives back the error to
/// report. `Ok`: CompleteMultipartUpload went through after all (its answer was lost), and
/// the object is this upload's: the upload's result.
async fn abort_multipart(
    s3: &aws_sdk_s3::Client,
    up: &Upload,
    upload_id: &str,
    err: Error,
) -> Result<Uploaded> {
    let aborted = s3
        .abort_multipart_upload()
        .bucket(&up.bucket)
        .key(&up.key)
        .upload_id(upload_id)
        .send()
        .await;
    let abort_err = match aborted {
        Ok(_) => return Err(err),
        Err(abort_err) => abort_err,
    };
    // The upload is gone: CompleteMultipartUpload went through after all and its answer was
    // lost. The object exists: if it is ours (its upload token), it is the upload's result;
    // after a signal it is removed, by its version.
    if abort_err
        .as_service_error()
        .is_some_and(|e| e.is_no_such_upload())
    {
        if !matches!(err, Error::Interrupted(_)) {
            if let Some(done) = completed_after_all(s3, up).await {
                crate::base::term::log(format!(
                    "CompleteMultipartUpload failed ({err}), but the bundle is complete in S3: going on"
                ));
                return Ok(done);
            }
        }
        if let Err(cleanup) = remove_if_ours(s3, up).await {
            crate::base::term::log(format!("warning: {cleanup}"));
        }
        return Err(err);
    }
    let abort_err = sdk_error("s3", "AbortMultipartUpload", "abort", abort_err);
    if matches!(err, Error::Interrupted(_)) {
        crate::base::term::log(format!(
            "warning: aborting multipart upload {upload_id} failed ({abort_err}): the bucket's lifecycle rule removes it within a day"
        ));
        return Err(err);
    }
    Err(Error::aws(
        "AbortMultipartUpload",
        up.failure(),
        format!(
            "{err}; and aborting multipart upload {upload_id} failed too ({abort_err}): the bucket's lifecycle rule removes it within a day"
        ),
    ))
}

async fn put_single(s3: &aws_sdk_s3::Client, up: &Upload) -> Result<Uploaded> {
    let crc = file_crc32(&up.path, 0, up.size).await?;
    let body = ByteStream::from_path(&up.path)
        .await
        .map_err(|e| Error::io("cannot read bundle", &up.path, std::io::Error::other(e)))?;
    let out = s3
        .put_object()
        .bucket(&up.bucket)
        .key(&up.key)
        .body(body)
        .checksum_crc32(crc)
        .set_server_side_encryption(up.encryption())
        .set_ssekms_key_id(up.kms_key_id.clone())
        .content_type(CONTENT_TYPE)
        .set_metadata(Some(up.metadata.clone()))
        .tagging(crate::aws::s3::status::pending_tagging())
        .send()
        .await
        .map_err(|err| sdk_error("s3", "PutObject", up.failure(), err))?;
    Ok(Uploaded {
        bucket: up.bucket.clone(),
        key: up.key.clone(),
        etag: out.e_tag().map(str::to_string),
        version_id: out.version_id().map(str::to_string),
        completing: None,
    })
}

/// Sends the parts of `plan` but those already `done` (by index), then completes the upload.
async fn upload_parts(
    s3: &aws_sdk_s3::Client,
    up: &Upload,
    plan: Vec<PartSource>,
    done: HashMap<usize, CompletedPart>,
    concurrency: usize,
    upload_id: &str,
) -> Result<Uploaded> {
    let count = plan.len();
    let mut tasks = tokio::task::JoinSet::new();
    let mut parts = Vec::with_capacity(count);
    let mut next = 0usize;
    let mut done = done;
    let length = |number: Option<i32>| match number.and_then(|n| plan.get(n as usize - 1)) {
        Some(PartSource::Copy { first, last }) => last - first + 1,
        Some(PartSource::File { length, .. }) => *length,
        None => 0,
    };
    let progress = crate::base::progress::Progress::start(
        format!("uploading s3://{}/{}", up.bucket, up.key),
        Some(up.size),
    );
    progress.set(done.values().map(|p| length(p.part_number())).sum());
    loop {
        while next < count && tasks.len() < concurrency.max(1) {
            if let Some(part) = done.remove(&next) {
                parts.push(part);
                next += 1;
                continue;
            }
            let number = i32::try_from(next + 1).expect("at most 10000 parts");
            tasks.spawn(PartJob::new(s3, up, upload_id).send(number, plan[next]));
            next += 1;
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let part = joined.map_err(|e| {
            Error::aws(
                "UploadPart",
                up.failure(),
                format!("upload task failed: {e}"),
            )
        })??;
        let sent = length(part.part_number());
        progress.advance(sent);
        crate::base::term::detail(format!(
            "part {} of s3://{}/{} done ({sent} bytes)",
            part.part_number().unwrap_or_default(),
            up.bucket,
            up.key
        ));
        parts.push(part);
    }
    complete_multipart(s3, up, upload_id, parts).await
}

/// One part to send, with what its task owns.
struct PartJob {
    s3: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    path: PathBuf,
    upload_id: String,
    source: Option<CopySource>,
}

impl PartJob {
    fn new(s3: &aws_sdk_s3::Client, up: &Upload, upload_id: &str) -> Self {
        PartJob {
            s3: s3.clone(),
            bucket: up.bucket.clone(),
            key: up.key.clone(),
            path: up.path.clone(),
            upload_id: upload_id.to_string(),
            source: up.copy_from.clone(),
        }
    }

    /// Sends part `number`: copied inside S3 from the release, or read from the bundle file.
    async fn send(self, number: i32, what: PartSource) -> Result<CompletedPart> {
        let action = format!(
            "cannot upload part {number} of bundle s3://{}/{}",
            self.bucket, self.key
        );
        match what {
            PartSource::Copy { first, last } => {
                let source = self.source.as_ref().expect("copy parts have a source");
                let out = self
                    .s3
                    .upload_part_copy()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .upload_id(&self.upload_id)
                    .part_number(number)
                    .copy_source(source.header())
                    .copy_source_range(format!("bytes={first}-{last}"))
                    .set_copy_source_if_match(source.etag.clone())
                    .send()
                    .await
                    .map_err(|err| sdk_error("s3", "UploadPartCopy", action.clone(), err))?;
                // S3 computes the CRC-32 of a copied part of a CRC32 upload and returns it
                // (API reference, CopyPartResult).
                let result = out.copy_part_result();
                Ok(CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(result.and_then(|r| r.e_tag()).map(str::to_string))
                    .set_checksum_crc32(result.and_then(|r| r.checksum_crc32()).map(str::to_string))
                    .build())
            }
            PartSource::File { offset, length } => {
                let file = FileRange {
                    path: &self.path,
                    offset,
                    length,
                };
                let (s3, bucket, key, id) = (&self.s3, &self.bucket, &self.key, &self.upload_id);
                send_file_part(s3, bucket, key, id, number, file, &action).await
            }
        }
    }
}

/// CompleteMultipartUpload of the parts, in order; S3's time to answer is measured apart.
async fn complete_multipart(
    s3: &aws_sdk_s3::Client,
    up: &Upload,
    upload_id: &str,
    mut parts: Vec<CompletedPart>,
) -> Result<Uploaded> {
    parts.sort_by_key(|p| p.part_number());
    let completing = std::time::Instant::now();
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
        .map_err(|err| sdk_error("s3", "CompleteMultipartUpload", up.failure(), err))?;
    Ok(Uploaded {
        bucket: up.bucket.clone(),
        key: up.key.clone(),
        etag: out.e_tag().map(str::to_string),
        version_id: out.version_id().map(str::to_string),
        completing: Some(completing.elapsed()),
    })
}
