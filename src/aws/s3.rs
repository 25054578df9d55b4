//! S3: the artifact bucket's region, the application archive's download (resumed where a
//! connection broke), the bundle's upload (SSE-KMS, multipart in parallel, aborted on any
//! failure or signal) and its outcome tag.
//!
//! Only the upload that wrote a bundle can delete it: [`Uploaded`] is made here and nowhere
//! else, and its deletion names the version the upload returned (in a versioned bucket a
//! delete without a version id only adds a delete marker:
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeleteMarker.html>). Rollback and
//! promotion redeploy old bundles; nothing they do can remove one.

use super::sdk_error;
use crate::error::{Error, Result};
use crate::growing::Growing;
use crate::s3url::S3Url;
use crate::shutdown::Shutdown;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ServerSideEncryption, Tag, Tagging,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// What S3 says of an object we read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectInfo {
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub bytes: u64,
}

/// The header in which S3 names a bucket's region, on errors too.
pub const BUCKET_REGION_HEADER: &str = "x-amz-bucket-region";

/// Checks that the artifact bucket is in `region`, with HeadBucket. S3 answers a bucket of
/// another region with 301 (sometimes 400) and no body, and a denied one with 403; each
/// carries the bucket's region in `x-amz-bucket-region`, which the SDK does not surface on
/// errors (awslabs/aws-sdk-rust#1052), so it is read from the raw response
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html>).
pub async fn check_bucket_region(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
    shutdown: &Shutdown,
) -> Result<()> {
    let elsewhere = |actual: &str| {
        Error::Usage(format!(
            "artifact bucket {bucket} is in {actual}, but CodeDeploy deploys in {region}: CodeDeploy needs an EC2 revision in the instances' region; use a bucket in {region} (--artifact-bucket) or deploy to {actual} (--deploy-region {actual})"
        ))
    };
    let action = format!("cannot use artifact bucket {bucket}");
    let answer = shutdown
        .guard(async { Ok(s3.head_bucket().bucket(bucket).send().await) })
        .await?;
    let err = match answer {
        Ok(out) => {
            return match out.bucket_region() {
                Some(actual) if actual != region => Err(elsewhere(actual)),
                _ => Ok(()),
            }
        }
        Err(err) => err,
    };
    let actual = super::header(&err, BUCKET_REGION_HEADER).map(str::to_string);
    match (super::status(&err), actual) {
        (_, Some(actual)) if actual != region => Err(elsewhere(&actual)),
        (Some(403), Some(actual)) => Err(Error::aws(
            "HeadBucket",
            action,
            format!(
                "access denied: the bucket exists and is in {actual} as it should be, but the role may not read it: {}",
                super::calls::needs("s3", "HeadBucket")
            ),
        )),
        (Some(404), _) => Err(Error::aws(
            "HeadBucket",
            action,
            "no such bucket: create it (the infra stack does) or fix --artifact-bucket ($ARTIFACT_BUCKET)",
        )),
        _ => Err(sdk_error("s3", "HeadBucket", action, err)),
    }
}

/// The same client, for another region.
fn in_region(s3: &aws_sdk_s3::Client, region: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        s3.config()
            .to_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build(),
    )
}

/// How much more a download writes before it tells a reader of the file ([`Growing`]).
const ANNOUNCE: u64 = 1 << 20;

/// How often a broken download is resumed before the run gives up.
pub const DOWNLOAD_RESUMES: u32 = 5;

