//! `rollback`: deploys again the revision of an earlier deployment of the group — the same
//! S3 object version, never rebuilt — with `deploy`'s rules for a busy group (one deployment
//! at a time, the newest trigger wins: a rollback's trigger is now) and its following and
//! reporting. The bundle is checked before anything is created: it must still exist, with the
//! ETag the earlier deployment recorded.

use crate::aws::codedeploy as cdapi;
use crate::aws::Clients;
use crate::base::error::{Error, Result};
use crate::base::shutdown::Shutdown;
use crate::base::term::log;
use crate::deployment::redeploy::{check_revision, redeploy, revision_of, successes};
use crate::deployment::{self, DeployConfig, Outcome};
use aws_sdk_codedeploy::types::DeploymentInfo;
use serde::Serialize;

/// The summary of a rollback.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackOutcome {
    pub status: Outcome,
    /// The deployment whose revision was deployed again.
    pub rollback_of: String,
    /// The deployment live before the rollback, when there was one.
    pub replaced: Option<String>,
    pub revision: String,
    pub revision_version_id: Option<String>,
    pub revision_etag: Option<String>,
    pub commit: Option<String>,
    pub build: Option<String>,
    pub deployment_id: Option<String>,
    pub final_status: Option<String>,
    pub superseded_by: Option<String>,
}

/// The deployment to go back to, and the one live now: `--to`, or the newest success whose
/// revision differs from the newest success's (whatever made either: this tool, a person,
/// CodeDeploy's automatic rollback).
pub(crate) fn choose(
    successes: &[DeploymentInfo],
    to: Option<DeploymentInfo>,
    group: &str,
) -> Result<(DeploymentInfo, Option<String>)> {
    let live = successes.first();
    let live_id = live.and_then(|l| l.deployment_id()).map(str::to_string);
    if let Some(target) = to {
        return Ok((target, live_id));
    }
    if live.is_none() {
        return Err(Error::Refused(format!(
            "no deployment of {group} has succeeded: there is nothing to roll back to"
        )));
    }
    // A restart (deploymentMode RESTART) ran the revision before it again, and may name none.
    let live_revision = successes.iter().find_map(revision_of);
    successes
        .iter()
        .skip(1)
        .find(|d| revision_of(d).is_some() && revision_of(d) != live_revision)
        .cloned()
        .map(|d| (d, live_id.clone()))
        .ok_or_else(|| {
            Error::Refused(format!(
                "no earlier successful deployment of {group} deployed another revision than the live one ({}): nothing to roll back to; name one with --to (see `history`)",
                live_id.as_deref().unwrap_or("?")
            ))
        })
}

/// Runs the rollback: choose, check the bundle, take the group, create, follow.
pub async fn run(
    clients: &Clients,
    cfg: &DeployConfig,
    to: Option<&str>,
    shutdown: &Shutdown,
) -> Result<RollbackOutcome> {
    let wanted = match to {
        Some(id) => Some(named_deployment(clients, cfg, id, shutdown).await?),
        None => None,
    };
    let successes = successes(clients, &cfg.application, &cfg.group, shutdown).await?;
    let group_name = format!("{}/{}", cfg.application, cfg.group);
    let (target, replaced) = choose(&successes, wanted, &group_name)?;
    let target_id = target.deployment_id().unwrap_or("?").to_string();
    let revision = check_revision(clients, &target, shutdown).await?;
    let description = target.description().unwrap_or_default();
    let source = deployment::CommitInfo::of(description);
    let commit = source.id.clone();
    let build = deployment::field_of(description, "build");
    let sha256 = deployment::field_of(description, "sha256").unwrap_or_default();
    let cfg = DeployConfig {
        commit: source,
        build_id: build.clone(),
        ..cfg.clone()
    };
    let mut outcome = RollbackOutcome {
        status: Outcome::Superseded,
        rollback_of: target_id.clone(),
        replaced,
        revision: format!("s3://{}/{}", revision.bucket, revision.key),
        revision_version_id: revision.version.clone(),
        revision_etag: revision.etag.clone(),
        commit,
        build,
        deployment_id: None,
        final_status: None,
        superseded_by: None,
    };
    log(format!(
        "rolling {group_name} back to the revision of deployment {target_id}: {}",
        revision.location
    ));
    let description = deployment::description_noting(
        cfg.trigger_time,
        &cfg.commit,
        cfg.build_id.as_deref(),
        &[
            ("sha256", &sha256),
            ("rollback-of", &target_id),
            ("alarms", if cfg.ignore_alarms { "ignored" } else { "" }),
        ],
    );
    let new = cfg.deployment_of(revision.object(), description);
    // The bundle is not this run's: whatever happens, it is never deleted.
    let done = redeploy(clients, &cfg, &new, None, shutdown).await?;
    outcome.status = done.status;
    outcome.deployment_id = done.deployment_id;
    outcome.final_status = done.final_status;
    outcome.superseded_by = done.superseded_by;
    Ok(outcome)
}

