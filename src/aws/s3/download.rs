//! The application archive's download, resumed where a connection broke, written to a file
//! that the archive check follows as it grows.

use crate::aws::s3::region::{in_region, BUCKET_REGION_HEADER};
use crate::aws::s3url::S3Url;
use crate::aws::sdk_error;
use crate::base::error::{Error, Result};
use crate::base::growing::Growing;
use crate::base::progress::Progress;
use crate::base::shutdown::Shutdown;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// What S3 says of an object we read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectInfo {
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub bytes: u64,
}

/// How much more a download writes before it tells a reader of the file ([`Growing`]).
const ANNOUNCE: u64 = 1 << 20;

/// How often a broken download is resumed before the run gives up.
pub(crate) const DOWNLOAD_RESUMES: u32 = 5;

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
    let mut sink = Sink {
        file: tokio::fs::File::create(dest)
            .await
            .map_err(|e| Error::io("cannot create", dest, e))?,
        dest,
        growing,
        announced: 0,
        progress: Progress::start(format!("downloading {label}"), None),
    };
    let mut info = ObjectInfo::default();
    let mut total: Option<u64> = None;
    let mut resumes = 0u32;
    let mut redirected = false;
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
                let region = crate::aws::header(&err, BUCKET_REGION_HEADER).map(str::to_string);
                match (crate::aws::status(&err), region) {
                    (Some(301 | 400), Some(region)) if !redirected => {
                        crate::base::term::log(format!(
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
                sink.expect(total);
            }
        }
        let broke = sink.body(out.body, &mut info, total, shutdown).await?;
        if broke.is_empty() {
            break;
        }
        resumes += 1;
        resume_or_give_up(resumes, label, &info, &broke, shutdown).await?;
    }
    sink.finish(info.bytes).await?;
    Ok(info)
}

/// After the `resumes`th break (`broke`): waits a little before resuming, or gives up after
/// [`DOWNLOAD_RESUMES`] resumes.
async fn resume_or_give_up(
    resumes: u32,
    label: &str,
    info: &ObjectInfo,
    broke: &str,
    shutdown: &Shutdown,
) -> Result<()> {
    if resumes > DOWNLOAD_RESUMES {
        return Err(Error::Aws {
            operation: "GetObject",
            action: format!("cannot download application archive {label}"),
            message: format!(
                "download broke off {resumes} times, last at byte {}: {broke}",
                info.bytes
            ),
            transient: true,
            source: None,
        });
    }
    crate::base::term::log(format!(
        "download of {label} broke off at byte {} ({broke}); resuming ({resumes} of {DOWNLOAD_RESUMES})",
        info.bytes
    ));
    shutdown
        .sleep(Duration::from_millis(200 * u64::from(resumes)))
        .await
}

/// Where the download's bytes go: the file, the progress shown, and the reader that follows
/// the file as it grows.
struct Sink<'a> {
    file: tokio::fs::File,
    dest: &'a Path,
    growing: Option<&'a Growing>,
    /// Bytes the reader was last told of.
    announced: u64,
    progress: Progress,
}

impl Sink<'_> {
    /// The object's size, once an answer says it.
    fn expect(&self, total: u64) {
        self.progress.set_total(total);
        if let Some(growing) = self.growing {
            growing.expect(total);
        }
    }

    /// Writes one answer's body, from `info.bytes` on; returns why it broke off, or nothing
    /// when it ended complete.
    async fn body(
        &mut self,
        mut body: ByteStream,
        info: &mut ObjectInfo,
        total: Option<u64>,
        shutdown: &Shutdown,
    ) -> Result<String> {
        loop {
            let chunk = shutdown.guard(async { Ok(body.try_next().await) }).await?;
            match chunk {
                Ok(Some(bytes)) => {
                    self.write(&bytes).await?;
                    info.bytes += bytes.len() as u64;
                    self.progress.set(info.bytes);
                    if let Some(growing) = self
                        .growing
                        .filter(|_| info.bytes >= self.announced + ANNOUNCE)
                    {
                        // Written, not only handed to tokio's writer, before a reader sees it.
                        self.flush().await?;
                        growing.advance(info.bytes);
                        self.announced = info.bytes;
                    }
                }
                Ok(None) if total.is_some_and(|t| info.bytes < t) => {
                    return Ok(format!(
                        "the answer ended at byte {} of {}",
                        info.bytes,
                        total.unwrap_or(0)
                    ))
                }
                Ok(None) => return Ok(String::new()),
                Err(err) => return Ok(err.to_string()),
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .await
            .map_err(|e| Error::io("cannot write", self.dest, e))
    }

    async fn flush(&mut self) -> Result<()> {
        self.file
            .flush()
            .await
            .map_err(|e| Error::io("cannot write", self.dest, e))
    }

    /// The download is whole: on disk, and the reader told of its last bytes.
    async fn finish(mut self, bytes: u64) -> Result<()> {
        // flush first: tokio's sync_all does not report a failed last write (ENOSPC).
        self.flush().await?;
        self.file
            .sync_all()
            .await
            .map_err(|e| Error::io("cannot write", self.dest, e))?;
        if let Some(growing) = self.growing {
            growing.advance(bytes);
        }
        Ok(())
    }
}

fn download_error(err: SdkError<GetObjectError, crate::aws::HttpResponse>, action: &str) -> Error {
    let region = crate::aws::header(&err, BUCKET_REGION_HEADER).map(str::to_string);
    match (err.as_service_error(), crate::aws::status(&err), region) {
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