/// Streams an object to `dest`, never holding it whole in memory. A connection that breaks
/// mid-body is resumed from the byte reached (Range, pinned to the first answer's ETag with
/// If-Match, and to its version), up to [`DOWNLOAD_RESUMES`] times. A bucket in another
/// region is read there. `label` names the archive in messages (a SecureString parameter's
/// value is never shown).
pub async fn download(
    s3: &aws_sdk_s3::Client,
    url: &S3Url,
    label: &str,
    dest: &Path,
    growing: Option<&Growing>,
    shutdown: &Shutdown,
) -> Result<ObjectInfo> {
    let action = || format!("cannot download application archive {label}");
    let mut client = s3.clone();
    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(|e| Error::io("cannot create", dest, e))?;
    let mut info = ObjectInfo::default();
    let mut total: Option<u64> = None;
    let mut resumes = 0u32;
    let mut redirected = false;
    let mut announced = 0u64;
    let progress = crate::progress::Progress::start(format!("downloading {label}"), None);
    loop {
        let request = client
            .get_object()
            .bucket(&url.bucket)
            .key(&url.key)
            .set_version_id(url.version_id.clone().or(info.version_id.clone()))
            .set_range((info.bytes > 0).then(|| format!("bytes={}-", info.bytes)))
            .set_if_match(info.etag.clone().filter(|_| info.bytes > 0));
        let answer = shutdown.guard(async { Ok(request.send().await) }).await?;
        let out = match answer {
            Ok(out) => out,
            Err(err) => {
                let region = super::header(&err, BUCKET_REGION_HEADER).map(str::to_string);
                match (super::status(&err), region) {
                    (Some(301 | 400), Some(region)) if !redirected => {
                        crate::output::log(format!(
                            "the release bucket {} is in {region}, not in the step's region: reading it there",
                            url.bucket
                        ));
                        client = in_region(s3, &region);
                        redirected = true;
                        continue;
                    }
                    _ => return Err(download_error(err, &action())),
                }
            }
        };
        if info.bytes == 0 {
            info.etag = out.e_tag().map(str::to_string);
            info.version_id = out.version_id().map(str::to_string);
            total = out.content_length().and_then(|n| u64::try_from(n).ok());
            if let Some(total) = total {
                progress.set_total(total);
                if let Some(growing) = growing {
                    growing.expect(total);
                }
            }
        }
        let mut body = out.body;
        let broke = loop {
            let chunk = shutdown.guard(async { Ok(body.try_next().await) }).await?;
            match chunk {
                Ok(Some(bytes)) => {
                    file.write_all(&bytes)
                        .await
                        .map_err(|e| Error::io("cannot write", dest, e))?;
                    info.bytes += bytes.len() as u64;
                    progress.set(info.bytes);
                    if let Some(growing) = growing.filter(|_| info.bytes >= announced + ANNOUNCE) {
                        // Written, not only handed to tokio's writer, before a reader sees it.
                        file.flush()
                            .await
                            .map_err(|e| Error::io("cannot write", dest, e))?;
                        growing.advance(info.bytes);
                        announced = info.bytes;
                    }
                }
                Ok(None) if total.is_some_and(|t| info.bytes < t) => {
                    break format!(
                        "the answer ended at byte {} of {}",
                        info.bytes,
                        total.unwrap_or(0)
                    )
                }
                Ok(None) => break String::new(),
                Err(err) => break err.to_string(),
            }
        };
        if broke.is_empty() {
            break;
        }
        if resumes == DOWNLOAD_RESUMES {
            return Err(Error::Aws {
                operation: "GetObject",
                action: action(),
                message: format!(
                    "download broke off {} times, last at byte {}: {broke}",
                    resumes + 1,
                    info.bytes
                ),
                transient: true,
                source: None,
            });
        }
        resumes += 1;
        crate::output::log(format!(
            "download of {label} broke off at byte {} ({broke}); resuming ({resumes} of {DOWNLOAD_RESUMES})",
            info.bytes
        ));
        shutdown
            .sleep(Duration::from_millis(200 * u64::from(resumes)))
            .await?;
    }
    // flush first: tokio's sync_all does not report a failed last write (ENOSPC).
    file.flush()
        .await
        .map_err(|e| Error::io("cannot write", dest, e))?;
    file.sync_all()
        .await
        .map_err(|e| Error::io("cannot write", dest, e))?;
    if let Some(growing) = growing {
        growing.advance(info.bytes);
    }
    Ok(info)
}

fn download_error(err: SdkError<GetObjectError, super::HttpResponse>, action: &str) -> Error {
    let region = super::header(&err, BUCKET_REGION_HEADER).map(str::to_string);
    match (err.as_service_error(), super::status(&err), region) {
        (Some(GetObjectError::NoSuchKey(_)), _, _) => Error::aws(
            "GetObject",
            action,
            "no such object: check the key in the SSM parameter or --app-archive",
        ),
        (_, Some(301 | 400), Some(region)) => Error::aws(
            "GetObject",
            action,
            format!("the bucket is in {region} and did not answer there either"),
        ),
        (_, Some(404), _) => Error::aws("GetObject", action, "not found (no such bucket, key or version)"),
        (_, Some(412), _) => Error::aws(
            "GetObject",
            action,
            "the object changed while it was being downloaded (its ETag no longer matches): run again",
        ),
        _ => sdk_error("s3", "GetObject", action, err),
    }
}

