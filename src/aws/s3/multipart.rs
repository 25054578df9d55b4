//! What an upload is made of, shared by the upload and by the parts sent ahead: the settings,
//! the bundle's object and its metadata, the part plan within S3's limits, and the calls that
//! start a multipart upload and send one part with its CRC-32.

use crate::aws::sdk_error;
use crate::base::error::{Error, Result};
use crate::base::shutdown::Shutdown;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedPart, ServerSideEncryption};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
pub(crate) const MAX_PARTS: u64 = 10_000;

pub(crate) const MIN_PART: u64 = 5 << 20;

pub(crate) const MAX_PART: u64 = 5 << 30;

/// The part size for a file of `size` bytes: at least `requested` (and 5 MiB), at least
/// ceil(size / 10,000) rounded up to a MiB, at most 5 GiB.
pub(crate) fn part_size(size: u64, requested: u64) -> Result<u64> {
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
pub(crate) struct Upload {
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
pub(crate) struct CopySource {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    pub etag: Option<String>,
    pub len: u64,
}

impl CopySource {
    /// `x-amz-copy-source`: bucket/key, the key percent-encoded, and the version.
    pub(super) fn header(&self) -> String {
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

impl Upload {
    /// What an upload error says it could not do.
    pub(super) fn failure(&self) -> String {
        format!("cannot upload bundle to s3://{}/{}", self.bucket, self.key)
    }

    pub(super) fn encryption(&self) -> Option<ServerSideEncryption> {
        self.kms_key_id
            .as_ref()
            .map(|_| ServerSideEncryption::AwsKms)
    }

    pub(super) fn token(&self) -> Option<&str> {
        self.metadata.get(UPLOAD_TOKEN_METADATA).map(String::as_str)
    }
}

/// The metadata key of the bundle's SHA-256, when it is known before the upload starts (an
/// upload that starts while the release still arrives does not know it: the deployment's
/// description carries it then, and always).
pub(crate) const SHA256_METADATA: &str = "sha256";

/// The metadata key of a token unique to one upload: an object whose CompleteMultipartUpload
/// or PutObject answer was lost is recognised as this upload's by it.
pub(crate) const UPLOAD_TOKEN_METADATA: &str = "upload-token";

/// A token no other upload has: this process, this instant.
pub(crate) fn upload_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}-{nanos:x}", std::process::id())
}

/// A bundle this run uploaded: the only handle that can delete it.
#[derive(Debug)]
pub(crate) struct Uploaded {
    pub(super) bucket: String,
    pub(super) key: String,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    /// How long S3 took to answer CompleteMultipartUpload (multipart uploads only): where
    /// S3 joins the parts, which no byte the tool sends can shorten.
    pub completing: Option<std::time::Duration>,
}

impl Uploaded {
    pub(crate) fn bucket(&self) -> &str {
        &self.bucket
    }

    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// `s3://bucket/key`.
    pub(crate) fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// Deletes exactly the version this run wrote (no delete marker in a versioned bucket).
    pub(crate) async fn discard(self, s3: &aws_sdk_s3::Client) -> Result<()> {
        delete_version(s3, &self.bucket, &self.key, self.version_id.as_deref()).await
    }
}

pub(super) const CONTENT_TYPE: &str = "application/octet-stream";

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
        .tagging(crate::aws::s3::status::pending_tagging())
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

/// How long a CreateMultipartUpload under way is waited for after a signal.
const CREATE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// [`create_multipart`], not cut off by a signal: S3 may have created the upload before its
/// answer arrives, and an upload whose id the run never learns cannot be aborted. After a
/// signal the answer is waited for a little longer ([`CREATE_GRACE`]) and the upload it names
/// aborted; the run then ends interrupted.
pub(super) async fn create_multipart_settled(
    s3: &aws_sdk_s3::Client,
    up: &Upload,
    shutdown: &Shutdown,
) -> Result<String> {
    if let Some(name) = shutdown.fired() {
        return Err(Error::Interrupted(name));
    }
    let create = create_multipart(s3, up);
    tokio::pin!(create);
    let name = tokio::select! {
        created = &mut create => return created,
        name = shutdown.wait() => name,
    };
    if let Ok(Ok(upload_id)) = tokio::time::timeout(CREATE_GRACE, create).await {
        abort_upload(s3, &up.bucket, &up.key, &upload_id).await;
    }
    Err(Error::Interrupted(name))
}

/// Aborts a multipart upload; a failure is only a warning (the bucket's lifecycle rule removes
/// incomplete uploads).
pub(super) async fn abort_upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
) {
    let aborted = s3
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await;
    if let Err(err) = aborted {
        crate::base::term::log(format!(
            "warning: aborting multipart upload {upload_id} failed ({}): the bucket's lifecycle rule removes it within a day",
            sdk_error("s3", "AbortMultipartUpload", "abort", err)
        ));
    }
}

/// The CRC-32 of a part, as S3's `x-amz-checksum-crc32` header wants it (base64 of the
/// big-endian value). Given as a header, the SDK sends the body as it is; left to the SDK, a
/// file body goes as an `aws-chunked` stream with the checksum in a trailer, which S3 decodes
/// for free but an emulator decodes slowly. S3 checks it either way
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html>).
pub(super) async fn file_crc32(path: &Path, offset: u64, length: u64) -> Result<String> {
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

pub(super) async fn delete_version(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn copy_parts_are_at_least_five_mib_but_the_last_upload() {
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
    pub(super) async fn part_checksum_is_the_crc32_s3_checks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part");
        std::fs::write(&path, b"xx123456789yy").unwrap();
        assert_eq!(file_crc32(&path, 2, 9).await.unwrap(), "y/Q5Jg==");
        assert!(file_crc32(&path, 2, 20).await.is_err());
    }

    #[test]
    pub(super) fn part_size_keeps_within_ten_thousand_parts() {
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
