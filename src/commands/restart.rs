//! `restart`: runs the deployment group's last successful revision again from the copy on each
//! instance (CreateDeployment with `deploymentMode: RESTART`, no revision, no download; agent
//! 2.1.0 or later), with `deploy`'s rules for a busy group (one deployment at a time, the
//! newest trigger wins: a restart's trigger is now) and its following and reporting.
//!
//! CodeDeploy resolves the revision itself; the group's newest success is read first only to
//! refuse a group with none before anything is created, and to say what will run again.

use crate::aws::Clients;
use crate::base::error::{Error, Result};
use crate::base::shutdown::Shutdown;
use crate::base::term::log;
use crate::bundle::writer::BundleFormat;
use crate::deployment::config::BundleObject;
use crate::deployment::redeploy::{redeploy, successes};
use crate::deployment::{self, DeployConfig, Outcome};
use aws_sdk_codedeploy::types::{BundleType, DeploymentInfo};
use serde::Serialize;

/// The summary of a restart.
#[derive(Debug, Clone, Serialize)]
pub struct RestartOutcome {
    pub status: Outcome,
    /// The group's last successful deployment, whose revision runs again.
    pub restart_of: String,
    /// That deployment's revision, when it names one in S3.
    pub revision: Option<String>,
    pub revision_version_id: Option<String>,
    pub commit: Option<String>,
    pub build: Option<String>,
    pub deployment_id: Option<String>,
    pub final_status: Option<String>,
    pub superseded_by: Option<String>,
}

/// The revision `live` deployed, as the restart's own record of it: CodeDeploy is not told
/// (it resolves the revision); after a success its status tag says `Live` when it is one of
/// this tool's bundles (under `prefix`; else the key is left empty and no tag is touched).
fn live_object(live: &DeploymentInfo, prefix: &str) -> BundleObject {
    let s3 = live.revision().and_then(|r| r.s3_location());
    let key = s3.and_then(|s| s.key()).unwrap_or_default();
    let prefix = prefix.trim_matches('/');
    let ours = prefix.is_empty()
        || key
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'));
    BundleObject {
        bucket: s3.and_then(|s| s.bucket()).unwrap_or_default().to_string(),
        key: if ours { key.to_string() } else { String::new() },
        version_id: s3.and_then(|s| s.version()).map(str::to_string),
        etag: s3.and_then(|s| s.e_tag()).map(str::to_string),
        bundle_type: match s3.and_then(|s| s.bundle_type()) {
            Some(BundleType::Tar) => BundleFormat::Tar,
            _ => BundleFormat::Tgz,
        },
    }
}

/// Runs the restart: the group's newest success (refused when there is none), then the
/// group taken, the RESTART deployment created once and followed.
pub async fn run(
    clients: &Clients,
    cfg: &DeployConfig,
    shutdown: &Shutdown,
) -> Result<RestartOutcome> {
    let group_name = cfg.group_name();
    let successes = successes(clients, &cfg.application, &cfg.group, shutdown).await?;
    let Some(live) = successes.first() else {
        return Err(Error::Refused(format!(
            "no deployment of {group_name} has succeeded: a restart runs the last successful revision again, and there is none (deploy first)"
        )));
    };
    let live_id = live.deployment_id().unwrap_or("?").to_string();
    let object = live_object(live, &cfg.prefix);
    let description = live.description().unwrap_or_default();
    let source = deployment::CommitInfo::of(description);
    let commit = source.id.clone();
    let build = deployment::field_of(description, "build");
    let cfg = DeployConfig {
        commit: source,
        build_id: build.clone(),
        bucket: object.bucket.clone(),
        ..cfg.clone()
    };
    let revision = crate::deployment::redeploy::revision_of(live)
        .map(|(bucket, key, _)| format!("s3://{bucket}/{key}"));
    log(format!(
        "restarting {group_name}: the revision of deployment {live_id}{} runs again from the copy on each instance",
        revision.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
    ));
    let mut outcome = RestartOutcome {
        status: Outcome::Superseded,
        restart_of: live_id.clone(),
        revision,
        revision_version_id: object.version_id.clone(),
        commit,
        build,
        deployment_id: None,
        final_status: None,
        superseded_by: None,
    };
    let description = deployment::description_noting(
        cfg.trigger_time,
        &cfg.commit,
        cfg.build_id.as_deref(),
        &[("restart-of", &live_id)],
    );
    let new = cfg.restart_of(object, description);
    let done = redeploy(clients, &cfg, &new, None, shutdown).await?;
    outcome.status = done.status;
    outcome.deployment_id = done.deployment_id;
    outcome.final_status = done.final_status;
    outcome.superseded_by = done.superseded_by;
    Ok(outcome)
}