/// How bundles are uploaded.
#[derive(Debug, Clone, Copy)]
pub struct UploadSettings {
    /// Bundles from this size on go up in parts.
    pub multipart_threshold: u64,
    /// The smallest part size; larger when the file needs it (see [`part_size`]).
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

/// S3's multipart limits: 10,000 parts of 5 MiB to 5 GiB
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html>).
pub const MAX_PARTS: u64 = 10_000;
pub const MIN_PART: u64 = 5 << 20;
pub const MAX_PART: u64 = 5 << 30;

/// The part size for a file of `size` bytes: at least `requested` (and 5 MiB), at least
/// ceil(size / 10,000) rounded up to a MiB, at most 5 GiB.
pub fn part_size(size: u64, requested: u64) -> Result<u64> {
    const MIB: u64 = 1 << 20;
    let needed = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    let part = requested.max(MIN_PART).max(needed);
    if part > MAX_PART {
        return Err(Error::Usage(format!(
            "the bundle is {size} bytes: more than S3 takes in one object (10,000 parts of 5 GiB)"
        )));
    }
    Ok(part)
}

/// A bundle to upload.
#[derive(Debug, Clone)]
pub struct Upload {
    pub bucket: String,
    pub key: String,
    pub path: PathBuf,
    pub size: u64,
    /// None: no encryption header, so that the bucket's default encryption (its KMS key and
    /// bucket key) applies; `aws:kms` without a key id would use the AWS managed `aws/s3` key.
    pub kms_key_id: Option<String>,
    /// Object metadata (x-amz-meta-*): the upload token, the source commit, and the bundle's
    /// SHA-256 when it is known before the upload starts.
    pub metadata: HashMap<String, String>,
    /// The release object whose bytes start the bundle: copied inside S3 (UploadPartCopy)
    /// instead of being sent again.
    pub copy_from: Option<CopySource>,
}

/// The first `len` bytes of an object, to copy server-side, pinned to the version (and ETag)
/// that was downloaded and checked.
#[derive(Debug, Clone)]
pub struct CopySource {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    pub etag: Option<String>,
    pub len: u64,
}

impl CopySource {
    /// `x-amz-copy-source`: bucket/key, the key percent-encoded, and the version.
    fn header(&self) -> String {
        let mut key = String::new();
        for b in self.key.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                key.push(b as char);
            } else {
                key.push_str(&format!("%{b:02X}"));
            }
        }
        match &self.version_id {
            Some(v) => format!("{}/{key}?versionId={v}", self.bucket),
            None => format!("{}/{key}", self.bucket),
        }
    }
}

/// Where one part's bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PartSource {
    /// A byte range (inclusive end) of the copy source.
    Copy { first: u64, last: u64 },
    /// A range of the local bundle file.
    File { offset: u64, length: u64 },
}

/// The parts of an upload of `size` bytes whose first `copy` bytes come from the copy source:
/// copy parts of `part` bytes (a short remainder joins the one before: every part but the last
/// is at least 5 MiB), then file parts.
pub(super) fn plan_parts(size: u64, part: u64, copy: u64) -> Vec<PartSource> {
    let copy = if copy >= MIN_PART { copy.min(size) } else { 0 };
    let mut parts = Vec::new();
    let mut offset = 0;
    while offset < copy {
        let mut end = (offset + part).min(copy);
        if copy - end < MIN_PART && end - offset + (copy - end) <= MAX_PART {
            end = copy;
        }
        parts.push(PartSource::Copy {
            first: offset,
            last: end - 1,
        });
        offset = end;
    }
    while offset < size || parts.is_empty() {
        let length = part.min(size - offset);
        parts.push(PartSource::File { offset, length });
        offset += length;
        if length == 0 {
            break;
        }
    }
    parts
}

impl Upload {
    /// What an upload error says it could not do.
    pub(super) fn failure(&self) -> String {
        format!("cannot upload bundle to s3://{}/{}", self.bucket, self.key)
    }

    fn encryption(&self) -> Option<ServerSideEncryption> {
        self.kms_key_id
            .as_ref()
            .map(|_| ServerSideEncryption::AwsKms)
    }

