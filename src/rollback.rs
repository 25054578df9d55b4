//! `rollback`: deploys again the revision of an earlier deployment of the group — the same
//! S3 object version, never rebuilt — with `deploy`'s rules for a busy group (one deployment
//! at a time, the newest trigger wins: a rollback's trigger is now) and its following and
//! reporting. The bundle is checked before anything is created: it must still exist, with the
//! ETag the earlier deployment recorded.

use crate::aws::codedeploy::{self as cdapi, NewDeployment};
use crate::aws::Clients;
use crate::bundle::BundleType;
use crate::deploy::{self, BundleRef, DeployConfig, Group, NotPlaced, Outcome, Placed};
use crate::error::{Error, Result};
use crate::shutdown::Shutdown;
use aws_sdk_codedeploy::types::{BundleType as CdBundleType, DeploymentInfo, DeploymentStatus};
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

fn revision_of(info: &DeploymentInfo) -> Option<(String, String, Option<String>)> {
    let s3 = info.revision()?.s3_location()?;
    Some((
        s3.bucket()?.to_string(),
        s3.key()?.to_string(),
        s3.version().map(str::to_string),
    ))
}

/// The deployment to go back to, and the one live now: `--to`, or the newest success whose
/// revision differs from the newest success's (whatever made either: this tool, a person,
/// CodeDeploy's automatic rollback).
pub fn choose(
    successes: &[DeploymentInfo],
    to: Option<DeploymentInfo>,
    group: &str,
) -> Result<(DeploymentInfo, Option<String>)> {
    let live = successes.first();
    let live_id = live.and_then(|l| l.deployment_id()).map(str::to_string);
    if let Some(target) = to {
        return Ok((target, live_id));
    }
    let Some(live) = live else {
        return Err(Error::Refused(format!(
            "no deployment of {group} has succeeded: there is nothing to roll back to"
        )));
    };
    let live_revision = revision_of(live);
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

/// The S3 revision of an earlier deployment, checked: still there, unchanged.
pub(crate) struct Revision {
    pub bucket: String,
    pub key: String,
    pub version: Option<String>,
    /// The ETag S3 gives now, which the deployment recorded (when it recorded one).
    pub etag: Option<String>,
    pub bundle_type: BundleType,
    pub found: crate::aws::s3::Found,
    /// `s3://bucket/key (version …)`, for messages.
    pub location: String,
}

/// The revision `info` deployed, refused (exit 8) when it is not a tar or tgz bundle in S3,
/// when it is gone (HeadObject on the version: 404 or 405), or when its ETag is not the one the
/// deployment recorded: never other bytes under its name.
pub(crate) async fn check_revision(
    clients: &Clients,
    info: &DeploymentInfo,
    shutdown: &Shutdown,
) -> Result<Revision> {
    let id = info.deployment_id().unwrap_or("?");
    let s3loc = info
        .revision()
        .and_then(|r| r.s3_location())
        .ok_or_else(|| {
            Error::Refused(format!(
                "deployment {id} did not deploy a revision in S3: nothing this tool can redeploy"
            ))
        })?;
    let (bucket, key) = match (s3loc.bucket(), s3loc.key()) {
        (Some(b), Some(k)) => (b.to_string(), k.to_string()),
        _ => {
            return Err(Error::Refused(format!(
                "deployment {id} names no bucket and key"
            )))
        }
    };
    let bundle_type = match s3loc.bundle_type() {
        Some(CdBundleType::Tar) => BundleType::Tar,
        Some(CdBundleType::TarGZip) => BundleType::Tgz,
        other => {
            return Err(Error::Refused(format!(
                "deployment {id} deployed a {} revision; this tool redeploys tar and tgz bundles",
                other.map_or("bundle type-less", |t| t.as_str())
            )))
        }
    };
    let version = s3loc.version().map(str::to_string);
    let location = format!(
        "s3://{bucket}/{key}{}",
        version
            .as_deref()
            .map(|v| format!(" (version {v})"))
            .unwrap_or_default()
    );
    let found = shutdown
        .guard(crate::aws::s3::head_version(
            &clients.artifact_s3,
            &bucket,
            &key,
            version.as_deref(),
        ))
        .await?;
    let Some(found) = found else {
        return Err(Error::Refused(format!(
            "the bundle of deployment {id}, {location}, no longer exists (the bucket's lifecycle rules expire old bundles): nothing to deploy; pick another deployment (see `history`)"
        )));
    };
    if let Some(then) = s3loc.e_tag() {
        if found.etag.trim_matches('"') != then.trim_matches('"') {
            return Err(Error::Refused(format!(
                "the bundle of deployment {id}, {location}, changed since it was deployed (ETag {then}, now {}): refusing to deploy other bytes under its name",
                found.etag
            )));
        }
    }
    Ok(Revision {
        bucket,
        key,
        version,
        etag: Some(found.etag.clone()),
        bundle_type,
        found,
        location,
    })
}

/// Removes a copy this run made and nothing will deploy; a failure to is only a warning.
pub(crate) async fn drop_copy(clients: &Clients, copy: Option<crate::aws::s3::Uploaded>) {
    if let Some(copy) = copy {
        crate::output::log(format!(
            "removing the copy {}, which nothing will deploy",
            copy.location()
        ));
        if let Err(err) = copy.discard(&clients.artifact_s3).await {
            crate::output::log(format!("warning: {err}"));
        }
    }
}

/// How deploying an existing bundle again ended, when that is not an error.
pub(crate) struct Redeployed {
    pub status: Outcome,
    pub deployment_id: Option<String>,
    pub final_status: Option<String>,
    pub superseded_by: Option<String>,
}

/// What `rollback` and `promote` share once the bundle is settled: `deploy`'s busy-group and
/// newest-trigger rules, CreateDeployment of `new` (its description already written), and the
/// following. A `copy` this run made is removed when nothing will deploy it; any other bundle
/// is never removed, nor re-tagged when the deployment fails.
pub(crate) async fn redeploy(
    clients: &Clients,
    cfg: &DeployConfig,
    new: &NewDeployment,
    copy: Option<crate::aws::s3::Uploaded>,
    shutdown: &Shutdown,
) -> Result<Redeployed> {
    let superseded = |newer: String| {
        crate::output::log(format!(
            "superseded by deployment {newer} of a newer trigger; nothing deployed"
        ));
        Redeployed {
            status: Outcome::Superseded,
            deployment_id: None,
            final_status: None,
            superseded_by: Some(newer),
        }
    };
    match deploy::take_group(clients, cfg, None, shutdown).await {
        Err(err) => {
            drop_copy(clients, copy).await;
            return Err(err);
        }
        Ok(Group::Superseded(newer)) => {
            drop_copy(clients, copy).await;
            return Ok(superseded(newer));
        }
        Ok(Group::Free | Group::Ours(_)) => {}
    }
    let id = match deploy::place(clients, cfg, new, shutdown).await {
        Ok(Placed::Created(id) | Placed::Adopted(id)) => id,
        Ok(Placed::Superseded(newer)) => {
            drop_copy(clients, copy).await;
            return Ok(superseded(newer));
        }
        Err(NotPlaced {
            error,
            maybe_created,
        }) => {
            // A copy stays only when a deployment of it may exist.
            if !maybe_created {
                drop_copy(clients, copy).await;
            }
            return Err(error);
        }
    };
    crate::output::log(format!(
        "created deployment {id} of s3://{}/{} in {}/{}",
        new.bucket, new.key, new.application, new.group
    ));
    let Some(timeout) = cfg.wait_timeout else {
        return Ok(Redeployed {
            status: Outcome::Created,
            deployment_id: Some(id),
            final_status: None,
            superseded_by: None,
        });
    };
    let info = deploy::follow(clients, cfg, &id, timeout, shutdown).await?;
    let bundle = match &copy {
        Some(copy) => BundleRef::Own(copy),
        None => BundleRef::Existing {
            key: &new.key,
            version: new.version_id.as_deref(),
        },
    };
    let ended = deploy::conclude(clients, cfg, bundle, info, shutdown).await?;
    Ok(Redeployed {
        status: ended.status,
        deployment_id: Some(id),
        final_status: Some(ended.final_status),
        superseded_by: ended.superseded_by,
    })
}

/// Runs the rollback: choose, check the bundle, take the group, create, follow.
pub async fn run(
    clients: &Clients,
    cfg: &DeployConfig,
    to: Option<&str>,
    shutdown: &Shutdown,
) -> Result<RollbackOutcome> {
    let cd = &clients.codedeploy;
    let wanted = match to {
        Some(id) => {
            let info = shutdown.guard(cdapi::get(cd, id)).await?;
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
            Some(info)
        }
        None => None,
    };
    let ids = shutdown
        .guard(cdapi::list(
            cd,
            &cfg.application,
            &cfg.group,
            &[DeploymentStatus::Succeeded],
            None,
        ))
        .await?;
    let successes =
        crate::history::newest_first(shutdown.guard(cdapi::details(cd, &ids)).await?, usize::MAX);
    let group_name = format!("{}/{}", cfg.application, cfg.group);
    let (target, replaced) = choose(&successes, wanted, &group_name)?;
    let target_id = target.deployment_id().unwrap_or("?").to_string();
    let Revision {
        bucket,
        key,
        version,
        etag,
        bundle_type,
        location,
        ..
    } = check_revision(clients, &target, shutdown).await?;
    let description = target.description().unwrap_or_default();
    let commit = deploy::field_of(description, "commit");
    let build = deploy::field_of(description, "build");
    let sha256 = deploy::field_of(description, "sha256").unwrap_or_default();
    let cfg = DeployConfig {
        commit: commit.clone(),
        build_id: build.clone(),
        ..cfg.clone()
    };
    let mut outcome = RollbackOutcome {
        status: Outcome::Superseded,
        rollback_of: target_id.clone(),
        replaced,
        revision: format!("s3://{bucket}/{key}"),
        revision_version_id: version.clone(),
        revision_etag: etag.clone(),
        commit,
        build,
        deployment_id: None,
        final_status: None,
        superseded_by: None,
    };
    crate::output::log(format!(
        "rolling {group_name} back to the revision of deployment {target_id}: {location}"
    ));
    let new = NewDeployment {
        application: cfg.application.clone(),
        group: cfg.group.clone(),
        config: cfg.deployment_config.clone(),
        description: deploy::description_noting(
            cfg.trigger_time,
            cfg.commit.as_deref(),
            cfg.build_id.as_deref(),
            &[("sha256", &sha256), ("rollback-of", &target_id)],
        ),
        bucket: bucket.clone(),
        key: key.clone(),
        bundle_type,
        etag,
        version_id: version.clone(),
        file_exists_behavior: cfg.file_exists_behavior.clone(),
        ignore_application_stop_failures: cfg.ignore_application_stop_failures,
    };
    // The bundle is not this run's: whatever happens, it is never deleted.
    let done = redeploy(clients, &cfg, &new, None, shutdown).await?;
    outcome.status = done.status;
    outcome.deployment_id = done.deployment_id;
    outcome.final_status = done.final_status;
    outcome.superseded_by = done.superseded_by;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codedeploy::types::{RevisionLocation, RevisionLocationType, S3Location};

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

    #[test]
    fn nothing_to_go_back_to_is_refused() {
        let err = choose(&[], None, "app/web").unwrap_err();
        assert!(err.to_string().contains("nothing to roll back to"), "{err}");
        let only = [success("d-1", "b/one.tgz", "v1")];
        let err = choose(&only, None, "app/web").unwrap_err();
        assert!(err.to_string().contains("--to"), "{err}");
        assert_eq!(err.exit_code(), crate::error::exit::REFUSED);
    }
}
