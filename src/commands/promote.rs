//! `promote`: deploys to a second deployment group (staging to production) exactly the bundle
//! that succeeded in the first, never rebuilt. When the second group is in another region the
//! bundle is copied to a bucket there first (CodeDeploy needs the revision in the instances'
//! region), and the copy is checked by its content: its bytes are read back and hashed, and
//! must give the SHA-256 recorded when the bundle was built (or, for a bundle without one,
//! the source's own bytes hashed). Then `deploy`'s rules apply in the second group: one
//! deployment at a time, the newest trigger wins (a promotion's trigger is now).

use crate::aws::codedeploy::{self as cdapi, NewDeployment};
use crate::aws::s3::{self, CopySource};
use crate::aws::Clients;
use crate::base::error::{Error, Result};
use crate::base::shutdown::Shutdown;
use crate::deployment::redeploy::{check_revision, drop_copy};
use crate::deployment::{self, DeployConfig, Outcome};
use aws_sdk_codedeploy::types::DeploymentStatus;
use serde::Serialize;

/// What to promote, and where from.
#[derive(Debug, Clone)]
pub struct From {
    pub application: String,
    pub group: String,
    /// A deployment of that group; default: its newest success.
    pub deployment: Option<String>,
}

/// The summary of a promotion.
#[derive(Debug, Clone, Serialize)]
pub struct PromoteOutcome {
    pub status: Outcome,
    /// `<group>/<deployment id>` of the success promoted.
    pub promoted_from: String,
    pub to_application: String,
    pub to_group: String,
    pub revision: String,
    pub revision_version_id: Option<String>,
    pub revision_etag: Option<String>,
    /// The bundle was copied to the target region's bucket (and checked by its SHA-256).
    pub copied: bool,
    pub sha256: Option<String>,
    pub commit: Option<String>,
    pub build: Option<String>,
    pub deployment_id: Option<String>,
    pub final_status: Option<String>,
    pub superseded_by: Option<String>,
}