    fn token(&self) -> Option<&str> {
        self.metadata.get(UPLOAD_TOKEN_METADATA).map(String::as_str)
    }
}

/// The metadata key of the bundle's SHA-256, when it is known before the upload starts (an
/// upload that starts while the release still arrives does not know it: the deployment's
/// description carries it then, and always).
pub const SHA256_METADATA: &str = "sha256";
/// The metadata key of a token unique to one upload: an object whose CompleteMultipartUpload
/// or PutObject answer was lost is recognised as this upload's by it.
pub const UPLOAD_TOKEN_METADATA: &str = "upload-token";

/// A token no other upload has: this process, this instant.
pub fn upload_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}-{nanos:x}", std::process::id())
}

/// A bundle this run uploaded: the only handle that can delete it.
#[derive(Debug)]
pub struct Uploaded {
    bucket: String,
    key: String,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    /// How long S3 took to answer CompleteMultipartUpload (multipart uploads only): where
    /// S3 joins the parts, which no byte the tool sends can shorten.
    pub completing: Option<std::time::Duration>,
}

impl Uploaded {
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// `s3://bucket/key`.
    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// Deletes exactly the version this run wrote (no delete marker in a versioned bucket).
    pub async fn discard(self, s3: &aws_sdk_s3::Client) -> Result<()> {
        delete_version(s3, &self.bucket, &self.key, self.version_id.as_deref()).await
    }
}

const CONTENT_TYPE: &str = "application/octet-stream";
/// Every bundle is tagged from its upload on, so that one whose deployment's end is never
/// seen (`--no-wait`, a timeout, an interruption) still expires.
const PENDING_TAGGING: &str = "invisible-pipeline-status=Pending";

async fn delete_version(
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
                "s3",
                "DeleteObject",
                format!("cannot delete unused bundle s3://{bucket}/{key}"),
                err,
            )
        })?;
    Ok(())
}

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

/// Starts a multipart upload of `up` (SSE-KMS, metadata, the Pending tag); its upload id.
pub(super) async fn create_multipart(s3: &aws_sdk_s3::Client, up: &Upload) -> Result<String> {
    let action = || up.failure();
    let created = s3
        .create_multipart_upload()
        .bucket(&up.bucket)
        .key(&up.key)
        .set_server_side_encryption(up.encryption())
        .set_ssekms_key_id(up.kms_key_id.clone())
        .content_type(CONTENT_TYPE)
        .set_metadata(Some(up.metadata.clone()))
        .tagging(PENDING_TAGGING)
        // Every part is sent with its CRC-32, and "this checksum algorithm must be the same
        // for all parts and it match the checksum value supplied in the CreateMultipartUpload
        // request" (API reference, UploadPart). Left out, S3 answers CompleteMultipartUpload
        // with InvalidPart (seen with the SDKs' default part checksums since 2025).
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .map_err(|err| sdk_error("s3", "CreateMultipartUpload", action(), err))?;
    Ok(created
        .upload_id()
        .ok_or_else(|| {
            Error::aws(
                "CreateMultipartUpload",
                action(),
                "CreateMultipartUpload returned no upload id",
            )
        })?
        .to_string())
}

