//! The bundle's upload, started while the release still arrives (`--upload-mode put`).
//!
//! A bundle begins with the release's own bytes, up to just before its end-of-archive (see
//! `gzsplice`), so its leading parts can go to S3 as soon as the download has written them:
//! the upload overlaps the download and the scan instead of following them. How many bytes
//! the two share is known only when the scan ends (`release_bytes_kept`): parts sent beyond
//! that are sent again from the bundle under the same number, which replaces them
//! (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html>: "If you upload a
//! new part using the same part number as a previously uploaded part, the previously
//! uploaded part is overwritten").
//!
//! Whatever ends the run before the upload completes (a failed download or check, a
//! superseded run, a signal) aborts the multipart upload: no parts are left behind.

use crate::aws::s3::multipart::{
    self as s3, FileRange, PartSource, Upload, UploadSettings, MAX_PARTS, MIN_PART,
};
use crate::base::error::Error;
use crate::base::growing::Growing;
use crate::base::shutdown::Shutdown;
use aws_sdk_s3::types::CompletedPart;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// Where the bundle goes: everything its upload needs before the bundle exists.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub bucket: String,
    /// The object key for a `tar` bundle and for a `tgz` one: the release's first bytes say
    /// which.
    pub tar_key: String,
    pub tgz_key: String,
    pub kms_key_id: Option<String>,
    /// Metadata known before the bundle is: the upload token, the commit.
    pub metadata: HashMap<String, String>,
}

/// How far the parts sent ahead may reach, as the scan learns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The scan is still running: every full part the download has written.
    Unknown,
    /// The bundle's first `n` bytes are the release's.
    UpTo(u64),
    /// No bundle will be uploaded (the check or the download failed).
    Stop,
}

/// A part sent ahead: the release's bytes `offset..offset + length`.
#[derive(Debug, Clone)]
pub(super) struct Sent {
    number: i32,
    offset: u64,
    length: u64,
    /// As CompleteMultipartUpload lists it: ETag and CRC-32.
    done: CompletedPart,
}

/// A multipart upload started ahead of the bundle, and the parts it holds.
#[derive(Debug)]
pub(crate) struct Ahead {
    pub(super) upload_id: String,
    bucket: String,
    key: String,
    pub(super) part: u64,
    pub(super) sent: Vec<Sent>,
}

impl Ahead {
    /// The key the upload writes.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Bytes sent ahead that the bundle keeps.
    pub(crate) fn bytes(&self) -> u64 {
        self.sent.iter().map(|s| s.length).sum()
    }

    /// Keeps the parts that lie in the bundle's first `kept` bytes (the release's own).
    pub(crate) fn keeping(mut self, kept: u64) -> Self {
        self.sent.retain(|s| s.offset + s.length <= kept);
        self
    }

    /// Aborts the upload; a failure is only a warning (the bucket's lifecycle rule removes
    /// incomplete uploads).
    pub(crate) async fn abort(self, s3: &aws_sdk_s3::Client) {
        s3::abort_upload(s3, &self.bucket, &self.key, &self.upload_id).await;
    }
}

/// The parts of `plan` (by index) that a part sent ahead already holds: same number, same
/// bytes.
pub(super) fn reusable(plan: &[PartSource], sent: &[Sent]) -> HashMap<usize, CompletedPart> {
    plan.iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let PartSource::File { offset, length } = *p else {
                return None;
            };
            let s = sent
                .iter()
                .find(|s| s.number as usize == i + 1 && s.offset == offset && s.length == length)?;
            Some((i, s.done.clone()))
        })
        .collect()
}

/// Why sending ahead stopped early.
enum Stopped {
    /// The run is ending (the download or check failed): nothing to report here.
    Quietly,
    Failed(Error),
}

/// Sends the release's full parts as the download writes them, up to the limit the scan
/// sets. `None` when nothing was started (a release under the multipart threshold), when
/// the run stopped it, or when it failed: the bundle is then uploaded after it is built, as
/// without this step, and the failure is said.
pub(crate) async fn send(
    s3: aws_sdk_s3::Client,
    target: Target,
    release: PathBuf,
    growing: Arc<Growing>,
    mut limit: watch::Receiver<Limit>,
    settings: UploadSettings,
    shutdown: Shutdown,
) -> Option<Ahead> {
    let first = settings.multipart_threshold.max(MIN_PART);
    let seen = tokio::select! {
        seen = growing.reached(first) => seen.ok()?,
        _ = limit.wait_for(|l| *l == Limit::Stop) => return None,
    };
    let size = seen.total.unwrap_or(seen.written).max(seen.written);
    if size < first || seen.written < first {
        return None;
    }
    let gzip = {
        use std::io::Read;
        let mut magic = [0u8; 2];
        let mut file = std::fs::File::open(&release).ok()?;
        file.read_exact(&mut magic).ok()?;
        magic == [0x1f, 0x8b]
    };
    // Room for the CodeDeploy files: the part size holds for a bundle twice the release.
    let part = s3::part_size(size.saturating_mul(2), settings.part_size).ok()?;
    let up = Upload {
        bucket: target.bucket,
        key: if gzip { target.tgz_key } else { target.tar_key },
        path: release.clone(),
        size,
        kms_key_id: target.kms_key_id,
        metadata: target.metadata,
        copy_from: None,
    };
    let upload_id = match s3::create_multipart_settled(&s3, &up, &shutdown).await {
        Ok(id) => id,
        Err(err) => {
            if !matches!(err, Error::Interrupted(_)) {
                crate::base::term::log(format!(
                    "could not start the upload during the download ({err}): uploading once the bundle is built"
                ));
            }
            return None;
        }
    };
    let mut ahead = Ahead {
        upload_id,
        bucket: up.bucket.clone(),
        key: up.key.clone(),
        part,
        sent: Vec::new(),
    };
    match send_parts(
        &s3, &up, &mut ahead, &growing, &mut limit, settings, &shutdown,
    )
    .await
    {
        Ok(()) => Some(ahead),
        Err(stopped) => {
            if let Stopped::Failed(err) = stopped {
                crate::base::term::log(format!(
                    "uploading during the download failed ({err}): uploading once the bundle is built"
                ));
            }
            ahead.abort(&s3).await;
            None
        }
    }
}