/// Runs the promotion. `source` reads the first group (its region); `target` is in the second
/// group's region, `cfg` names the second group, and `cfg.bucket` the bucket to copy into when
/// the regions differ.
pub async fn run(
    source: &Clients,
    target: &Clients,
    from: &From,
    cfg: &DeployConfig,
    shutdown: &Shutdown,
) -> Result<PromoteOutcome> {
    let cd = &source.codedeploy;
    let from_group = format!("{}/{}", from.application, from.group);
    let chosen = match &from.deployment {
        Some(id) => {
            let info = shutdown.guard(cdapi::get(cd, id)).await?;
            let (app, group) = (
                info.application_name().unwrap_or_default(),
                info.deployment_group_name().unwrap_or_default(),
            );
            if (app, group) != (from.application.as_str(), from.group.as_str()) {
                return Err(Error::Usage(format!(
                    "--deployment {id}: that deployment is of {app}/{group}, not of {from_group}"
                )));
            }
            if info.status() != Some(&DeploymentStatus::Succeeded) {
                return Err(Error::Refused(format!(
                    "deployment {id} did not succeed in {from_group} ({}): only what succeeded is promoted",
                    info.status().map_or("no status", |s| s.as_str())
                )));
            }
            info
        }
        None => {
            let ids = shutdown
                .guard(cdapi::list(
                    cd,
                    &from.application,
                    &from.group,
                    &[DeploymentStatus::Succeeded],
                    None,
                ))
                .await?;
            let infos = shutdown.guard(cdapi::details(cd, &ids)).await?;
            crate::deployment::record::newest_first(infos, 1)
                .into_iter()
                .next()
                .ok_or_else(|| {
                    Error::Refused(format!(
                        "no deployment of {from_group} has succeeded: there is nothing to promote"
                    ))
                })?
        }
    };
    let from_id = chosen.deployment_id().unwrap_or("?").to_string();
    let revision = check_revision(source, &chosen, shutdown).await?;
    let description = chosen.description().unwrap_or_default();
    let (commit, build) = (
        deployment::field_of(description, "commit"),
        deployment::field_of(description, "build"),
    );
    // The SHA-256 recorded when the bundle was built: in the description (this tool's
    // deployments), else in the object's metadata (bundles of earlier versions).
    let recorded =
        deployment::field_of(description, "sha256").or_else(|| revision.found.sha256.clone());
    let cfg = DeployConfig {
        commit: commit.clone(),
        build_id: build.clone(),
        ..cfg.clone()
    };
    let to_group = format!("{}/{}", cfg.application, cfg.group);
    crate::base::term::log(format!(
        "promoting {} from {from_group} (deployment {from_id}) to {to_group}",
        revision.location
    ));

    // Another region: copy, then check the copy's bytes.
    let cross_region = target.deploy_region != source.deploy_region;
    let (copy, bucket, version, etag, sha256) = if cross_region {
        s3::check_bucket_region(
            &target.artifact_s3,
            &cfg.bucket,
            &target.deploy_region,
            shutdown,
        )
        .await?;
        let from_copy = CopySource {
            bucket: revision.bucket.clone(),
            key: revision.key.clone(),
            version_id: revision.version.clone(),
            etag: revision.etag.clone(),
            len: revision.found.size,
        };
        crate::base::term::log(format!(
            "copying it to s3://{}/{} in {}",
            cfg.bucket, revision.key, target.deploy_region
        ));
        let copy = shutdown
            .guard(s3::copy_bundle(
                &target.artifact_s3,
                &from_copy,
                &cfg.bucket,
                cfg.kms_key_id.clone(),
            ))
            .await?;
        let expected = match &recorded {
            Some(sha) => Ok(sha.clone()),
            None => {
                shutdown
                    .guard(s3::sha256_of(
                        &source.artifact_s3,
                        &revision.bucket,
                        &revision.key,
                        revision.version.as_deref(),
                    ))
                    .await
            }
        };
        let checked = match expected {
            Ok(expected) => shutdown
                .guard(s3::sha256_of(
                    &target.artifact_s3,
                    copy.bucket(),
                    copy.key(),
                    copy.version_id.as_deref(),
                ))
                .await
                .map(|actual| (expected, actual)),
            Err(err) => Err(err),
        };
        let (expected, actual) = match checked {
            Ok(pair) => pair,
            Err(err) => {
                drop_copy(target, Some(copy)).await;
                return Err(err);
            }
        };
        if expected != actual {
            let location = copy.location();
            drop_copy(target, Some(copy)).await;
            return Err(Error::Refused(format!(
                "the copy {location} does not hold the bundle's bytes (SHA-256 {actual}, expected {expected}): nothing promoted"
            )));
        }
        crate::base::term::log(format!("copy checked: SHA-256 {actual}"));
        let (bucket, version, etag) = (
            copy.bucket().to_string(),
            copy.version_id.clone(),
            copy.etag.clone(),
        );
        (Some(copy), bucket, version, etag, Some(actual))
    } else {
        (
            None,
            revision.bucket.clone(),
            revision.version.clone(),
            revision.etag.clone(),
            recorded,
        )
    };
    let cfg = DeployConfig {
        bucket: bucket.clone(),
        ..cfg
    };
    let mut outcome = PromoteOutcome {
        status: Outcome::Superseded,
        promoted_from: format!("{}/{from_id}", from.group),
        to_application: cfg.application.clone(),
        to_group: cfg.group.clone(),
        revision: format!("s3://{bucket}/{}", revision.key),
        revision_version_id: version.clone(),
        revision_etag: etag.clone(),
        copied: copy.is_some(),
        sha256,
        commit,
        build,
        deployment_id: None,
        final_status: None,
        superseded_by: None,
    };
    let new = NewDeployment {
        application: cfg.application.clone(),
        group: cfg.group.clone(),
        config: cfg.deployment_config.clone(),
        description: deployment::description_noting(
            cfg.trigger_time,
            cfg.commit.as_deref(),
            cfg.build_id.as_deref(),
            &[
                ("sha256", outcome.sha256.as_deref().unwrap_or_default()),
                ("promoted-from", &outcome.promoted_from),
            ],
        ),
        bucket: bucket.clone(),
        key: revision.key.clone(),
        bundle_type: revision.bundle_type,
        etag,
        version_id: version.clone(),
        file_exists_behavior: cfg.file_exists_behavior.clone(),
        ignore_application_stop_failures: cfg.ignore_application_stop_failures,
    };
    let done = crate::deployment::redeploy::redeploy(target, &cfg, &new, copy, shutdown).await?;
    outcome.status = done.status;
    outcome.deployment_id = done.deployment_id;
    outcome.final_status = done.final_status;
    outcome.superseded_by = done.superseded_by;
    Ok(outcome)
}