/// Uploads with SSE-KMS; in parts, in parallel, from `settings.multipart_threshold` on. On any
/// failure, and on SIGINT/SIGTERM, a multipart upload is aborted (no orphan parts, no object)
/// and an object that landed after all is deleted by its version. With `ahead`, the upload
/// it started goes on: its parts that hold the bundle's bytes are kept, the others sent (a
/// part sent again under the same number replaces the earlier one).
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    up: &Upload,
    settings: UploadSettings,
    shutdown: &Shutdown,
    ahead: Option<super::ahead::Ahead>,
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
                crate::output::log(format!("warning: {err}"));
            }
        }
        return result;
    }
    let (upload_id, mut part, sent) = match ahead {
        Some(ahead) => (ahead.upload_id, ahead.part, ahead.sent),
        None => (
            shutdown.guard(create_multipart(s3, up)).await?,
            part_size(up.size, settings.part_size)?,
            Vec::new(),
        ),
    };
    let copy = up.copy_from.as_ref().map_or(0, |c| c.len);
    // The copy/file split can add a part: grow the parts a MiB at a time to stay in 10,000
    // (parts sent ahead fix the size: the plan keeps them only where it did not grow).
    let mut parts = plan_parts(up.size, part, copy);
    while parts.len() as u64 > MAX_PARTS && part < MAX_PART {
        part += 1 << 20;
        parts = plan_parts(up.size, part, copy);
    }
    // Parts sent ahead that the plan does not list (a bundle smaller than the release) are
    // left out of CompleteMultipartUpload: "only after you either complete or abort multipart
    // upload, Amazon S3 frees up the parts storage" (S3 API reference, UploadPart), so they
    // cost nothing once the upload is complete.
    let done = super::ahead::reusable(&parts, &sent);
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
    let err = match outcome {
        Ok(done) => return Ok(done),
        Err(err) => err,
    };
    let aborted = s3
        .abort_multipart_upload()
        .bucket(&up.bucket)
        .key(&up.key)
        .upload_id(&upload_id)
        .send()
        .await;
    match aborted {
        Ok(_) => Err(err),
        // The upload is gone: CompleteMultipartUpload went through after all and its answer
        // was lost. The object exists: if it is ours (its upload token), it is the
        // upload's result; after a signal it is removed, by its version.
        Err(abort_err)
            if abort_err
                .as_service_error()
                .is_some_and(|e| e.is_no_such_upload()) =>
        {
            if !matches!(err, Error::Interrupted(_)) {
                if let Some(done) = completed_after_all(s3, up).await {
                    crate::output::log(format!(
                        "CompleteMultipartUpload failed ({err}), but the bundle is complete in S3: going on"
                    ));
                    return Ok(done);
                }
            }
            if let Err(cleanup) = remove_if_ours(s3, up).await {
                crate::output::log(format!("warning: {cleanup}"));
            }
            Err(err)
        }
        Err(abort_err) if matches!(err, Error::Interrupted(_)) => {
            crate::output::log(format!(
                "warning: aborting multipart upload {upload_id} failed ({}): the bucket's lifecycle rule removes it within a day",
                sdk_error("s3", "AbortMultipartUpload", "abort", abort_err)
            ));
            Err(err)
        }
        Err(abort_err) => Err(Error::aws(
            "AbortMultipartUpload",
            up.failure(),
            format!(
                "{err}; and aborting multipart upload {upload_id} failed too ({}): the bucket's lifecycle rule removes it within a day",
                sdk_error("s3", "AbortMultipartUpload", "abort", abort_err)
            ),
        )),
    }
}

/// The CRC-32 of a part, as S3's `x-amz-checksum-crc32` header wants it (base64 of the
/// big-endian value). Given as a header, the SDK sends the body as it is; left to the SDK, a
/// file body goes as an `aws-chunked` stream with the checksum in a trailer, which S3 decodes
/// for free but an emulator decodes slowly. S3 checks it either way
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html>).
async fn file_crc32(path: &Path, offset: u64, length: u64) -> Result<String> {
    let owned = path.to_path_buf();
    let crc = tokio::task::spawn_blocking(move || -> std::io::Result<u32> {
        use std::io::{Read, Seek};
        let mut file = std::fs::File::open(&owned)?;
        file.seek(std::io::SeekFrom::Start(offset))?;
        let mut crc = flate2::Crc::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut left = length;
        while left > 0 {
            let n = file.read(&mut buf[..left.min(1 << 20) as usize])?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            crc.update(&buf[..n]);
            left -= n as u64;
        }
        Ok(crc.sum())
    })
    .await
    .map_err(|e| Error::io("cannot read", path, std::io::Error::other(e)))?
    .map_err(|e| Error::io("cannot read", path, e))?;
    Ok(aws_smithy_types::base64::encode(crc.to_be_bytes()))
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
        .tagging(PENDING_TAGGING)
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

/// `length` bytes of a file from `offset`.
#[derive(Debug, Clone, Copy)]
pub(super) struct FileRange<'a> {
    pub path: &'a Path,
    pub offset: u64,
    pub length: u64,
}