async fn send_parts(
    s3: &aws_sdk_s3::Client,
    up: &Upload,
    ahead: &mut Ahead,
    growing: &Growing,
    limit: &mut watch::Receiver<Limit>,
    settings: UploadSettings,
    shutdown: &Shutdown,
) -> Result<(), Stopped> {
    let part = ahead.part;
    let mut tasks = tokio::task::JoinSet::new();
    let mut next = 0u64;
    let mut number = 1i32;
    loop {
        let now = *limit.borrow_and_update();
        if now == Limit::Stop {
            return Err(Stopped::Quietly);
        }
        let seen = growing.reached(0).await.map_err(|_| Stopped::Quietly)?;
        let reach = match now {
            Limit::UpTo(kept) => kept.min(seen.written),
            _ => seen.written,
        };
        while tasks.len() < settings.concurrency.max(1)
            && next + part <= reach
            && u64::try_from(number).is_ok_and(|n| n <= MAX_PARTS)
        {
            tasks.spawn(send_part(s3, up, &ahead.upload_id, number, next, part));
            next += part;
            number += 1;
        }
        let more = match now {
            Limit::UpTo(kept) => next + part <= kept,
            _ => !(seen.done && next + part > seen.written),
        } && u64::try_from(number).is_ok_and(|n| n <= MAX_PARTS);
        if tasks.is_empty() && !more {
            return Ok(());
        }
        let waiting_for_bytes = more && next + part > seen.written;
        tokio::select! {
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                let (end, sent) = joined.map_err(|e| {
                    Stopped::Failed(Error::aws(
                        "UploadPart",
                        up.failure(),
                        format!("upload task failed: {e}"),
                    ))
                })?;
                match sent {
                    Ok(sent) => ahead.sent.push(sent),
                    // A part past the bundle's own bytes is sent again from the bundle anyway;
                    // its read fails when the release file, which becomes the bundle, is cut
                    // under it.
                    Err(_) if matches!(*limit.borrow(), Limit::UpTo(kept) if end > kept) => {}
                    Err(err) => return Err(Stopped::Failed(err)),
                }
            }
            seen = growing.reached(next + part), if waiting_for_bytes => {
                seen.map_err(|_| Stopped::Quietly)?;
            }
            changed = limit.changed() => {
                changed.map_err(|_| Stopped::Quietly)?;
            }
            // The download ends with the signal and says so.
            _ = shutdown.wait() => return Err(Stopped::Quietly),
        }
    }
}

/// Sends part `number`: the `length` bytes of the file at `offset`; with the offset its bytes
/// end at.
fn send_part(
    s3: &aws_sdk_s3::Client,
    up: &Upload,
    upload_id: &str,
    number: i32,
    offset: u64,
    length: u64,
) -> impl std::future::Future<Output = (u64, Result<Sent, Error>)> + Send + 'static {
    let (s3, bucket, key, upload_id, path) = (
        s3.clone(),
        up.bucket.clone(),
        up.key.clone(),
        upload_id.to_string(),
        up.path.clone(),
    );
    async move {
        let action = format!("cannot upload part {number} of bundle s3://{bucket}/{key}");
        let file = FileRange {
            path: &path,
            offset,
            length,
        };
        let sent = s3::send_file_part(&s3, &bucket, &key, &upload_id, number, file, &action)
            .await
            .map(|done| Sent {
                number,
                offset,
                length,
                done,
            });
        (offset + length, sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn sent(number: i32, offset: u64, length: u64) -> Sent {
        Sent {
            number,
            offset,
            length,
            done: CompletedPart::builder()
                .part_number(number)
                .e_tag(format!("\"e{number}\""))
                .checksum_crc32(format!("c{number}"))
                .build(),
        }
    }

    #[test]
    fn only_parts_holding_the_bundle_s_own_bytes_are_reused() {
        let ahead = Ahead {
            upload_id: "u".into(),
            bucket: "b".into(),
            key: "k".into(),
            part: 5 * MIB,
            sent: vec![
                sent(1, 0, 5 * MIB),
                sent(2, 5 * MIB, 5 * MIB),
                sent(3, 10 * MIB, 5 * MIB),
            ],
        };
        // The bundle keeps the release's first 12 MiB: part 3 (10..15 MiB) is not its bytes.
        let ahead = ahead.keeping(12 * MIB);
        assert_eq!(ahead.bytes(), 10 * MIB);
        let plan = s3::plan_parts(13 * MIB, 5 * MIB, 0);
        let reused = reusable(&plan, &ahead.sent);
        assert_eq!(reused.len(), 2);
        assert_eq!(reused[&0].e_tag(), Some("\"e1\""));
        assert_eq!(reused[&1].part_number(), Some(2));
        assert!(
            !reused.contains_key(&2),
            "part 3 is sent again from the bundle"
        );

        // A plan with other part boundaries reuses nothing.
        let other = s3::plan_parts(13 * MIB, 6 * MIB, 0);
        assert!(reusable(&other, &ahead.sent).is_empty());
        // A re-encoded bundle keeps none of the release's bytes.
        assert_eq!(ahead.keeping(0).bytes(), 0);
    }
}
