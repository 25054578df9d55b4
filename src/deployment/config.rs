//! What one run of the engine is told: where the release comes from, the group it deploys to,
//! how long it waits and how it uploads, and how a run that did not fail ended.

use crate::aws::codedeploy::NewDeployment;
use crate::aws::s3::UploadSettings;
use crate::aws::s3url::S3Url;
use crate::bundle::writer::BundleFormat;
use crate::deployment::description::{description_word, RunKey};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

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

/// When following a deployment ends (`--wait-for`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaitFor {
    /// The deployment's end: for blue/green, after the original fleet's termination wait.
    #[default]
    Succeeded,
    /// Blue/green: as soon as traffic is on the replacement fleet (the original fleet's
    /// termination wait can last days); in place, the same as succeeded.
    Traffic,
}

/// What a deploy does outside its deployment window (`--if-outside-window`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IfOutsideWindow {
    /// Wait until the window opens (within `--wait-timeout`; exit 7 past it).
    #[default]
    Wait,
    /// Fail with exit code 9, saying when the window opens.
    Fail,
}

/// The resolved configuration of one deploy run.
#[derive(Debug, Clone)]
pub struct DeployConfig {
    pub archive: ArchiveSource,
    /// What the checks hold the revision to (`--agent`, `--strict-agent`).
    pub rules: crate::rules::Rules,
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
    /// When following ends (`--wait-for`).
    pub wait_for: WaitFor,
    /// When the deployment may be created (`--deploy-window`, `--freeze`): always when empty.
    pub schedule: crate::deployment::window::Schedule,
    pub if_outside_window: IfOutsideWindow,
    /// Blue/green with a tag-chosen replacement fleet: its EC2 tags (`--green-fleet-tag`).
    pub green_fleet_tags: Vec<(String, String)>,
    /// The commit deployed: id, branch, author and subject.
    pub commit: crate::deployment::description::CommitInfo,
    pub build_id: Option<String>,
    /// The CodeBuild build's ARN (`$CODEBUILD_BUILD_ARN`): its console link.
    pub build_arn: Option<String>,
    /// Check the group, its instances and its service role before anything is uploaded
    /// (off: `--no-preflight`).
    pub preflight: bool,
    /// Rollback and promote of a bundle known to be good: the deployment is created with the
    /// group's alarms off (`--ignore-alarms`, CreateDeployment's overrideAlarmConfiguration).
    pub ignore_alarms: bool,
    pub trigger_time: DateTime,
    pub mtime: u64,
    pub upload: UploadSettings,
    pub upload_mode: UploadMode,
    pub export_file: Option<PathBuf>,
    /// Where bundles and downloads are written while the run lasts.
    pub work_dir: PathBuf,
}

impl DeployConfig {
    pub(crate) fn run_key(&self) -> RunKey {
        RunKey {
            trigger: self.trigger_time,
            build: description_word(self.build_id.as_deref()),
        }
    }

    pub(crate) fn group_name(&self) -> String {
        format!("{}/{}", self.application, self.group)
    }

    /// The deployment of a bundle in S3 to this run's group, as CreateDeployment is asked
    /// for it.
    pub(crate) fn deployment_of(&self, bundle: BundleObject, description: String) -> NewDeployment {
        NewDeployment {
            application: self.application.clone(),
            group: self.group.clone(),
            config: self.deployment_config.clone(),
            description,
            bucket: bundle.bucket,
            key: bundle.key,
            bundle_type: bundle.bundle_type,
            etag: bundle.etag,
            version_id: bundle.version_id,
            file_exists_behavior: self.file_exists_behavior.clone(),
            ignore_application_stop_failures: self.ignore_application_stop_failures,
            restart: false,
            green_fleet_tags: self.green_fleet_tags.clone(),
            ignore_alarms: self.ignore_alarms,
        }
    }

    /// A restart of this run's group (`deploymentMode: RESTART`): its last successful
    /// revision, `live`, run again from the copy on each instance.
    pub(crate) fn restart_of(&self, live: BundleObject, description: String) -> NewDeployment {
        NewDeployment {
            restart: true,
            ..self.deployment_of(live, description)
        }
    }

    /// How long waiting (for the group, for the deployment) may last.
    pub(crate) fn budget(&self) -> Duration {
        self.busy_timeout
    }
}

/// A bundle's object in S3: what a deployment names.
pub(crate) struct BundleObject {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    pub etag: Option<String>,
    pub bundle_type: BundleFormat,
}

/// Time taken by one step.
#[derive(Debug, Clone, Serialize)]
pub struct StepTime {
    pub step: &'static str,
    pub seconds: f64,
    /// Bytes the step wrote to the local disk (the download, the bundle).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_written: Option<u64>,
}

/// How a run that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The deployment succeeded.
    Succeeded,
    /// Blue/green, `--wait-for traffic`: traffic is on the replacement fleet; the deployment
    /// goes on through the original fleet's termination wait.
    TrafficMoved,
    /// The deployment was created and not followed (`--no-wait`).
    Created,
    /// A newer trigger's deployment made this run's moot; nothing of it is deployed.
    Superseded,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::TrafficMoved => "traffic-moved",
            Outcome::Created => "created",
            Outcome::Superseded => "superseded",
        }
    }
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
        cfg.commit.id.as_deref().unwrap_or("local")
    );
    if prefix.is_empty() {
        tail
    } else {
        format!("{prefix}/{tail}")
    }
}