/// UploadPart of a file range, with its CRC-32: the part as CompleteMultipartUpload lists it,
/// its ETag and that CRC-32. The upload was created with the CRC32 algorithm, so S3 wants each
/// part's checksum listed too ("The upload was created using a crc32 checksum. The complete
/// request must include the checksum for each part"; API reference, CompletedPart).
pub(super) async fn send_file_part(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    number: i32,
    file: FileRange<'_>,
    action: &str,
) -> Result<CompletedPart> {
    let FileRange {
        path,
        offset,
        length,
    } = file;
    let crc = file_crc32(path, offset, length).await?;
    let body = ByteStream::read_from()
        .path(path)
        .offset(offset)
        .length(Length::Exact(length))
        .build()
        .await
        .map_err(|e| Error::io("cannot read", path, std::io::Error::other(e)))?;
    let out = s3
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(number)
        .body(body)
        .checksum_crc32(&crc)
        .send()
        .await
        .map_err(|err| sdk_error("s3", "UploadPart", action, err))?;
    Ok(CompletedPart::builder()
        .part_number(number)
        .set_e_tag(out.e_tag().map(str::to_string))
        .checksum_crc32(out.checksum_crc32().unwrap_or(&crc))
        .build())
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
    let progress = crate::progress::Progress::start(
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
            let (s3, bucket, key, path, upload_id, source) = (
                s3.clone(),
                up.bucket.clone(),
                up.key.clone(),
                up.path.clone(),
                upload_id.to_string(),
                up.copy_from.clone(),
            );
            let number = i32::try_from(next + 1).expect("at most 10000 parts");
            let what = plan[next];
            tasks.spawn(async move {
                let action = format!("cannot upload part {number} of bundle s3://{bucket}/{key}");
                let part = match what {
                    PartSource::Copy { first, last } => {
                        let source = source.expect("copy parts have a source");
                        let out = s3
                            .upload_part_copy()
                            .bucket(&bucket)
                            .key(&key)
                            .upload_id(&upload_id)
                            .part_number(number)
                            .copy_source(source.header())
                            .copy_source_range(format!("bytes={first}-{last}"))
                            .set_copy_source_if_match(source.etag.clone())
                            .send()
                            .await
                            .map_err(|err| {
                                sdk_error("s3", "UploadPartCopy", action.clone(), err)
                            })?;
                        // S3 computes the CRC-32 of a copied part of a CRC32 upload and
                        // returns it (API reference, CopyPartResult).
                        let result = out.copy_part_result();
                        CompletedPart::builder()
                            .part_number(number)
                            .set_e_tag(result.and_then(|r| r.e_tag()).map(str::to_string))
                            .set_checksum_crc32(
                                result.and_then(|r| r.checksum_crc32()).map(str::to_string),
                            )
                            .build()
                    }
                    PartSource::File { offset, length } => {
                        let file = FileRange {
                            path: &path,
                            offset,
                            length,
                        };
                        send_file_part(&s3, &bucket, &key, &upload_id, number, file, &action)
                            .await?
                    }
                };
                Ok::<_, Error>(part)
            });
            next += 1;
        }
        match tasks.join_next().await {
            Some(joined) => {
                let part = joined.map_err(|e| {
                    Error::aws(
                        "UploadPart",
                        up.failure(),
                        format!("upload task failed: {e}"),
                    )
                })??;
                let sent = length(part.part_number());
                progress.advance(sent);
                crate::output::detail(format!(
                    "part {} of s3://{}/{} done ({sent} bytes)",
                    part.part_number().unwrap_or_default(),
                    up.bucket,
                    up.key
                ));
                parts.push(part);
            }
            None => break,
        }
    }
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

