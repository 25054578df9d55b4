//! The CodeBuild step: SSM → S3 → checked bundle → upload → CreateDeployment → follow it to
//! its end. The run's result is the deployment's result.
//!
//! Ordering between racing runs (two quick pushes, a push and a release) follows
//! CodePipeline's SUPERSEDED mode: every deployment made here carries its trigger time in
//! its description, and a run whose trigger is older than the newest deployment of the group
//! creates nothing and ends as `superseded`.

use crate::aws::codedeploy::NewDeployment;
use crate::aws::s3::ahead;
use crate::aws::s3::{self, ObjectInfo, Upload};
use crate::aws::s3url::S3Url;
use crate::aws::{ssm, Clients};
use crate::base::cancel::Cancel;
use crate::base::diag::Diagnostics;
use crate::base::error::{Error, Result};
use crate::base::growing::{FinishOnDrop, Growing};
use crate::base::shutdown::Shutdown;
use crate::bundle::writer::BundleType;
use crate::deployment::conclude::{conclude, keep_rollback_targets, BundleRef};
use crate::deployment::follow::follow;
use crate::deployment::group::{take_group, Group};
use crate::deployment::place::{place, NotPlaced, Placed};
use crate::deployment::{
    bundle_key, description_noting, ArchiveSource, DeployConfig, Outcome, StepTime, UploadMode,
};
use crate::revision::{self, BundleInfo};
use aws_smithy_types::DateTime;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The summary of a deploy run.
#[derive(Debug, Clone, Serialize)]
pub struct DeployOutcome {
    pub status: Outcome,
    /// The archive's location; for a SecureString parameter only the parameter's name.
    pub app_archive: String,
    pub app_archive_etag: Option<String>,
    pub app_archive_version_id: Option<String>,
    pub bundle: BundleInfo,
    pub revision: Option<String>,
    pub revision_etag: Option<String>,
    pub revision_version_id: Option<String>,
    /// Bytes of the bundle copied inside S3 from the release object rather than sent.
    pub bytes_copied_in_s3: u64,
    /// Bytes of the bundle sent while the release was still downloading (`--upload-mode put`):
    /// the release's leading parts, which start the bundle.
    pub bytes_sent_during_download: u64,
    pub deployment_id: Option<String>,
    pub final_status: Option<String>,
    pub superseded_by: Option<String>,
    pub steps: Vec<StepTime>,
    pub warnings: Diagnostics,
}

struct Timer {
    steps: Vec<StepTime>,
    started: Instant,
}

impl Timer {
    fn new() -> Self {
        Timer {
            steps: Vec::new(),
            started: Instant::now(),
        }
    }

    fn lap(&mut self, step: &'static str) {
        let now = Instant::now();
        self.steps.push(StepTime {
            step,
            seconds: (now - self.started).as_secs_f64(),
        });
        self.started = now;
    }

    /// Like [`Timer::lap`], with the last `tail` of the step counted as a step of its own.
    fn lap_split(&mut self, step: &'static str, tail: Option<(&'static str, Duration)>) {
        self.lap(step);
        if let Some((name, tail)) = tail {
            let last = self.steps.last_mut().expect("lap pushed a step");
            let tail = tail.as_secs_f64().min(last.seconds);
            last.seconds -= tail;
            self.steps.push(StepTime {
                step: name,
                seconds: tail,
            });
        }
    }
}

use crate::base::term::log;

/// Step: the artifact bucket must be in the instances' region (CodeDeploy's rule for EC2),
/// found out before any work.
async fn check_target(clients: &Clients, cfg: &DeployConfig, shutdown: &Shutdown) -> Result<()> {
    s3::check_bucket_region(
        &clients.artifact_s3,
        &cfg.bucket,
        &clients.deploy_region,
        shutdown,
    )
    .await
}

/// The application archive, on local disk.
struct Fetched {
    path: PathBuf,
    label: String,
    object: ObjectInfo,
    /// Where it was downloaded from (None for a local file).
    url: Option<S3Url>,
}

/// Where the release is: a local file, or an S3 object and how messages name it.
enum Located {
    Local(PathBuf),
    S3 { url: S3Url, label: String },
}

