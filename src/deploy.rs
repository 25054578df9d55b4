//! The CodeBuild step: SSM → S3 → checked bundle → upload → CreateDeployment → follow it to
//! its end. The run's result is the deployment's result.
//!
//! Ordering between racing runs (two quick pushes, a push and a release) follows
//! CodePipeline's SUPERSEDED mode: every deployment made here carries its trigger time in
//! its description, and a run whose trigger is older than the newest deployment of the group
//! creates nothing and ends as `superseded`.

use crate::aws::codedeploy::{self as cdapi, NewDeployment, ACTIVE};
use crate::aws::s3::{self, ObjectInfo, Upload, UploadSettings};
use crate::aws::{ssm, Clients};
use crate::diag::Diagnostics;
use crate::error::{Error, Result};
use crate::revision::{self, BundleInfo};
use crate::s3url::S3Url;
use crate::shutdown::Shutdown;
use aws_sdk_codedeploy::types::{DeploymentInfo, DeploymentStatus};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where the application archive comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveSource {
    Parameter(String),
    S3(S3Url),
    Local(PathBuf),
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
    pub poll_interval: Duration,
    pub commit: Option<String>,
    pub build_id: Option<String>,
    pub trigger_time: DateTime,
    pub mtime: u64,
    pub upload: UploadSettings,
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

/// The outcome of a deploy run.
#[derive(Debug, Clone, Serialize)]
pub struct DeployOutcome {
    /// `succeeded`, `created` (with --no-wait) or `superseded`.
    pub status: &'static str,
    pub app_archive: String,
    pub app_archive_etag: Option<String>,
    pub app_archive_version_id: Option<String>,
    pub bundle: BundleInfo,
    pub revision: Option<String>,
    pub revision_etag: Option<String>,
    pub revision_version_id: Option<String>,
    pub deployment_id: Option<String>,
    pub final_status: Option<String>,
    pub superseded_by: Option<String>,
    pub steps: Vec<StepTime>,
    pub warnings: Diagnostics,
}

const DESCRIPTION_TAG: &str = "invisible-pipeline";

/// The description of a deployment made here: it carries the trigger time for the stale-run
/// check, and commit and build for people.
pub fn description(trigger: DateTime, commit: Option<&str>, build: Option<&str>) -> String {
    let trigger = trigger
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| trigger.secs().to_string());
    format!(
        "{DESCRIPTION_TAG} trigger={trigger} commit={} build={}",
        commit.unwrap_or("local"),
        build.unwrap_or("local")
    )
}

/// The trigger time in a description written by [`description`].
pub fn trigger_of(description: &str) -> Option<DateTime> {
    let rest = description.strip_prefix(DESCRIPTION_TAG)?;
    let value = rest
        .split_whitespace()
        .find_map(|word| word.strip_prefix("trigger="))?;
    DateTime::from_str(value, Format::DateTime).ok()
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
}

fn log(line: impl AsRef<str>) {
    eprintln!("{}", line.as_ref());
}

/// A newer run's deployment in the group, if any: one made here whose trigger is later.
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
    let infos = cdapi::details(&clients.codedeploy, &ids).await?;
    Ok(infos
        .into_iter()
        .filter_map(|info| {
            let trigger = info.description().and_then(trigger_of)?;
            (trigger > cfg.trigger_time).then_some((trigger, info))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, info)| info))
}

async fn sleep_or_signal(duration: Duration, shutdown: &Shutdown) -> Result<()> {
    tokio::select! {
        biased;
        signal = shutdown.wait() => Err(Error::Interrupted(signal)),
        _ = tokio::time::sleep(duration) => Ok(()),
    }
}

