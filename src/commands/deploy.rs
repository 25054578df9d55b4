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
use crate::bundle::writer::BundleFormat;
use crate::deployment::conclude::{conclude, keep_rollback_targets, BundleRef};
use crate::deployment::config::BundleObject;
use crate::deployment::follow::follow;
use crate::deployment::group::{take_group, Group};
use crate::deployment::place::{place, NotPlaced, Placed};
use crate::deployment::timeline::{Clock, Mark};
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
    /// Bytes the run wrote to the local disk: the download, and the bundle's bytes that are
    /// not the downloaded release's own (the bundle is made out of the download when its
    /// layout keeps the release's bytes as they are).
    pub bytes_written: u64,
    /// Bytes of the bundle sent while the release was still downloading (`--upload-mode put`):
    /// the release's leading parts, which start the bundle.
    pub bytes_sent_during_download: u64,
    pub deployment_id: Option<String>,
    pub final_status: Option<String>,
    pub superseded_by: Option<String>,
    /// The commit deployed: id, branch, author, subject.
    pub commit: crate::deployment::CommitInfo,
    pub build: Option<String>,
    /// The console pages of the build and of the deployment.
    pub console: crate::deployment::console::ConsoleLinks,
    pub steps: Vec<StepTime>,
    /// From the trigger to the last instance done: the build's phases, the steps on the wall
    /// clock, the instances' first event and last end.
    pub timeline: Vec<Mark>,
    pub warnings: Diagnostics,
}

struct Timer {
    steps: Vec<StepTime>,
    started: Instant,
    /// The same laps on the wall clock, for the timeline.
    clock: Clock,
}

impl Timer {
    fn new() -> Self {
        Timer {
            steps: Vec::new(),
            started: Instant::now(),
            clock: Clock::start(),
        }
    }

    fn lap(&mut self, step: &'static str) {
        self.clock.lap(step);
        let now = Instant::now();
        self.steps.push(StepTime {
            step,
            seconds: (now - self.started).as_secs_f64(),
            bytes_written: None,
        });
        self.started = now;
    }

    /// Notes the bytes a step wrote to disk, once it is timed.
    fn wrote(&mut self, step: &'static str, bytes: u64) {
        if let Some(s) = self.steps.iter_mut().find(|s| s.step == step) {
            s.bytes_written = Some(bytes);
        }
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
                bytes_written: None,
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
                build_bundle(
                    cfg,
                    &fetched.path,
                    &fetched.label,
                    None,
                    None,
                    shutdown.cancel(),
                )
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
    // With `--upload-mode put`, the bundle's leading parts (the release's own bytes) go to
    // S3 as they arrive.
    let (limit, limit_seen) = tokio::sync::watch::channel(ahead::Limit::Unknown);
    let limit = Arc::new(limit);
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
    let arrival = Arrival {
        url: &url,
        label: &label,
        path: &path,
        growing: &growing,
    };
    // The download becomes the bundle (written over, not copied): the parts sent ahead learn
    // where the bundle's own bytes end before the file is cut there.
    let cut: OverRelease = {
        let limit = Arc::clone(&limit);
        Arc::new(move |kept| {
            limit.send_replace(ahead::Limit::UpTo(kept));
        })
    };
    let outcome = download_and_build(clients, cfg, arrival, cut, shutdown, timer).await;
    let kept = outcome.as_ref().ok().map(|(_, b)| b.1.release_bytes_kept);
    let sent = settle_ahead(clients, sending, limit, kept).await;
    let (object, built) = outcome?;
    let fetched = Fetched {
        path,
        label,
        object,
        url: Some(url),
    };
    Ok((fetched, built, sent))
}

/// A release arriving from S3: where from, how messages name it, the file it is written to.
#[derive(Clone, Copy)]
struct Arrival<'a> {
    url: &'a S3Url,
    label: &'a str,
    path: &'a Path,
    growing: &'a Arc<Growing>,
}