/// `--to`: the deployment named, which must be of this group.
async fn named_deployment(
    clients: &Clients,
    cfg: &DeployConfig,
    id: &str,
    shutdown: &Shutdown,
) -> Result<DeploymentInfo> {
    let info = shutdown.guard(cdapi::get(&clients.codedeploy, id)).await?;
    let (app, group) = (
        info.application_name().unwrap_or_default(),
        info.deployment_group_name().unwrap_or_default(),
    );
    if (app, group) != (cfg.application.as_str(), cfg.group.as_str()) {
        return Err(Error::Usage(format!(
            "--to {id}: that deployment is of {app}/{group}, not of {}/{}",
            cfg.application, cfg.group
        )));
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codedeploy::types::{
        DeploymentMode, DeploymentStatus, RevisionLocation, RevisionLocationType, S3Location,
    };

    fn success(id: &str, key: &str, version: &str) -> DeploymentInfo {
        DeploymentInfo::builder()
            .deployment_id(id)
            .status(DeploymentStatus::Succeeded)
            .revision(
                RevisionLocation::builder()
                    .revision_type(RevisionLocationType::S3)
                    .s3_location(
                        S3Location::builder()
                            .bucket("art")
                            .key(key)
                            .version(version)
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    #[test]
    fn the_target_is_the_newest_success_with_another_revision() {
        // d-3 is live; d-2 redeployed the same object version (a retry): skipped.
        let successes = [
            success("d-3", "b/three.tgz", "v3"),
            success("d-2", "b/three.tgz", "v3"),
            success("d-1", "b/one.tgz", "v1"),
        ];
        let (target, live) = choose(&successes, None, "app/web").unwrap();
        assert_eq!(target.deployment_id(), Some("d-1"));
        assert_eq!(live.as_deref(), Some("d-3"));
        // A new version of the same key is another revision.
        let successes = [
            success("d-3", "b/three.tgz", "v4"),
            success("d-2", "b/three.tgz", "v3"),
        ];
        let (target, _) = choose(&successes, None, "app/web").unwrap();
        assert_eq!(target.deployment_id(), Some("d-2"));
    }

    /// A restart (deploymentMode RESTART) ran the revision before it again; whether or not
    /// CodeDeploy shows that revision on it, the rollback goes back past it.
    #[test]
    fn a_restart_is_the_live_revision_again() {
        let restart = DeploymentInfo::builder()
            .deployment_id("d-4")
            .status(DeploymentStatus::Succeeded)
            .deployment_mode(DeploymentMode::Restart)
            .build();
        let successes = [
            restart.clone(),
            success("d-3", "b/three.tgz", "v3"),
            success("d-1", "b/one.tgz", "v1"),
        ];
        let (target, live) = choose(&successes, None, "app/web").unwrap();
        assert_eq!(target.deployment_id(), Some("d-1"));
        assert_eq!(live.as_deref(), Some("d-4"));
        let shown = DeploymentInfo::builder()
            .deployment_id("d-4")
            .status(DeploymentStatus::Succeeded)
            .deployment_mode(DeploymentMode::Restart)
            .set_revision(successes[1].revision().cloned())
            .build();
        let successes = [shown, successes[1].clone(), successes[2].clone()];
        let (target, _) = choose(&successes, None, "app/web").unwrap();
        assert_eq!(target.deployment_id(), Some("d-1"));
    }

    #[test]
    fn nothing_to_go_back_to_is_refused() {
        let err = choose(&[], None, "app/web").unwrap_err();
        assert!(err.to_string().contains("nothing to roll back to"), "{err}");
        let only = [success("d-1", "b/one.tgz", "v1")];
        let err = choose(&only, None, "app/web").unwrap_err();
        assert!(err.to_string().contains("--to"), "{err}");
        assert_eq!(err.exit_code(), crate::base::error::exit::REFUSED);
    }
}