/// Step: find the release (parameter or location).
async fn locate_archive(
    clients: &Clients,
    cfg: &DeployConfig,
    shutdown: &Shutdown,
) -> Result<Located> {
    Ok(match &cfg.archive {
        ArchiveSource::Local(path) => Located::Local(path.clone()),
        ArchiveSource::S3(url) => Located::S3 {
            url: url.clone(),
            label: url.to_string(),
        },
        ArchiveSource::Parameter(name) => {
            let found = shutdown
                .guard(ssm::archive_location(&clients.ssm, name))
                .await?;
            if found.secret {
                log(format!(
                    "SSM parameter {name} (SecureString) names the release"
                ));
                Located::S3 {
                    url: found.url,
                    label: format!("SecureString parameter {name}"),
                }
            } else {
                log(format!("SSM parameter {name} names {}", found.url));
                Located::S3 {
                    label: found.url.to_string(),
                    url: found.url,
                }
            }
        }
    })
}

/// What checking and building produced.
type Built = (PathBuf, BundleInfo, Diagnostics);

/// Steps: fetch the release and check and build the bundle. A downloaded release is checked
/// as it arrives (the scan follows the download through [`Growing`]), so the two overlap;
/// the download's error wins over the scan's, which it causes.
async fn fetch_and_build(
    clients: &Clients,
    cfg: &DeployConfig,
    ahead: Option<ahead::Target>,
    shutdown: &Shutdown,
    timer: &mut Timer,
) -> Result<(Fetched, Built, Option<ahead::Ahead>)> {
    let (url, label) = match locate_archive(clients, cfg, shutdown).await? {
        Located::Local(path) => {
            let fetched = Fetched {
                label: path.display().to_string(),
                path,
                object: ObjectInfo::default(),
                url: None,
            };
            timer.lap("download");
            let built = tokio::task::block_in_place(|| {
                build_bundle(cfg, &fetched.path, &fetched.label, None, shutdown.cancel())
            })?;
            return Ok((fetched, built, None));
        }
        Located::S3 { url, label } => (url, label),
    };
    // A fixed name: an object key can be longer than a file name may be.
    let path = cfg.work_dir.join("release.download");
    std::fs::File::create(&path).map_err(|e| Error::io("cannot create", &path, e))?;
    log(format!("downloading {label}"));
    let growing = Growing::new();
    let mut scan = {
        let (cfg, path, label) = (cfg.clone(), path.clone(), label.clone());
        let (growing, cancel) = (Arc::clone(&growing), shutdown.cancel().clone());
        tokio::task::spawn_blocking(move || {
            build_bundle(&cfg, &path, &label, Some(&growing), &cancel)
        })
    };
    // With `--upload-mode put`, the bundle's leading parts (the release's own bytes) go to
    // S3 as they arrive.
    let (limit, limit_seen) = tokio::sync::watch::channel(ahead::Limit::Unknown);
    let sending = ahead.map(|target| {
        tokio::spawn(ahead::send(
            clients.artifact_s3.clone(),
            target,
            path.clone(),
            Arc::clone(&growing),
            limit_seen,
            cfg.upload,
            shutdown.clone(),
        ))
    });
    let outcome: Result<(ObjectInfo, Built)> = async {
        let download = async {
            let unfinished = FinishOnDrop(Arc::clone(&growing));
            let result =
                s3::download(&clients.s3, &url, &label, &path, Some(&growing), shutdown).await;
            growing.finish(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
            drop(unfinished);
            result
        };
        tokio::pin!(download);
        let joined = |r: std::result::Result<Result<Built>, tokio::task::JoinError>| {
            r.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
        };
        tokio::select! {
            biased;
            object = &mut download => {
                timer.lap("download");
                // After a failed download the scan stops at once (its reads fail).
                let built = joined(scan.await);
                Ok((object?, built?))
            }
            built = &mut scan => {
                // The scan reads to the end of the file, so it ends first only on an error: the
                // download is dropped (cancelled) with it.
                let built = joined(built)?;
                let object = download.await?;
                timer.lap("download");
                Ok((object, built))
            }
        }
    }
    .await;
    let sent = match sending {
        None => None,
        Some(sending) => {
            let kept = outcome.as_ref().ok().map(|(_, b)| b.1.release_bytes_kept);
            // The receiver may be gone (nothing was started): nothing to tell then.
            let _ = limit.send(kept.map_or(ahead::Limit::Stop, ahead::Limit::UpTo));
            let sent = sending
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            match (sent, kept) {
                (Some(sent), Some(kept)) => Some(sent.keeping(kept)),
                (Some(sent), None) => {
                    sent.abort(&clients.artifact_s3).await;
                    None
                }
                (None, _) => None,
            }
        }
    };
    let (object, built) = outcome?;
    let fetched = Fetched {
        path,
        label,
        object,
        url: Some(url),
    };
    Ok((fetched, built, sent))
}

/// Step: check and build, exactly as the dry run does; nothing goes further on an error.
fn build_bundle(
    cfg: &DeployConfig,
    archive: &Path,
    label: &str,
    growing: Option<&Arc<Growing>>,
    cancel: &Cancel,
) -> Result<Built> {
    log(format!(
        "checking {label} with {}",
        cfg.codedeploy_dir.display()
    ));
    let checked = revision::check_arriving(&cfg.codedeploy_dir, Some(archive), growing, cancel)?;
    if checked.diags.has_errors() {
        return Err(Error::Invalid(checked.diags));
    }
    // Said now, not after the upload and the deployment.
    crate::base::term::show_warnings(&checked.diags);
    let ext = match checked.app.as_ref().map(|a| BundleType::of(a.compression)) {
        Some(BundleType::Tar) => "tar",
        _ => "tgz",
    };
    let path = cfg.work_dir.join(format!("bundle.{ext}"));
    let info = revision::write_bundle(
        &checked,
        &path,
        cfg.mtime,
        revision::Durability::Transient,
        cancel,
    )?;
    Ok((path, info, checked.diags))
}

/// Runs the whole step.
pub async fn run(
    clients: &Clients,
    cfg: &DeployConfig,
    shutdown: &Shutdown,
) -> Result<DeployOutcome> {
    let mut timer = Timer::new();
    check_target(clients, cfg, shutdown).await?;
    let mut metadata = HashMap::from([(s3::UPLOAD_TOKEN_METADATA.to_string(), s3::upload_token())]);
    if let Some(commit) = &cfg.commit {
        metadata.insert("source-commit".to_string(), commit.clone());
    }
    // `put`: the upload starts during the download. (`auto` copies the release's bytes inside
    // S3 instead; when that is refused, the bundle goes up after it is built.)
    let ahead_target = (cfg.upload_mode == UploadMode::Put).then(|| {
        let now = DateTime::from(std::time::SystemTime::now());
        ahead::Target {
            bucket: cfg.bucket.clone(),
            tar_key: bundle_key(cfg, BundleType::Tar.as_str(), now),
            tgz_key: bundle_key(cfg, BundleType::Tgz.as_str(), now),
            kms_key_id: cfg.kms_key_id.clone(),
            metadata: metadata.clone(),
        }
    });
    let (fetched, (bundle_path, bundle, warnings), ahead) =
        fetch_and_build(clients, cfg, ahead_target, shutdown, &mut timer).await?;
    timer.lap("bundle");
    // Whatever ends the run before the upload aborts the one started ahead.
    let abandon = |ahead: Option<ahead::Ahead>| async {
        if let Some(ahead) = ahead {
            ahead.abort(&clients.artifact_s3).await;
        }
    };

    let mut outcome = DeployOutcome {
        status: Outcome::Superseded,
        app_archive: fetched.label.clone(),
        app_archive_etag: fetched.object.etag.clone(),
        app_archive_version_id: fetched.object.version_id.clone(),
        // The bundle file lives in the run's temporary folder, gone when the run ends: the
        // summary gives its S3 location (`revision`) instead of a path.
        bundle: BundleInfo {
            path: PathBuf::new(),
            ..bundle
        },
        revision: None,
        revision_etag: None,
        revision_version_id: None,
        bytes_copied_in_s3: 0,
        bytes_sent_during_download: 0,
        deployment_id: None,
        final_status: None,
        superseded_by: None,
        steps: Vec::new(),
        warnings,
    };
    // Computed before the upload: nothing about it can fail after. It records the bundle's
    // SHA-256 (history, promote), which an upload started ahead cannot put in metadata.
    let description = description_noting(
        cfg.trigger_time,
        cfg.commit.as_deref(),
        cfg.build_id.as_deref(),
        &[("sha256", &outcome.bundle.sha256)],
    );

    // One deployment at a time per group; the newest trigger wins.
    let superseded = match take_group(clients, cfg, None, shutdown).await {
        Ok(Group::Superseded(newer)) => Some(newer),
        // Without a deployment of its own yet, a run's group is free or another's.
        Ok(Group::Free | Group::Ours(_)) => None,
        Err(err) => {
            abandon(ahead).await;
            return Err(err);
        }
    };
    timer.lap("wait-for-group");
    if let Some(newer) = superseded {
        abandon(ahead).await;
        log(format!(
            "superseded by deployment {newer} of a newer trigger; nothing deployed"
        ));
        outcome.superseded_by = Some(newer);
        outcome.steps = timer.steps;
        return Ok(outcome);
    }

    if let Err(err) = keep_rollback_targets(clients, cfg, None, shutdown).await {
        abandon(ahead).await;
        return Err(err);
    }
    // The upload started ahead goes on when its key has the bundle's type (the release's
    // first bytes chose it).
    let ext = outcome.bundle.bundle_type.as_str();
    let ahead = match ahead {
        Some(a) if a.key().ends_with(&format!(".{ext}")) => Some(a),
        other => {
            abandon(other).await;
            None
        }
    };
    let key = match &ahead {
        Some(a) => a.key().to_string(),
        None => bundle_key(cfg, ext, DateTime::from(std::time::SystemTime::now())),
    };
    if ahead.is_none() {
        // Known before this upload starts: the object carries it too.
        metadata.insert(
            s3::SHA256_METADATA.to_string(),
            outcome.bundle.sha256.clone(),
        );
    }
    // The release's bytes that start the bundle can be copied inside S3, pinned to the
    // version and ETag that were downloaded and checked.
    let copy_from = match (&fetched.url, cfg.upload_mode) {
        (_, UploadMode::Put) => None,
        (Some(url), _) if outcome.bundle.release_bytes_kept >= s3::MIN_PART => {
            Some(s3::CopySource {
                bucket: url.bucket.clone(),
                key: url.key.clone(),
                version_id: fetched.object.version_id.clone(),
                etag: fetched.object.etag.clone(),
                len: outcome.bundle.release_bytes_kept,
            })
        }
        (_, UploadMode::Copy) => {
            return Err(Error::Usage(format!(
                "--upload-mode copy: nothing to copy inside S3 ({}); use auto or put",
                if fetched.url.is_none() {
                    "the release is a local file".to_string()
                } else {
                    format!(
                        "the bundle starts with {} bytes of the release, less than a 5 MiB part",
                        outcome.bundle.release_bytes_kept
                    )
                }
            )))
        }
        _ => None,
    };
    let upload = Upload {
        bucket: cfg.bucket.clone(),
        key: key.clone(),
        path: bundle_path,
        size: outcome.bundle.size_bytes,
        kms_key_id: cfg.kms_key_id.clone(),
        metadata,
        copy_from,
    };
    let copied = upload.copy_from.as_ref().map_or(0, |c| c.len);
    let sent_ahead = ahead.as_ref().map_or(0, ahead::Ahead::bytes);
    if let Some(a) = &ahead {
        log(format!(
            "uploading {} bytes to s3://{}/{key}, {} of them sent during the download",
            upload.size,
            cfg.bucket,
            a.bytes()
        ));
    } else if copied > 0 {
        log(format!(
            "uploading {} bytes to s3://{}/{key}, {copied} of them copied inside S3 from the release",
            upload.size, cfg.bucket
        ));
    } else {
        log(format!(
            "uploading {} bytes to s3://{}/{key}",
            upload.size, cfg.bucket
        ));
    }
    let uploaded =
        match s3::upload(&clients.artifact_s3, &upload, cfg.upload, shutdown, ahead).await {
            Err(err)
                if copied > 0
                    && cfg.upload_mode == UploadMode::Auto
                    && !matches!(err, Error::Interrupted(_)) =>
            {
                log(format!(
                    "server-side copy of the release refused ({err}): uploading the whole bundle"
                ));
                let whole = Upload {
                    copy_from: None,
                    ..upload
                };
                s3::upload(&clients.artifact_s3, &whole, cfg.upload, shutdown, None).await?
            }
            other => {
                let uploaded = other?;
                outcome.bytes_copied_in_s3 = copied;
                outcome.bytes_sent_during_download = sent_ahead;
                uploaded
            }
        };
    outcome.revision = Some(uploaded.location());
    outcome.revision_etag = uploaded.etag.clone();
    outcome.revision_version_id = uploaded.version_id.clone();
    // S3's own time to join the parts, apart from the time spent sending them.
    timer.lap_split(
        "upload",
        uploaded
            .completing
            .map(|d| ("complete-multipart-upload", d)),
    );

    let new = NewDeployment {
        application: cfg.application.clone(),
        group: cfg.group.clone(),
        config: cfg.deployment_config.clone(),
        description,
        bucket: cfg.bucket.clone(),
        key: key.clone(),
        bundle_type: outcome.bundle.bundle_type,
        etag: uploaded.etag.clone(),
        version_id: uploaded.version_id.clone(),
        file_exists_behavior: cfg.file_exists_behavior.clone(),
        ignore_application_stop_failures: cfg.ignore_application_stop_failures,
    };
    let id = match place(clients, cfg, &new, shutdown).await {
        Ok(Placed::Created(id) | Placed::Adopted(id)) => id,
        Ok(Placed::Superseded(newer)) => {
            log("removing the bundle, which nothing will deploy");
            if let Err(err) = uploaded.discard(&clients.artifact_s3).await {
                log(format!("warning: {err}"));
            }
            outcome.revision = None;
            outcome.steps = timer.steps;
            log(format!(
                "superseded by deployment {newer} of a newer trigger; nothing deployed"
            ));
            outcome.superseded_by = Some(newer);
            return Ok(outcome);
        }
        Err(NotPlaced {
            error,
            maybe_created: true,
        }) => {
            // A deployment of it may exist: the bundle stays (its Pending tag expires it).
            log(format!(
                "keeping the bundle {}: a deployment of it may exist",
                uploaded.location()
            ));
            return Err(error);
        }
        Err(NotPlaced { error, .. }) => {
            // No deployment of it exists: leave no orphan behind.
            log("removing the bundle, which nothing will deploy");
            if let Err(err) = uploaded.discard(&clients.artifact_s3).await {
                log(format!("warning: {err}"));
            }
            return Err(error);
        }
    };
    log(format!(
        "created deployment {id} of {}",
        uploaded.location()
    ));
    outcome.deployment_id = Some(id.clone());
    timer.lap("create-deployment");
    if let Some(path) = &cfg.export_file {
        write_exports(path, &id, &uploaded.location(), &outcome.bundle.sha256)?;
    }

    let Some(timeout) = cfg.wait_timeout else {
        outcome.status = Outcome::Created;
        outcome.steps = timer.steps;
        return Ok(outcome);
    };
    let info = follow(clients, cfg, &id, timeout, shutdown).await?;
    timer.lap("deployment");
    outcome.steps = timer.steps.clone();
    let ended = conclude(clients, cfg, BundleRef::Own(&uploaded), info, shutdown).await?;
    outcome.status = ended.status;
    outcome.final_status = Some(ended.final_status);
    outcome.superseded_by = ended.superseded_by;
    Ok(outcome)
}

/// `KEY=value` lines for the buildspec to export.
fn write_exports(path: &std::path::Path, id: &str, revision: &str, sha256: &str) -> Result<()> {
    let text = format!("DEPLOYMENT_ID={id}\nBUNDLE_LOCATION={revision}\nBUNDLE_SHA256={sha256}\n");
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io("cannot create folder", parent, e))?;
    }
    std::fs::write(path, text).map_err(|e| Error::io("cannot write", path, e))
}
