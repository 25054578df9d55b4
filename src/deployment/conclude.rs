//! How a followed deployment ends: its result becomes the run's, and the bundles a rollback
//! needs are kept by their S3 status tag.

use crate::aws::codedeploy as cdapi;
use crate::aws::s3::{self, Uploaded};
use crate::aws::Clients;
use crate::base::error::{Error, Result};
use crate::base::shutdown::Shutdown;
use crate::base::term::log;
use crate::deployment::alarms;
use crate::deployment::config::{DeployConfig, Outcome};
use crate::deployment::group::newer_deployment;
use aws_sdk_codedeploy::types::DeploymentStatus;
use aws_smithy_types::DateTime;
use std::time::Duration;

/// How far back successful deployments are looked at: the lifecycle rules keep a `Succeeded`
/// bundle this long.
const SUCCESS_HORIZON: Duration = Duration::from_secs(400 * 24 * 3600);

/// Step: the bundles of the two latest successful deployments of the group (the live one,
/// and the one a rollback goes back to) are tagged `Live`, which no lifecycle rule expires;
/// the one they displace becomes `Succeeded`. Run before each upload (so that `--no-wait`
/// pipelines keep theirs too) and after a success. Best effort: a failure is a warning.
pub(crate) async fn keep_rollback_targets(
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
            let tag = s3::status_tag();
            let status = if i < 2 { &tag.live } else { &tag.succeeded };
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

/// Step: the run's result is the deployment's; the bundle is tagged with it, for the
/// lifecycle rules that keep what a rollback needs.
pub(crate) async fn conclude(
    clients: &Clients,
    cfg: &DeployConfig,
    bundle: BundleRef<'_>,
    followed: crate::deployment::follow::Followed,
    shutdown: &Shutdown,
) -> Result<Ended> {
    let info = followed.info;
    let id = info.deployment_id().unwrap_or("?").to_string();
    let status = info.status().cloned().unwrap_or(DeploymentStatus::Failed);
    let final_status = status.as_str().to_string();
    // Blue/green, `--wait-for traffic`: the bundle serves; the deployment goes on.
    let traffic_moved = followed.phase == crate::deployment::phase::Phase::TrafficMoved;
    let (key, version) = match &bundle {
        BundleRef::Own(up) => (up.key(), up.version_id.as_deref()),
        BundleRef::Existing { key, version } => (*key, *version),
    };
    if status == DeploymentStatus::Succeeded || traffic_moved {
        // An empty key: a restart of a revision that is not one of this tool's bundles.
        let own = (!key.is_empty()).then_some((id.as_str(), key, version));
        keep_rollback_targets(clients, cfg, own, shutdown).await?;
    } else if let BundleRef::Own(up) = bundle {
        let tag = s3::status_tag();
        let value = match status {
            DeploymentStatus::Stopped => &tag.stopped,
            _ => &tag.failed,
        };
        if let Err(err) = shutdown
            .guard(s3::tag_status(&clients.artifact_s3, up, value))
            .await
        {
            log(format!("warning: {err}"));
        }
    }
    if traffic_moved {
        return Ok(Ended {
            status: Outcome::TrafficMoved,
            final_status,
            superseded_by: None,
        });
    }
    // Stopped (or failed) by CloudWatch alarms: named, with their state and reason.
    if status != DeploymentStatus::Succeeded && alarms::stopped_on_alarm(&info) {
        let (seen, notes) = shutdown
            .guard(async { Ok(alarms::alarms_that_stopped(clients, cfg, &info).await) })
            .await?;
        let mut details = alarms::alarm_lines(&seen);
        details.extend(cdapi::deployment_summary(&info));
        details.extend(notes.into_iter().map(|n| format!("note: {n}")));
        return Err(Error::DeploymentFailed {
            status: alarms::stopped_by(&seen),
            details,
            deployment_id: id,
            alarms: seen,
        });
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
                alarms: Vec::new(),
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
                alarms: Vec::new(),
            })
        }
    }
}