/// Waits until the group is free, by the `--if-busy` policy. Returns the id of a newer run's
/// deployment when this run is superseded.
async fn take_group(
    clients: &Clients,
    cfg: &DeployConfig,
    shutdown: &Shutdown,
) -> Result<Option<String>> {
    let started = Instant::now();
    let budget = cfg.wait_timeout.unwrap_or(Duration::from_secs(3600));
    let mut stopped: Vec<String> = Vec::new();
    loop {
        if let Some(newer) = newer_deployment(clients, cfg).await? {
            return Ok(Some(newer.deployment_id().unwrap_or("?").to_string()));
        }
        let active = cdapi::list(
            &clients.codedeploy,
            &cfg.application,
            &cfg.group,
            &ACTIVE,
            None,
        )
        .await?;
        let Some(first) = active.first() else {
            return Ok(None);
        };
        match cfg.if_busy {
            IfBusy::Fail => {
                return Err(Error::Busy {
                    group: format!("{}/{}", cfg.application, cfg.group),
                    deployment_id: first.clone(),
                })
            }
            IfBusy::StopActive => {
                for id in &active {
                    if !stopped.contains(id) {
                        log(format!(
                            "stopping active deployment {id} (--if-busy stop-active)"
                        ));
                        cdapi::stop(&clients.codedeploy, id).await?;
                        stopped.push(id.clone());
                    }
                }
            }
            IfBusy::Wait => log(format!(
                "deployment group {}/{} is busy with {first}; waiting for it to end",
                cfg.application, cfg.group
            )),
        }
        if started.elapsed() >= budget {
            return Err(Error::Busy {
                group: format!(
                    "{}/{} (still busy after {} s)",
                    cfg.application,
                    cfg.group,
                    budget.as_secs()
                ),
                deployment_id: first.clone(),
            });
        }
        sleep_or_signal(cfg.poll_interval, shutdown).await?;
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

/// What became of an uploaded bundle.
enum Placed {
    Created(String),
    /// A newer trigger's deployment: the id.
    Superseded(String),
}

/// Creates the deployment unless a newer run superseded this one meanwhile. When another
/// deployment takes the group between the look and the call, waits again by `--if-busy`.
async fn place(
    clients: &Clients,
    cfg: &DeployConfig,
    new: &NewDeployment,
    shutdown: &Shutdown,
) -> Result<Placed> {
    const ATTEMPTS: usize = 5;
    // A newer run may have deployed while this one uploaded. Later attempts come straight
    // from `take_group`, which has just made the same check.
    if let Some(newer) = newer_deployment(clients, cfg).await? {
        return Ok(Placed::Superseded(
            newer.deployment_id().unwrap_or("?").to_string(),
        ));
    }
    for attempt in 1..=ATTEMPTS {
        match cdapi::create(&clients.codedeploy, new).await {
            Ok(id) => return Ok(Placed::Created(id)),
            Err(Error::Busy { .. }) if cfg.if_busy != IfBusy::Fail && attempt < ATTEMPTS => {
                log("another deployment took the group meanwhile; waiting again");
                if let Some(newer) = take_group(clients, cfg, shutdown).await? {
                    return Ok(Placed::Superseded(newer));
                }
            }
            Err(err) => return Err(err),
        }
    }
    unreachable!("the last attempt returns")
}

/// Follows a deployment until it ends or `timeout` passes; returns its final status.
async fn follow(
    clients: &Clients,
    id: &str,
    timeout: Duration,
    poll: Duration,
    shutdown: &Shutdown,
) -> Result<DeploymentStatus> {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let info = cdapi::get(&clients.codedeploy, id).await?;
        let line = overview_line(&info);
        if line != last {
            log(&line);
            last = line;
        }
        if let Some(
            s
            @ (DeploymentStatus::Succeeded | DeploymentStatus::Failed | DeploymentStatus::Stopped),
        ) = info.status()
        {
            return Ok(s.clone());
        }
        if started.elapsed() >= timeout {
            return Err(Error::WaitTimeout {
                deployment_id: id.to_string(),
                waited_secs: started.elapsed().as_secs(),
            });
        }
        tokio::select! {
            biased;
            signal = shutdown.wait() => {
                log(format!("{signal}: no longer following deployment {id}; it goes on"));
                return Err(Error::Interrupted(signal));
            }
            _ = tokio::time::sleep(poll) => {}
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

    // The artifact bucket must be in the instances' region (CodeDeploy's rule for EC2).
    let region = s3::bucket_region(&clients.artifact_s3, &cfg.bucket).await?;
    if let Some(region) = region.filter(|r| *r != clients.deploy_region) {
        return Err(Error::Usage(format!(
            "artifact bucket {} is in {region}, but CodeDeploy deploys in {}: CodeDeploy needs the revision in the instances' region; use a bucket there (--artifact-bucket) or set --deploy-region",
            cfg.bucket, clients.deploy_region
        )));
    }

    // (a) The application archive.
    let (app_path, app_label, app_object) = match &cfg.archive {
        ArchiveSource::Local(path) => (
            path.clone(),
            path.display().to_string(),
            ObjectInfo::default(),
        ),
        source => {
            let url = match source {
                ArchiveSource::Parameter(name) => {
                    let url = ssm::archive_location(&clients.ssm, name).await?;
                    log(format!("SSM parameter {name} names {url}"));
                    url
                }
                ArchiveSource::S3(url) => url.clone(),
                ArchiveSource::Local(_) => unreachable!("handled above"),
            };
            let name = url.key.rsplit('/').next().unwrap_or("app-archive");
            let dest = cfg.work_dir.join(format!("app-{name}"));
            log(format!("downloading {url}"));
            let info = tokio::select! {
                biased;
                signal = shutdown.wait() => return Err(Error::Interrupted(signal)),
                info = s3::download(&clients.s3, &url, &dest) => info?,
            };
            (dest, url.to_string(), info)
        }
    };
    timer.lap("download");

    // (b)+(c) Check and build, exactly as the dry run does.
    log(format!(
        "checking {app_label} with {}",
        cfg.codedeploy_dir.display()
    ));
    let checked =
        tokio::task::block_in_place(|| revision::check(&cfg.codedeploy_dir, Some(&app_path)))?;
    if checked.diags.has_errors() {
        return Err(Error::Invalid(checked.diags));
    }
    let ext = match checked
        .app
        .as_ref()
        .map(|a| crate::bundle::BundleType::of(a.compression))
    {
        Some(crate::bundle::BundleType::Tar) => "tar",
        _ => "tgz",
    };
    let bundle_path = cfg.work_dir.join(format!("bundle.{ext}"));
    let bundle =
        tokio::task::block_in_place(|| revision::write_bundle(&checked, &bundle_path, cfg.mtime))?;
    let warnings = checked.diags;
    timer.lap("bundle");

    let mut outcome = DeployOutcome {
        status: "superseded",
        app_archive: app_label,
        app_archive_etag: app_object.etag,
        app_archive_version_id: app_object.version_id,
        // The bundle file lives in the run's temporary folder, gone when the run ends: the
        // summary gives its S3 location (`revision`) instead of a path.
        bundle: BundleInfo {
            path: PathBuf::new(),
            ..bundle
        },
        revision: None,
        revision_etag: None,
        revision_version_id: None,
        deployment_id: None,
        final_status: None,
        superseded_by: None,
        steps: Vec::new(),
        warnings,
    };

    // One deployment at a time per group; the newest trigger wins.
    if let Some(newer) = take_group(clients, cfg, shutdown).await? {
        log(format!(
            "superseded by deployment {newer} of a newer trigger; nothing deployed"
        ));
        outcome.superseded_by = Some(newer);
        timer.lap("wait-for-group");
        outcome.steps = timer.steps;
        return Ok(outcome);
    }
    timer.lap("wait-for-group");

    // (d) Upload, then deploy.
    let key = bundle_key(cfg, ext, DateTime::from(std::time::SystemTime::now()));
    let mut metadata =
        std::collections::HashMap::from([("sha256".to_string(), outcome.bundle.sha256.clone())]);
    if let Some(commit) = &cfg.commit {
        metadata.insert("source-commit".to_string(), commit.clone());
    }
    let upload = Upload {
        bucket: cfg.bucket.clone(),
        key: key.clone(),
        path: bundle_path,
        size: outcome.bundle.size_bytes,
        kms_key_id: cfg.kms_key_id.clone(),
        metadata,
    };
    log(format!(
        "uploading {} bytes to s3://{}/{key}",
        upload.size, cfg.bucket
    ));
    let uploaded = s3::upload(&clients.artifact_s3, &upload, cfg.upload, shutdown).await?;
    let revision = format!("s3://{}/{key}", cfg.bucket);
    outcome.revision = Some(revision.clone());
    outcome.revision_etag = uploaded.etag.clone();
    outcome.revision_version_id = uploaded.version_id.clone();
    timer.lap("upload");

    let new = NewDeployment {
        application: cfg.application.clone(),
        group: cfg.group.clone(),
        config: cfg.deployment_config.clone(),
        description: description(
            cfg.trigger_time,
            cfg.commit.as_deref(),
            cfg.build_id.as_deref(),
        ),
        bucket: cfg.bucket.clone(),
        key: key.clone(),
        bundle_type: outcome.bundle.bundle_type,
        etag: uploaded.etag.clone(),
        version_id: uploaded.version_id.clone(),
        file_exists_behavior: cfg.file_exists_behavior.clone(),
        ignore_application_stop_failures: cfg.ignore_application_stop_failures,
    };
    let id = match place(clients, cfg, &new, shutdown).await {
        Ok(Placed::Created(id)) => id,
        unplaced => {
            // Nothing will deploy this bundle: leave no orphan behind.
            log("removing the bundle, which nothing will deploy");
            if let Err(err) = s3::delete(
                &clients.artifact_s3,
                &cfg.bucket,
                &key,
                uploaded.version_id.as_deref(),
            )
            .await
            {
                log(format!("warning: {err}"));
            }
            outcome.revision = None;
            outcome.steps = timer.steps;
            let Placed::Superseded(newer) = unplaced? else {
                unreachable!("created is handled above")
            };
            log(format!(
                "superseded by deployment {newer} of a newer trigger; nothing deployed"
            ));
            outcome.superseded_by = Some(newer);
            return Ok(outcome);
        }
    };
    log(format!("created deployment {id} of {revision}"));
    outcome.deployment_id = Some(id.clone());
    timer.lap("create-deployment");
    if let Some(path) = &cfg.export_file {
        write_exports(path, &id, &revision, &outcome.bundle.sha256)?;
    }

    let Some(timeout) = cfg.wait_timeout else {
        outcome.status = "created";
        outcome.steps = timer.steps;
        return Ok(outcome);
    };
    let status = follow(clients, &id, timeout, cfg.poll_interval, shutdown).await?;
    timer.lap("deployment");
    outcome.steps = timer.steps;
    outcome.final_status = Some(status.as_str().to_string());
    if let Err(err) = s3::tag_status(
        &clients.artifact_s3,
        &cfg.bucket,
        &key,
        uploaded.version_id.as_deref(),
        status.as_str(),
    )
    .await
    {
        log(format!("warning: {err}"));
    }
    match status {
        DeploymentStatus::Succeeded => {
            outcome.status = "succeeded";
            Ok(outcome)
        }
        DeploymentStatus::Stopped => match newer_deployment(clients, cfg).await? {
            Some(newer) => {
                let newer = newer.deployment_id().unwrap_or("?").to_string();
                log(format!(
                    "deployment {id} was stopped for deployment {newer} of a newer trigger"
                ));
                outcome.superseded_by = Some(newer);
                Ok(outcome)
            }
            None => Err(Error::DeploymentFailed {
                deployment_id: id,
                status: "was stopped".into(),
                details: Vec::new(),
            }),
        },
        _ => Err(Error::DeploymentFailed {
            details: cdapi::failure_details(&clients.codedeploy, &id).await,
            deployment_id: id,
            status: "failed".into(),
        }),
    }
}

/// `KEY=value` lines for the buildspec to export.
fn write_exports(path: &std::path::Path, id: &str, revision: &str, sha256: &str) -> Result<()> {
    let text = format!("DEPLOYMENT_ID={id}\nBUNDLE_LOCATION={revision}\nBUNDLE_SHA256={sha256}\n");
    std::fs::write(path, text).map_err(|e| Error::io("cannot write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_round_trips_the_trigger() {
        let t = DateTime::from_str("2026-11-26T06:00:00Z", Format::DateTime).unwrap();
        let d = description(t, Some("abc123"), Some("proj:42"));
        assert_eq!(
            d,
            "invisible-pipeline trigger=2026-11-26T06:00:00Z commit=abc123 build=proj:42"
        );
        assert_eq!(trigger_of(&d), Some(t));
        assert_eq!(trigger_of("deployed by hand"), None);
        assert_eq!(trigger_of("invisible-pipeline trigger=garbage"), None);
    }
}
