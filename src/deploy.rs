//! The CodeBuild step: SSM → S3 → checked bundle → upload → CreateDeployment → follow it to
//! its end. The run's result is the deployment's result.
//!
//! Ordering between racing runs (two quick pushes, a push and a release) follows
//! CodePipeline's SUPERSEDED mode: every deployment made here carries its trigger time in
//! its description, and a run whose trigger is older than the newest deployment of the group
//! creates nothing and ends as `superseded`.

use crate::aws::codedeploy::{self as cdapi, Created, NewDeployment, ACTIVE};
use crate::aws::s3::{self, ObjectInfo, Upload, UploadSettings, Uploaded};
use crate::aws::{ahead, ssm, Clients};
use crate::bundle::BundleType;
use crate::cancel::Cancel;
use crate::diag::Diagnostics;
use crate::error::{Error, Result};
use crate::growing::{FinishOnDrop, Growing};
use crate::revision::{self, BundleInfo};
use crate::s3url::S3Url;
use crate::shutdown::Shutdown;
use aws_sdk_codedeploy::types::{DeploymentInfo, DeploymentStatus};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the application archive comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveSource {
    Parameter(String),
    S3(S3Url),
    Local(PathBuf),
}

/// How the bundle goes up to S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UploadMode {
    /// Copy the release's bytes inside S3 when it can, else upload the whole bundle.
    Auto,
    /// Copy the release's bytes inside S3 (UploadPartCopy); fail when it cannot.
    Copy,
    /// Upload the whole bundle.
    Put,
}

/// What to do when another deployment holds the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IfBusy {
    /// Wait for it to end, then deploy (unless a newer run superseded this one).
    Wait,
    /// Stop it, then deploy.
    StopActive,
    /// Fail with exit code 6, naming the active deployment.
    Fail,
}

/// The resolved configuration of one deploy run.
#[derive(Debug, Clone)]
pub struct DeployConfig {
    pub archive: ArchiveSource,
    pub codedeploy_dir: PathBuf,
    pub bucket: String,
    pub prefix: String,
    pub kms_key_id: Option<String>,
    pub application: String,
    pub group: String,
    pub deployment_config: Option<String>,
    pub file_exists_behavior: Option<String>,
    pub ignore_application_stop_failures: bool,
    pub if_busy: IfBusy,
    /// None: do not follow the deployment (`--no-wait`).
    pub wait_timeout: Option<Duration>,
    /// How long to wait for a busy group (and through transient failures), with or without
    /// `--no-wait`: `--wait-timeout`.
    pub busy_timeout: Duration,
    pub poll_interval: Duration,
    pub commit: Option<String>,
    pub build_id: Option<String>,
    pub trigger_time: DateTime,
    pub mtime: u64,
    pub upload: UploadSettings,
    pub upload_mode: UploadMode,
    pub export_file: Option<PathBuf>,
    /// Where bundles and downloads are written while the run lasts.
    pub work_dir: PathBuf,
}

/// Time taken by one step.
#[derive(Debug, Clone, Serialize)]
pub struct StepTime {
    pub step: &'static str,
    pub seconds: f64,
}

/// How a run that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The deployment succeeded.
    Succeeded,
    /// The deployment was created and not followed (`--no-wait`).
    Created,
    /// A newer trigger's deployment made this run's moot; nothing of it is deployed.
    Superseded,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Created => "created",
            Outcome::Superseded => "superseded",
        }
    }
}

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

