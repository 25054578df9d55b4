//! Deploying again a bundle already in S3 (`rollback`, `promote`): the revision checked first
//! (still there, the same bytes), then the group taken, the deployment placed and followed.

use crate::aws::codedeploy::{self as cdapi, NewDeployment};
use crate::aws::Clients;
use crate::base::error::{Error, Result};
use crate::base::shutdown::Shutdown;
use crate::bundle::writer::BundleFormat;
use crate::deployment::conclude::{conclude, BundleRef};
use crate::deployment::config::{BundleObject, DeployConfig, Outcome};
use crate::deployment::follow::follow;
use crate::deployment::group::{take_group, Group};
use crate::deployment::place::{place, NotPlaced, Placed};
use crate::deployment::record::newest_first;
use aws_sdk_codedeploy::types::{BundleType, DeploymentInfo, DeploymentStatus};

pub(crate) fn revision_of(info: &DeploymentInfo) -> Option<(String, String, Option<String>)> {
    let s3 = info.revision()?.s3_location()?;
    Some((
        s3.bucket()?.to_string(),
        s3.key()?.to_string(),
        s3.version().map(str::to_string),
    ))
}

/// The S3 revision of an earlier deployment, checked: still there, unchanged.
pub(crate) struct Revision {
    pub bucket: String,
    pub key: String,
    pub version: Option<String>,
    /// The ETag S3 gives now, which the deployment recorded (when it recorded one).
    pub etag: Option<String>,
    pub bundle_type: BundleFormat,
    pub found: crate::aws::s3::Found,
    /// `s3://bucket/key (version …)`, for messages.
    pub location: String,
}

impl Revision {
    /// Its object, as a deployment names it.
    pub(crate) fn object(&self) -> BundleObject {
        BundleObject {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            version_id: self.version.clone(),
            etag: self.etag.clone(),
            bundle_type: self.bundle_type,
        }
    }
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
        Some(BundleType::Tar) => BundleFormat::Tar,
        Some(BundleType::TarGZip) => BundleFormat::Tgz,
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

/// The group's successful deployments, newest first.
pub(crate) async fn successes(
    clients: &Clients,
    application: &str,
    group: &str,
    shutdown: &Shutdown,
) -> Result<Vec<DeploymentInfo>> {
    let cd = &clients.codedeploy;
    let ids = shutdown
        .guard(cdapi::list(
            cd,
            application,
            group,
            &[DeploymentStatus::Succeeded],
            None,
        ))
        .await?;
    let infos = shutdown.guard(cdapi::details(cd, &ids)).await?;
    Ok(newest_first(infos, usize::MAX))
}

/// Removes a copy this run made and nothing will deploy; a failure to is only a warning.
pub(crate) async fn drop_copy(clients: &Clients, copy: Option<crate::aws::s3::Uploaded>) {
    if let Some(copy) = copy {
        crate::base::term::log(format!(
            "removing the copy {}, which nothing will deploy",
            copy.location()
        ));
        if let Err(err) = copy.discard(&clients.artifact_s3).await {
            crate::base::term::log(format!("warning: {err}"));
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
        crate::base::term::log(format!(
            "superseded by deployment {newer} of a newer trigger; nothing deployed"
        ));
        Redeployed {
            status: Outcome::Superseded,
            deployment_id: None,
            final_status: None,
            superseded_by: Some(newer),
        }
    };
    match take_group(clients, cfg, None, shutdown).await {
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
    let id = match place(clients, cfg, new, shutdown).await {
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
    crate::base::term::log(if new.restart {
        format!(
            "created deployment {id}, a restart of {}/{} (its last successful revision, from the copy on each instance)",
            new.application, new.group
        )
    } else {
        format!(
            "created deployment {id} of s3://{}/{} in {}/{}",
            new.bucket, new.key, new.application, new.group
        )
    });
    let Some(timeout) = cfg.wait_timeout else {
        return Ok(Redeployed {
            status: Outcome::Created,
            deployment_id: Some(id),
            final_status: None,
            superseded_by: None,
        });
    };
    let followed = follow(clients, cfg, &id, timeout, shutdown).await?;
    let bundle = match &copy {
        Some(copy) => BundleRef::Own(copy),
        None => BundleRef::Existing {
            key: &new.key,
            version: new.version_id.as_deref(),
        },
    };
    let ended = conclude(clients, cfg, bundle, followed, shutdown).await?;
    Ok(Redeployed {
        status: ended.status,
        deployment_id: Some(id),
        final_status: Some(ended.final_status),
        superseded_by: ended.superseded_by,
    })
}