/// What became of a deployment's bundle: [`head_version`] on its version, gone when S3 says
/// so; other failures are reported, not raised, so that one unreadable bundle does not hide
/// the history.
pub async fn bundle_state(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> crate::history::BundleState {
    use crate::history::BundleState;
    match head_version(s3, bucket, key, version_id).await {
        Ok(Some(found)) => BundleState::Present {
            sha256: found.sha256,
        },
        Ok(None) => BundleState::Expired,
        Err(err) => BundleState::Unknown {
            reason: match err {
                Error::Aws { message, .. } => message,
                other => other.to_string(),
            },
        },
    }
}

/// An object version that exists: its ETag and size, and the SHA-256 recorded when it was
/// built (its `sha256` metadata), if any.
#[derive(Debug, Clone)]
pub struct Found {
    pub etag: String,
    pub size: u64,
    pub sha256: Option<String>,
}

/// An object version, or `None` when it is gone (404: no such key or version; 405: the
/// version is a delete marker), as HeadObject answers
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html>).
pub async fn head_version(
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
        Err(err) if matches!(super::status(&err), Some(404 | 405)) => Ok(None),
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
pub const MAX_COPY_OBJECT: u64 = 5 << 30;

/// Copies a bundle into another bucket (another region: CodeDeploy needs the revision in the
/// instances' region) with CopyObject, pinned to the source's version and ETag; its metadata
/// comes along, its tags are replaced by `Pending`, and it is encrypted as `deploy` encrypts.
/// The copy is this run's: the returned handle can remove it.
pub async fn copy_bundle(
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
        .tagging(PENDING_TAGGING)
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
pub async fn sha256_of(
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
    Ok(crate::bundle::hex(&hasher.finalize()))
}

/// The object tag that records a bundle's place in its life, for the bucket's lifecycle
/// rules: `Pending` from the upload on (its deployment's end was not seen), then the
/// deployment's final status (`Failed`, `Stopped`, `Succeeded`), and [`LIVE`] for the bundles
/// of the two latest successful deployments of the group, which no rule expires.
pub const STATUS_TAG: &str = "invisible-pipeline-status";
/// The tag value set at upload.
pub const PENDING: &str = "Pending";
/// The tag value of the live bundle and of the one a rollback goes back to.
pub const LIVE: &str = "Live";

/// Tags the bundle with the final status of its deployment.
pub async fn tag_status(s3: &aws_sdk_s3::Client, bundle: &Uploaded, status: &str) -> Result<()> {
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
pub async fn tag(
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
                "s3",
                "PutObjectTagging",
                format!("cannot tag bundle s3://{bucket}/{key}"),
                err,
            )
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_parts_are_at_least_five_mib_but_the_last_upload() {
        const MIB: u64 = 1 << 20;
        // 23 MiB copied in 8 MiB parts: 8, then 15 (the 7 MiB left would do, but 8 + 7 < 16
        // leaves no short one) ... every copy part >= 5 MiB, then the file tail.
        let parts = plan_parts(24 * MIB, 8 * MIB, 23 * MIB);
        let mut covered = 0;
        for (i, p) in parts.iter().enumerate() {
            match *p {
                PartSource::Copy { first, last } => {
                    assert_eq!(first, covered);
                    assert!(last + 1 - first >= MIN_PART, "{parts:?}");
                    covered = last + 1;
                }
                PartSource::File { offset, length } => {
                    assert_eq!(offset, covered);
                    assert!(i == parts.len() - 1 || length >= MIN_PART);
                    covered += length;
                }
            }
        }
        assert_eq!(covered, 24 * MIB);
        // A remainder under 5 MiB joins the part before it.
        assert_eq!(
            plan_parts(20 * MIB, 8 * MIB, 19 * MIB)[..2],
            [
                PartSource::Copy {
                    first: 0,
                    last: 8 * MIB - 1
                },
                PartSource::Copy {
                    first: 8 * MIB,
                    last: 19 * MIB - 1
                },
            ]
        );
        // Less than 5 MiB to copy: no copy at all.
        assert!(plan_parts(6 * MIB, 5 * MIB, 4 * MIB)
            .iter()
            .all(|p| matches!(p, PartSource::File { .. })));
    }

    /// S3's example: the CRC-32 of "123456789" is 0xCBF43926, sent as base64 of its
    /// big-endian bytes; a wrong value is a 400 BadDigest.
    #[tokio::test]
    async fn part_checksum_is_the_crc32_s3_checks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part");
        std::fs::write(&path, b"xx123456789yy").unwrap();
        assert_eq!(file_crc32(&path, 2, 9).await.unwrap(), "y/Q5Jg==");
        assert!(file_crc32(&path, 2, 20).await.is_err());
    }

    #[test]
    fn part_size_keeps_within_ten_thousand_parts() {
        const MIB: u64 = 1 << 20;
        assert_eq!(part_size(100 * MIB, 8 * MIB).unwrap(), 8 * MIB);
        assert_eq!(part_size(100 * MIB, MIB).unwrap(), 5 * MIB);
        // 100 GiB in 8 MiB parts would be 12,800 parts.
        let size = 100 << 30;
        let part = part_size(size, 8 * MIB).unwrap();
        assert_eq!(part, 11 * MIB);
        assert!(size.div_ceil(part) <= MAX_PARTS);
        assert!(part_size(MAX_PARTS * MAX_PART, 8 * MIB).is_ok());
        assert!(part_size(MAX_PARTS * MAX_PART + 1, 8 * MIB).is_err());
    }
}