/// The marker of deployments made by this tool, last in their description.
const DESCRIPTION_TAG: &str = "by=invisible-pipeline";
/// The marker of the first format (`invisible-pipeline trigger=… commit=… build=…`).
const LEGACY_TAG: &str = "invisible-pipeline";
/// The longest description written; long commit or build ids are cut to fit.
pub const DESCRIPTION_MAX: usize = 512;
/// The commit id keeps at most this many characters (a SHA-256 commit id).
const COMMIT_MAX: usize = 64;

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The description of a deployment made here: the trigger time first (the stale-run check
/// reads it), then commit and build for people, then the marker. At most
/// [`DESCRIPTION_MAX`] characters: computed before the upload, it can never fail after it.
pub fn description(trigger: DateTime, commit: Option<&str>, build: Option<&str>) -> String {
    description_noting(trigger, commit, build, &[])
}

/// [`description`] with more `name=value` fields before the marker, such as the bundle's
/// `sha256=…` or `rollback-of=d-…` (an empty value is left out): the build id is cut to make
/// room.
pub fn description_noting(
    trigger: DateTime,
    commit: Option<&str>,
    build: Option<&str>,
    notes: &[(&str, &str)],
) -> String {
    let word = |s: Option<&str>| {
        s.unwrap_or("local")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join("_")
    };
    let trigger = trigger
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| trigger.secs().to_string());
    let note: String = notes
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!(" {name}={}", cut(&word(Some(value)), 128)))
        .collect();
    let fixed = format!("trigger={trigger} commit= build={note} {DESCRIPTION_TAG}")
        .chars()
        .count();
    let room = DESCRIPTION_MAX.saturating_sub(fixed);
    let commit = cut(&word(commit), COMMIT_MAX.min(room));
    let build = cut(&word(build), room - commit.chars().count());
    format!("trigger={trigger} commit={commit} build={build}{note} {DESCRIPTION_TAG}")
}

/// Which of two runs is newer: the later trigger; for equal triggers the greater build id,
/// compared as text (CodeBuild's ids are `project:uuid`), so that two runs agree on the
/// winner whatever order they look in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RunKey {
    pub trigger: DateTime,
    pub build: String,
}

/// The run key in a description written by [`description`] (or the first format).
pub fn run_key(description: &str) -> Option<RunKey> {
    let words: Vec<&str> = description.split_whitespace().collect();
    let ours = words.last() == Some(&DESCRIPTION_TAG) || words.first() == Some(&LEGACY_TAG);
    if !ours {
        return None;
    }
    let field = |name: &str| words.iter().find_map(|w| w.strip_prefix(name));
    Some(RunKey {
        trigger: DateTime::from_str(field("trigger=")?, Format::DateTime).ok()?,
        build: field("build=").unwrap_or("local").to_string(),
    })
}

/// A field (`commit`, `build`) of a description written by this tool; `None` for other
/// descriptions, and for `local` (a run outside CodeBuild or without a commit).
pub fn field_of(description: &str, name: &str) -> Option<String> {
    run_key(description)?;
    let prefix = format!("{name}=");
    description
        .split_whitespace()
        .find_map(|w| w.strip_prefix(prefix.as_str()))
        .filter(|v| !v.is_empty() && *v != "local")
        .map(str::to_string)
}

/// The trigger time in a description written by [`description`].
pub fn trigger_of(description: &str) -> Option<DateTime> {
    run_key(description).map(|k| k.trigger)
}