/// The download, and the check and build that follow it as it arrives.
async fn download_and_build(
    clients: &Clients,
    cfg: &DeployConfig,
    arrival: Arrival<'_>,
    over_release: OverRelease,
    shutdown: &Shutdown,
    timer: &mut Timer,
) -> Result<(ObjectInfo, Built)> {
    let Arrival {
        url,
        label,
        path,
        growing,
    } = arrival;
    let mut scan = {
        let (cfg, path, label) = (cfg.clone(), path.to_path_buf(), label.to_string());
        let (growing, cancel) = (Arc::clone(growing), shutdown.cancel().clone());
        tokio::task::spawn_blocking(move || {
            let over = Some(&*over_release);
            build_bundle(&cfg, &path, &label, Some(&growing), over, &cancel)
        })
    };
    let download = async {
        let unfinished = FinishOnDrop(Arc::clone(growing));
        let result = s3::download(&clients.s3, url, label, path, Some(growing), shutdown).await;
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

/// Tells the upload started ahead where the bundle's own bytes end (`kept`; none: the run
/// failed, stop), and waits for it; it goes on only when the bundle was built.
async fn settle_ahead(
    clients: &Clients,
    sending: Option<tokio::task::JoinHandle<Option<ahead::Ahead>>>,
    limit: Arc<tokio::sync::watch::Sender<ahead::Limit>>,
    kept: Option<u64>,
) -> Option<ahead::Ahead> {
    let sending = sending?;
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

/// Told how many bytes of the downloaded release the bundle keeps, before the file is cut
/// there to become the bundle.
type OverRelease = Arc<dyn Fn(u64) + Send + Sync>;

/// Step: check and build, exactly as the dry run does; nothing goes further on an error. With
/// `over_release` (the archive is the run's own download), the bundle is made out of the
/// archive file itself when it can be.
fn build_bundle(
    cfg: &DeployConfig,
    archive: &Path,
    label: &str,
    growing: Option<&Arc<Growing>>,
    over_release: Option<&(dyn Fn(u64) + Send + Sync)>,
    cancel: &Cancel,
) -> Result<Built> {
    log(format!(
        "checking {label} with {}",
        cfg.codedeploy_dir.display()
    ));
    let checked = revision::check_arriving(
        &cfg.codedeploy_dir,
        Some(archive),
        growing,
        cfg.rules,
        cancel,
    )?;
    if checked.diags.has_errors() {
        return Err(Error::Invalid(checked.diags));
    }
    // Said now, not after the upload and the deployment.
    crate::base::term::show_warnings(&checked.diags);
    let ext = match checked
        .app
        .as_ref()
        .map(|a| BundleFormat::of(a.compression))
    {
        Some(BundleFormat::Tar) => "tar",
        _ => "tgz",
    };
    if let Some(before_cut) = over_release {
        if let Some(info) =
            revision::write_bundle_over_release(&checked, cfg.mtime, before_cut, cancel)?
        {
            return Ok((archive.to_path_buf(), info, checked.diags));
        }
    }
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

/// An upload started during the download (`--upload-mode put`) until the bundle's upload
/// takes it over: whatever ends the run before then aborts it, in one place ([`run`]).
struct StartedAhead(Option<ahead::Ahead>);

impl StartedAhead {
    /// The upload started ahead, for the bundle's upload to go on with; none is left to abort.
    fn take(&mut self) -> Option<ahead::Ahead> {
        self.0.take()
    }

    /// Aborts the upload unless the bundle's upload took it over.
    async fn abort(mut self, s3: &aws_sdk_s3::Client) {
        if let Some(ahead) = self.0.take() {
            ahead.abort(s3).await;
        }
    }
}

impl Drop for StartedAhead {
    fn drop(&mut self) {
        debug_assert!(
            self.0.is_none(),
            "an upload started ahead was dropped without being aborted or taken over"
        );
    }
}

/// Runs the whole step: check the target, fetch the release and build the bundle, then
/// [`deploy_built`]; an upload started during the download and not taken over is aborted.
pub async fn run(
    clients: &Clients,
    cfg: &DeployConfig,
    shutdown: &Shutdown,
) -> Result<DeployOutcome> {
    let mut timer = Timer::new();
    check_target(clients, cfg, shutdown).await?;
    let preflight = if cfg.preflight {
        shutdown
            .guard(crate::deployment::preflight::preflight(clients, cfg))
            .await?
    } else {
        Vec::new()
    };
    for note in &preflight {
        log(format!("note: {note}"));
    }
    // Outside the deployment window, nothing is downloaded or built yet: fail, or wait first
    // (it is judged again just before CreateDeployment).
    crate::deployment::place::hold_for_window(
        cfg,
        std::time::Instant::now() + cfg.budget(),
        shutdown,
    )
    .await?;
    let metadata = bundle_metadata(cfg);
    let target = ahead_target(cfg, &metadata);
    let (fetched, mut built, ahead) =
        fetch_and_build(clients, cfg, target, shutdown, &mut timer).await?;
    for note in
        crate::deployment::drain::notes(clients, &cfg.application, &cfg.group, shutdown).await
    {
        log(format!("warning: {}: {}", note.location, note.message));
        built.2.warn(note.location, note.message);
    }
    for note in preflight {
        built.2.warn("preflight", note);
    }
    timer.lap("bundle");
    let downloaded = if fetched.url.is_some() {
        fetched.object.bytes
    } else {
        0
    };
    timer.wrote("download", downloaded);
    timer.wrote("bundle", built.1.bytes_written);
    let mut ahead = StartedAhead(ahead);
    let run = Run {
        clients,
        cfg,
        shutdown,
    };
    let deployed = deploy_built(run, &fetched, built, metadata, &mut ahead, &mut timer).await;
    ahead.abort(&clients.artifact_s3).await;
    let mut outcome = deployed?;
    let warnings = &mut outcome.warnings;
    outcome.timeline = timer.clock.told(clients, cfg, warnings, shutdown).await;
    Ok(outcome)
}

/// The metadata of the bundle's object: the upload token (which recognises a lost
/// completion) and the commit.
fn bundle_metadata(cfg: &DeployConfig) -> HashMap<String, String> {
    let mut metadata = HashMap::from([(s3::UPLOAD_TOKEN_METADATA.to_string(), s3::upload_token())]);
    if let Some(commit) = &cfg.commit.id {
        metadata.insert("source-commit".to_string(), commit.clone());
    }
    metadata
}

/// `put`: the upload starts during the download, under both possible keys until the
/// release's first bytes say which. (`auto` copies the release's bytes inside S3 instead;
/// when that is refused, the bundle goes up after it is built.)
fn ahead_target(cfg: &DeployConfig, metadata: &HashMap<String, String>) -> Option<ahead::Target> {
    (cfg.upload_mode == UploadMode::Put).then(|| {
        let now = DateTime::from(std::time::SystemTime::now());
        ahead::Target {
            bucket: cfg.bucket.clone(),
            tar_key: bundle_key(cfg, BundleFormat::Tar.as_str(), now),
            tgz_key: bundle_key(cfg, BundleFormat::Tgz.as_str(), now),
            kms_key_id: cfg.kms_key_id.clone(),
            metadata: metadata.clone(),
        }
    })
}

/// What every step of one run reads: the clients, the configuration and the shutdown signal.
#[derive(Clone, Copy)]
struct Run<'a> {
    clients: &'a Clients,
    cfg: &'a DeployConfig,
    shutdown: &'a Shutdown,
}

/// Steps once the bundle is built: take the group, keep the rollback targets, upload,
/// create the deployment, then follow it and conclude.
async fn deploy_built(
    run: Run<'_>,
    fetched: &Fetched,
    (bundle_path, bundle, warnings): Built,
    metadata: HashMap<String, String>,
    ahead: &mut StartedAhead,
    timer: &mut Timer,
) -> Result<DeployOutcome> {
    let Run {
        clients,
        cfg,
        shutdown,
    } = run;
    let mut outcome = DeployOutcome::built(fetched, bundle, warnings);
    outcome.commit = cfg.commit.clone();
    outcome.build = cfg.build_id.clone();
    outcome.console.build = cfg
        .build_arn
        .as_deref()
        .and_then(crate::deployment::console::build_link);
    // Computed before the upload: nothing about it can fail after. It records the bundle's
    // SHA-256 (history, promote), which an upload started ahead cannot put in metadata.
    let description = description_noting(
        cfg.trigger_time,
        &cfg.commit,
        cfg.build_id.as_deref(),
        &[("sha256", &outcome.bundle.sha256)],
    );
    // One deployment at a time per group; the newest trigger wins.
    let group = take_group(clients, cfg, None, shutdown).await?;
    timer.lap("wait-for-group");
    if let Group::Superseded(newer) = group {
        // Without a deployment of its own yet, a run's group is free or another's.
        return Ok(outcome.superseded(newer, timer));
    }
    keep_rollback_targets(clients, cfg, None, shutdown).await?;
    let uploaded = upload_bundle(run, fetched, bundle_path, metadata, ahead, &mut outcome).await?;
    // S3's own time to join the parts, apart from the time spent sending them.
    let completing = uploaded
        .completing
        .map(|d| ("complete-multipart-upload", d));
    timer.lap_split("upload", completing);
    let bundle = BundleObject {
        bucket: cfg.bucket.clone(),
        key: uploaded.key().to_string(),
        version_id: uploaded.version_id.clone(),
        etag: uploaded.etag.clone(),
        bundle_type: outcome.bundle.bundle_type,
    };
    let new = cfg.deployment_of(bundle, description);
    let (id, uploaded) = match place_bundle(clients, cfg, &new, uploaded, shutdown).await? {
        PlacedBundle::Deployed { id, uploaded } => (id, uploaded),
        PlacedBundle::Superseded(newer) => {
            outcome.revision = None;
            return Ok(outcome.superseded(newer, timer));
        }
    };
    outcome.deployment_id = Some(id.clone());
    outcome.console.deployment =
        crate::deployment::console::deployment_link(&clients.deploy_region, &id);
    if let Some(link) = &outcome.console.deployment {
        log(format!("deployment {id}: {link}"));
    }
    timer.lap("create-deployment");
    if let Some(path) = &cfg.export_file {
        write_exports(path, &id, &uploaded.location(), &outcome.bundle.sha256)?;
    }
    let Some(timeout) = cfg.wait_timeout else {
        outcome.status = Outcome::Created;
        outcome.steps = std::mem::take(&mut timer.steps);
        return Ok(outcome);
    };
    let followed = follow(clients, cfg, &id, timeout, shutdown).await?;
    timer.lap("deployment");
    timer.clock.followed(&followed.info);
    outcome.steps = timer.steps.clone();
    let ended = conclude(clients, cfg, BundleRef::Own(&uploaded), followed, shutdown).await?;
    outcome.status = ended.status;
    outcome.final_status = Some(ended.final_status);
    outcome.superseded_by = ended.superseded_by;
    Ok(outcome)
}

impl DeployOutcome {
    /// The summary of a run whose bundle is built and nothing is deployed yet.
    fn built(fetched: &Fetched, bundle: BundleInfo, warnings: Diagnostics) -> Self {
        DeployOutcome {
            status: Outcome::Superseded,
            app_archive: fetched.label.clone(),
            app_archive_etag: fetched.object.etag.clone(),
            app_archive_version_id: fetched.object.version_id.clone(),
            // The bundle file lives in the run's temporary folder, gone when the run ends:
            // the summary gives its S3 location (`revision`) instead of a path.
            bundle: BundleInfo {
                path: PathBuf::new(),
                ..bundle
            },
            revision: None,
            revision_etag: None,
            revision_version_id: None,
            bytes_copied_in_s3: 0,
            bytes_written: if fetched.url.is_some() {
                fetched.object.bytes + bundle.bytes_written
            } else {
                bundle.bytes_written
            },
            bytes_sent_during_download: 0,
            deployment_id: None,
            final_status: None,
            superseded_by: None,
            commit: crate::deployment::CommitInfo::default(),
            build: None,
            console: crate::deployment::console::ConsoleLinks::default(),
            steps: Vec::new(),
            timeline: Vec::new(),
            warnings,
        }
    }

    /// The run ends superseded by `newer`, a newer trigger's deployment.
    fn superseded(mut self, newer: String, timer: &mut Timer) -> Self {
        log(format!(
            "superseded by deployment {newer} of a newer trigger; nothing deployed"
        ));
        self.status = Outcome::Superseded;
        self.superseded_by = Some(newer);
        self.steps = std::mem::take(&mut timer.steps);
        self
    }
}

/// Step: upload the bundle (going on with the upload started ahead when its key has the
/// bundle's type, which the release's first bytes chose); with `--upload-mode auto`, a
/// refused copy inside S3 falls back to sending the whole bundle.
async fn upload_bundle(
    run: Run<'_>,
    fetched: &Fetched,
    bundle_path: PathBuf,
    mut metadata: HashMap<String, String>,
    ahead: &mut StartedAhead,
    outcome: &mut DeployOutcome,
) -> Result<s3::Uploaded> {
    let Run {
        clients,
        cfg,
        shutdown,
    } = run;
    let ext = outcome.bundle.bundle_type.as_str();
    let ahead = match ahead.take() {
        Some(a) if a.key().ends_with(&format!(".{ext}")) => Some(a),
        other => {
            StartedAhead(other).abort(&clients.artifact_s3).await;
            None
        }
    };
    let key = match &ahead {
        Some(a) => a.key().to_string(),
        None => bundle_key(cfg, ext, DateTime::from(std::time::SystemTime::now())),
    };
    if ahead.is_none() {
        // Known before this upload starts: the object carries it too.
        let sha256 = outcome.bundle.sha256.clone();
        metadata.insert(s3::SHA256_METADATA.to_string(), sha256);
    }
    let upload = Upload {
        bucket: cfg.bucket.clone(),
        key,
        path: bundle_path,
        size: outcome.bundle.size_bytes,
        kms_key_id: cfg.kms_key_id.clone(),
        metadata,
        copy_from: copy_source(cfg, fetched, outcome.bundle.release_bytes_kept)?,
    };
    let copied = upload.copy_from.as_ref().map_or(0, |c| c.len);
    let sent_ahead = ahead.as_ref().map_or(0, ahead::Ahead::bytes);
    announce_upload(&upload, copied, sent_ahead);
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
    Ok(uploaded)
}

/// The release's bytes that start the bundle, to be copied inside S3, pinned to the version
/// and ETag that were downloaded and checked; `--upload-mode copy` fails when there are none.
fn copy_source(cfg: &DeployConfig, fetched: &Fetched, kept: u64) -> Result<Option<s3::CopySource>> {
    Ok(match (&fetched.url, cfg.upload_mode) {
        (_, UploadMode::Put) => None,
        (Some(url), _) if kept >= s3::MIN_PART => Some(s3::CopySource {
            bucket: url.bucket.clone(),
            key: url.key.clone(),
            version_id: fetched.object.version_id.clone(),
            etag: fetched.object.etag.clone(),
            len: kept,
        }),
        (_, UploadMode::Copy) => {
            return Err(Error::Usage(format!(
                "--upload-mode copy: nothing to copy inside S3 ({}); use auto or put",
                if fetched.url.is_none() {
                    "the release is a local file".to_string()
                } else {
                    format!(
                        "the bundle starts with {kept} bytes of the release, less than a 5 MiB part"
                    )
                }
            )))
        }
        _ => None,
    })
}

/// Says where the bundle goes and how much of it is not sent now.
fn announce_upload(upload: &Upload, copied: u64, sent_ahead: u64) {
    let to = format!(
        "uploading {} bytes to s3://{}/{}",
        upload.size, upload.bucket, upload.key
    );
    log(if sent_ahead > 0 {
        format!("{to}, {sent_ahead} of them sent during the download")
    } else if copied > 0 {
        format!("{to}, {copied} of them copied inside S3 from the release")
    } else {
        to
    });
}

/// What became of the uploaded bundle.
enum PlacedBundle {
    /// A deployment of it exists (created, or adopted after a lost answer).
    Deployed { id: String, uploaded: s3::Uploaded },
    /// A newer trigger's deployment superseded this run; the bundle is removed.
    Superseded(String),
}

/// Step: create the deployment of the uploaded bundle, exactly once ([`place`]). A bundle that
/// nothing will deploy (a newer trigger's deployment superseded this run, or none was
/// created) is removed; one that a deployment may use all the same stays.
async fn place_bundle(
    clients: &Clients,
    cfg: &DeployConfig,
    new: &NewDeployment,
    uploaded: s3::Uploaded,
    shutdown: &Shutdown,
) -> Result<PlacedBundle> {
    let discard = |uploaded: s3::Uploaded| async move {
        log("removing the bundle, which nothing will deploy");
        if let Err(err) = uploaded.discard(&clients.artifact_s3).await {
            log(format!("warning: {err}"));
        }
    };
    match place(clients, cfg, new, shutdown).await {
        Ok(Placed::Created(id) | Placed::Adopted(id)) => {
            log(format!(
                "created deployment {id} of {}",
                uploaded.location()
            ));
            Ok(PlacedBundle::Deployed { id, uploaded })
        }
        Ok(Placed::Superseded(newer)) => {
            discard(uploaded).await;
            Ok(PlacedBundle::Superseded(newer))
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
            Err(error)
        }
        Err(NotPlaced { error, .. }) => {
            // No deployment of it exists: leave no orphan behind.
            discard(uploaded).await;
            Err(error)
        }
    }
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