/// The bundle's object key: `<prefix>/<application>/<commit or local>/<build id or time>.<ext>`.
pub fn bundle_key(cfg: &DeployConfig, ext: &str, now: DateTime) -> String {
    let build = cfg.build_id.clone().unwrap_or_else(|| {
        now.fmt(Format::DateTime)
            .unwrap_or_default()
            .replace(':', "")
    });
    let build = build.replace([':', '/'], "-");
    let prefix = cfg.prefix.trim_matches('/');
    let tail = format!(
        "{}/{}/{build}.{ext}",
        cfg.application,
        cfg.commit.as_deref().unwrap_or("local")
    );
    if prefix.is_empty() {
        tail
    } else {
        format!("{prefix}/{tail}")
    }
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

use crate::output::log;

impl DeployConfig {
    pub(crate) fn run_key(&self) -> RunKey {
        RunKey {
            trigger: self.trigger_time,
            build: description_word(self.build_id.as_deref()),
        }
    }

    fn group_name(&self) -> String {
        format!("{}/{}", self.application, self.group)
    }

    /// How long waiting (for the group, for the deployment) may last.
    fn budget(&self) -> Duration {
        self.busy_timeout
    }
}

/// The build id as the description carries it (and so as [`run_key`] reads it back).
fn description_word(build: Option<&str>) -> String {
    let d = description(DateTime::from_secs(0), None, build);
    run_key(&d).map(|k| k.build).unwrap_or_default()
}

/// Runs an AWS call again after a transient failure (throttling, 5xx, a lost connection),
/// backing off, until `deadline`: one bad answer must not end an hour of following while the
/// deployment goes on. Other failures and signals end it at once.
async fn persist<T, F, Fut>(
    what: &str,
    deadline: Instant,
    first_pause: Duration,
    shutdown: &Shutdown,
    mut call: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut pause = first_pause.max(Duration::from_millis(1));
    loop {
        match shutdown.guard(call()).await {
            Err(err) if err.is_transient() && Instant::now() < deadline => {
                log(format!(
                    "{what}: {err}; trying again in {:.1} s",
                    pause.as_secs_f64()
                ));
                shutdown.sleep(pause).await?;
                pause = (pause * 2).min(Duration::from_secs(60));
            }
            other => return other,
        }
    }
}

/// A newer run's deployment in the group, if any: one made here whose run key is greater.
async fn newer_deployment(clients: &Clients, cfg: &DeployConfig) -> Result<Option<DeploymentInfo>> {
    // A deployment for a later trigger was created after that trigger, so after ours.
    let ids = cdapi::list(
        &clients.codedeploy,
        &cfg.application,
        &cfg.group,
        &[],
        Some(cfg.trigger_time),
    )
    .await?;
    if ids.is_empty() {
        return Ok(None);
    }
    let ours = cfg.run_key();
    let infos = cdapi::details(&clients.codedeploy, &ids).await?;
    Ok(infos
        .into_iter()
        .filter_map(|info| {
            let key = info.description().and_then(run_key)?;
            (key > ours).then_some((key, info))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, info)| info))
}

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
    crate::output::show_warnings(&checked.diags);
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

/// Step: wait until the group is free, by the `--if-busy` policy (CodeDeploy runs one
/// deployment at a time per group). Returns the id of a newer run's deployment when this run
/// is superseded.
/// What `take_group` found.
pub(crate) enum Group {
    /// No deployment holds it.
    Free,
    /// A newer run's deployment: this run is superseded.
    Superseded(String),
    /// The deployment that holds it is this run's own (a CreateDeployment whose answer was
    /// lost): never to be waited for, stopped, or created again.
    Ours(String),
}

pub(crate) async fn take_group(
    clients: &Clients,
    cfg: &DeployConfig,
    ours: Option<&NewDeployment>,
    shutdown: &Shutdown,
) -> Result<Group> {
    let started = Instant::now();
    let deadline = started + cfg.budget();
    let mut stopped: Vec<String> = Vec::new();
    loop {
        let newer = persist(
            "looking for newer runs",
            deadline,
            cfg.poll_interval,
            shutdown,
            || newer_deployment(clients, cfg),
        )
        .await?;
        if let Some(newer) = newer {
            return Ok(Group::Superseded(
                newer.deployment_id().unwrap_or("?").to_string(),
            ));
        }
        let active = persist(
            "looking at the group",
            deadline,
            cfg.poll_interval,
            shutdown,
            || {
                cdapi::list(
                    &clients.codedeploy,
                    &cfg.application,
                    &cfg.group,
                    &ACTIVE,
                    None,
                )
            },
        )
        .await?;
        let Some(first) = active.first() else {
            return Ok(Group::Free);
        };
        if let Some(new) = ours {
            let found = persist(
                "looking at the group",
                deadline,
                cfg.poll_interval,
                shutdown,
                || cdapi::find_among(&clients.codedeploy, new, &active),
            )
            .await?;
            if let Some(id) = found {
                return Ok(Group::Ours(id));
            }
        }
        let elapsed = started.elapsed().as_secs();
        match cfg.if_busy {
            IfBusy::Fail => {
                return Err(Error::Busy {
                    group: cfg.group_name(),
                    deployment_id: first.clone(),
                })
            }
            IfBusy::StopActive => {
                for id in &active {
                    if !stopped.contains(id) {
                        log(format!(
                            "stopping active deployment {id} (--if-busy stop-active)"
                        ));
                        shutdown
                            .guard(cdapi::stop(&clients.codedeploy, id))
                            .await?;
                        stopped.push(id.clone());
                    }
                }
            }
            IfBusy::Wait => log(format!(
                "deployment group {} is busy with {first}; waiting for it to end ({elapsed} s so far)",
                cfg.group_name()
            )),
        }
        if Instant::now() >= deadline {
            return Err(Error::BusyTimeout {
                group: cfg.group_name(),
                deployment_id: first.clone(),
                waited_secs: elapsed,
            });
        }
        shutdown.sleep(cfg.poll_interval).await?;
    }
}

/// What became of an uploaded bundle.
pub(crate) enum Placed {
    Created(String),
    /// CreateDeployment's answer was lost, but the deployment exists: it is this run's.
    Adopted(String),
    /// A newer trigger's deployment: the id.
    Superseded(String),
}

/// How often CreateDeployment is sent again after an answer that said nothing was created.
const CREATE_ATTEMPTS: usize = 5;

/// Why no deployment was placed, and whether one of this bundle may exist all the same (a
/// look after an unanswered CreateDeployment failed): then its bundle must stay.
pub(crate) struct NotPlaced {
    pub(crate) error: Error,
    pub(crate) maybe_created: bool,
}

/// Step: create the deployment, exactly once. CreateDeployment is sent without the SDK's
/// retries and without racing a signal (one bounded call: its answer must be known); after
/// any failure the group is searched for a deployment of exactly this bundle and description
/// (a lost answer) before anything else is decided. When another deployment takes the group
/// between the look and the call, waits again by `--if-busy`, never for this run's own.
pub(crate) async fn place(
    clients: &Clients,
    cfg: &DeployConfig,
    new: &NewDeployment,
    shutdown: &Shutdown,
) -> Result<Placed, NotPlaced> {
    // Just before the first call, less a margin for the clock of the machine.
    let since = DateTime::from(std::time::SystemTime::now() - Duration::from_secs(300));
    let fail = |error: Error, maybe_created: bool| NotPlaced {
        error,
        maybe_created,
    };
    // A newer run may have deployed while this one uploaded.
    let deadline = Instant::now() + cfg.budget();
    let newer = persist(
        "looking for newer runs",
        deadline,
        cfg.poll_interval,
        shutdown,
        || newer_deployment(clients, cfg),
    )
    .await
    .map_err(|e| fail(e, false))?;
    if let Some(newer) = newer {
        return Ok(Placed::Superseded(
            newer.deployment_id().unwrap_or("?").to_string(),
        ));
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        if let Some(signal) = shutdown.fired() {
            return Err(fail(Error::Interrupted(signal), false));
        }
        let err = match cdapi::create(&clients.codedeploy, new).await {
            Ok(Created::Id(id)) => return Ok(Placed::Created(id)),
            Ok(Created::GroupBusy) => {
                if cfg.if_busy == IfBusy::Fail {
                    return Err(fail(
                        Error::Busy {
                            group: cfg.group_name(),
                            deployment_id: "started by someone else just now".into(),
                        },
                        false,
                    ));
                }
                // Maybe ours, from an earlier attempt whose answer was lost.
                match cdapi::find_created(&clients.codedeploy, new, since).await {
                    Ok(Some(id)) => return Ok(Placed::Adopted(id)),
                    Ok(None) => {}
                    Err(e) => return Err(fail(e, false)),
                }
                log("another deployment holds the group; looking at it");
                match take_group(clients, cfg, Some(new), shutdown).await {
                    Ok(Group::Ours(id)) => return Ok(Placed::Adopted(id)),
                    Ok(Group::Superseded(newer)) => return Ok(Placed::Superseded(newer)),
                    Ok(Group::Free) if Instant::now() < deadline => {
                        // Busy, yet no deployment shows: CodeDeploy's lists lag; look again.
                        if let Err(e) = shutdown.sleep(cfg.poll_interval).await {
                            return Err(fail(e, false));
                        }
                        continue;
                    }
                    Ok(Group::Free) => {
                        return Err(fail(
                            Error::BusyTimeout {
                                group: cfg.group_name(),
                                deployment_id: "one that never showed in ListDeployments".into(),
                                waited_secs: cfg.budget().as_secs(),
                            },
                            false,
                        ))
                    }
                    Err(e) => return Err(fail(e, false)),
                }
            }
            Err(err) => err,
        };
        // The call may have created the deployment all the same. ListDeployments may lag
        // behind a deployment just created: after an ambiguous failure, look twice.
        let mut pause = cfg
            .poll_interval
            .clamp(Duration::from_millis(1), Duration::from_secs(2));
        let ambiguous = err.is_transient();
        let looks = if ambiguous { 2 } else { 1 };
        for look in 1..=looks {
            match cdapi::find_created(&clients.codedeploy, new, since).await {
                Ok(Some(id)) => {
                    log(format!(
                        "CreateDeployment failed ({err}), but deployment {id} of this bundle exists: following it"
                    ));
                    return Ok(Placed::Adopted(id));
                }
                Ok(None) if look < looks => {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Ok(None) => {}
                Err(look_err) => {
                    log(format!(
                        "cannot tell whether CreateDeployment created a deployment: {look_err}"
                    ));
                    return Err(fail(err, true));
                }
            }
        }
        if ambiguous && attempt < CREATE_ATTEMPTS {
            log(format!(
                "CreateDeployment failed ({err}) and no deployment of it shows; sending it again"
            ));
            if let Err(e) = shutdown.sleep(pause).await {
                return Err(fail(e, false));
            }
            continue;
        }
        // Every look came back without it: taken as not created.
        return Err(fail(err, false));
    }
}

fn overview_line(info: &DeploymentInfo) -> String {
    let status = info.status().map(|s| s.as_str()).unwrap_or("?");
    match info.deployment_overview() {
        Some(o) => format!(
            "deployment {}: {status}; instances pending {}, in progress {}, succeeded {}, failed {}, skipped {}",
            info.deployment_id().unwrap_or("?"),
            o.pending,
            o.in_progress,
            o.succeeded,
            o.failed,
            o.skipped
        ),
        None => format!("deployment {}: {status}", info.deployment_id().unwrap_or("?")),
    }
}

/// Step: follow a deployment until it ends or `--wait-timeout` passes, through transient
/// failures; returns its final state.
pub(crate) async fn follow(
    clients: &Clients,
    cfg: &DeployConfig,
    id: &str,
    timeout: Duration,
    shutdown: &Shutdown,
) -> Result<DeploymentInfo> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut last = String::new();
    loop {
        let got = persist(
            &format!("reading deployment {id}"),
            deadline,
            cfg.poll_interval,
            shutdown,
            || cdapi::get(&clients.codedeploy, id),
        )
        .await;
        let info = match got {
            Ok(info) => info,
            Err(Error::Interrupted(signal)) => {
                log(format!(
                    "{signal}: no longer following deployment {id}; it goes on"
                ));
                return Err(Error::Interrupted(signal));
            }
            Err(err) if err.is_transient() => {
                log(format!("cannot read deployment {id}: {err}"));
                return Err(Error::WaitTimeout {
                    deployment_id: id.to_string(),
                    waited_secs: started.elapsed().as_secs(),
                });
            }
            Err(err) => return Err(err),
        };
        let line = overview_line(&info);
        if line != last {
            log(&line);
            last = line;
        }
        if matches!(
            info.status(),
            Some(
                DeploymentStatus::Succeeded | DeploymentStatus::Failed | DeploymentStatus::Stopped
            )
        ) {
            return Ok(info);
        }
        if Instant::now() >= deadline {
            return Err(Error::WaitTimeout {
                deployment_id: id.to_string(),
                waited_secs: started.elapsed().as_secs(),
            });
        }
        if let Err(Error::Interrupted(signal)) = shutdown.sleep(cfg.poll_interval).await {
            log(format!(
                "{signal}: no longer following deployment {id}; it goes on"
            ));
            return Err(Error::Interrupted(signal));
        }
    }
}

/// How far back successful deployments are looked at: the lifecycle rules keep a `Succeeded`
/// bundle this long.
const SUCCESS_HORIZON: Duration = Duration::from_secs(400 * 24 * 3600);

/// Step: the bundles of the two latest successful deployments of the group (the live one,
/// and the one a rollback goes back to) are tagged `Live`, which no lifecycle rule expires;
/// the one they displace becomes `Succeeded`. Run before each upload (so that `--no-wait`
/// pipelines keep theirs too) and after a success. Best effort: a failure is a warning.
async fn keep_rollback_targets(
    clients: &Clients,
    cfg: &DeployConfig,
    own: Option<(&str, &str, Option<&str>)>,
    shutdown: &Shutdown,
) -> Result<()> {
    let work = async {
        let since = DateTime::from(std::time::SystemTime::now() - SUCCESS_HORIZON);
        let ids = cdapi::list(
            &clients.codedeploy,
            &cfg.application,
            &cfg.group,
            &[DeploymentStatus::Succeeded],
            Some(since),
        )
        .await?;
        let mut infos = if ids.is_empty() {
            Vec::new()
        } else {
            cdapi::details(&clients.codedeploy, &ids).await?
        };
        infos.sort_by(|a, b| b.create_time().cmp(&a.create_time()));
        let mut bundles: Vec<(String, Option<String>)> = Vec::new();
        if let Some((_, key, version)) = own {
            bundles.push((key.to_string(), version.map(str::to_string)));
        }
        for info in &infos {
            if own.is_some_and(|(id, _, _)| info.deployment_id() == Some(id)) {
                continue;
            }
            let Some(s3loc) = info.revision().and_then(|r| r.s3_location()) else {
                continue;
            };
            // Only bundles this tool wrote: the bucket and the prefix (tagging replaces an
            // object's whole tag set, and the tags drive expiry).
            let prefix = cfg.prefix.trim_matches('/');
            let under_prefix = prefix.is_empty()
                || s3loc
                    .key()
                    .and_then(|k| k.strip_prefix(prefix))
                    .is_some_and(|rest| rest.starts_with('/'));
            if s3loc.bucket() != Some(cfg.bucket.as_str()) || !under_prefix {
                continue;
            }
            let bundle = (
                s3loc.key().unwrap_or_default().to_string(),
                s3loc.version().map(str::to_string),
            );
            if !bundles.contains(&bundle) {
                bundles.push(bundle);
            }
        }
        for (i, (key, version)) in bundles.iter().take(3).enumerate() {
            let status = if i < 2 { s3::LIVE } else { "Succeeded" };
            if let Err(err) = s3::tag(
                &clients.artifact_s3,
                &cfg.bucket,
                key,
                version.as_deref(),
                status,
            )
            .await
            {
                log(format!("warning: {err}"));
            }
        }
        Ok(())
    };
    match shutdown.guard(work).await {
        Err(Error::Interrupted(signal)) => Err(Error::Interrupted(signal)),
        Err(err) => {
            log(format!(
                "warning: cannot mark the bundles a rollback needs: {err}"
            ));
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

/// Step: the run's result is the deployment's; the bundle is tagged with it, for the
/// lifecycle rules that keep what a rollback needs.
/// The bundle a deployment deployed: one this run uploaded, or one already in S3 (a rollback
/// or promotion), which a failure never re-tags: its tags keep what an earlier success earned.
pub(crate) enum BundleRef<'a> {
    Own(&'a Uploaded),
    Existing {
        key: &'a str,
        version: Option<&'a str>,
    },
}

/// How a followed deployment ended, when that is not an error.
pub(crate) struct Ended {
    pub status: Outcome,
    pub final_status: String,
    pub superseded_by: Option<String>,
}

pub(crate) async fn conclude(
    clients: &Clients,
    cfg: &DeployConfig,
    bundle: BundleRef<'_>,
    info: DeploymentInfo,
    shutdown: &Shutdown,
) -> Result<Ended> {
    let id = info.deployment_id().unwrap_or("?").to_string();
    let status = info.status().cloned().unwrap_or(DeploymentStatus::Failed);
    let final_status = status.as_str().to_string();
    let (key, version) = match &bundle {
        BundleRef::Own(up) => (up.key(), up.version_id.as_deref()),
        BundleRef::Existing { key, version } => (*key, *version),
    };
    if status == DeploymentStatus::Succeeded {
        keep_rollback_targets(clients, cfg, Some((&id, key, version)), shutdown).await?;
    } else if let BundleRef::Own(up) = bundle {
        if let Err(err) = shutdown
            .guard(s3::tag_status(&clients.artifact_s3, up, status.as_str()))
            .await
        {
            log(format!("warning: {err}"));
        }
    }
    match status {
        DeploymentStatus::Succeeded => Ok(Ended {
            status: Outcome::Succeeded,
            final_status,
            superseded_by: None,
        }),
        DeploymentStatus::Stopped => match shutdown.guard(newer_deployment(clients, cfg)).await? {
            Some(newer) => {
                let newer = newer.deployment_id().unwrap_or("?").to_string();
                log(format!(
                    "deployment {id} was stopped for deployment {newer} of a newer trigger"
                ));
                Ok(Ended {
                    status: Outcome::Superseded,
                    final_status,
                    superseded_by: Some(newer),
                })
            }
            None => Err(Error::DeploymentFailed {
                details: cdapi::deployment_summary(&info),
                deployment_id: id,
                status: "was stopped".into(),
            }),
        },
        _ => {
            let mut details = cdapi::deployment_summary(&info);
            details.extend(
                shutdown
                    .guard(async { Ok(cdapi::failure_details(&clients.codedeploy, &id).await) })
                    .await?,
            );
            Err(Error::DeploymentFailed {
                details,
                deployment_id: id,
                status: "failed".into(),
            })
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime {
        DateTime::from_str(text, Format::DateTime).unwrap()
    }

    #[test]
    fn description_round_trips_the_run_key() {
        let d = description(t("2026-11-26T06:00:00Z"), Some("abc123"), Some("proj:42"));
        assert_eq!(
            d,
            "trigger=2026-11-26T06:00:00Z commit=abc123 build=proj:42 by=invisible-pipeline"
        );
        assert_eq!(
            run_key(&d),
            Some(RunKey {
                trigger: t("2026-11-26T06:00:00Z"),
                build: "proj:42".into()
            })
        );
        assert_eq!(trigger_of("deployed by hand"), None);
        assert_eq!(trigger_of("trigger=2026-11-26T06:00:00Z by hand"), None);
        assert_eq!(trigger_of("trigger=garbage by=invisible-pipeline"), None);
        // The first format still counts.
        assert_eq!(
            trigger_of("invisible-pipeline trigger=2026-11-26T06:00:00Z commit=a build=b"),
            Some(t("2026-11-26T06:00:00Z"))
        );
    }

    #[test]
    fn long_ids_are_cut_to_fit_512_characters_with_the_trigger_first() {
        let commit = "c".repeat(300);
        let build = format!("project:{}", "b".repeat(1000));
        let d = description(t("2026-11-26T06:00:00Z"), Some(&commit), Some(&build));
        assert!(d.chars().count() <= DESCRIPTION_MAX, "{}", d.len());
        assert!(d.starts_with("trigger=2026-11-26T06:00:00Z commit="));
        assert!(d.ends_with(" by=invisible-pipeline"));
        assert_eq!(trigger_of(&d), Some(t("2026-11-26T06:00:00Z")));
        // Spaces in an id cannot break the format.
        let d = description(t("2026-11-26T06:00:00Z"), Some("a b"), None);
        assert_eq!(run_key(&d).unwrap().build, "local");
        assert!(d.contains("commit=a_b "));
    }

    #[test]
    fn equal_triggers_are_ordered_by_build_id() {
        let a = run_key(&description(t("2026-11-26T06:00:00Z"), None, Some("p:aaa"))).unwrap();
        let b = run_key(&description(t("2026-11-26T06:00:00Z"), None, Some("p:bbb"))).unwrap();
        let later = run_key(&description(t("2026-11-26T06:00:01Z"), None, Some("p:000"))).unwrap();
        assert!(b > a && later > b);
    }
}
