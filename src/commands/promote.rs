//! `promote`: deploys to a second deployment group (staging to production) exactly the bundle
//! that succeeded in the first, never rebuilt. When the second group is in another region the
//! bundle is copied to a bucket there first (CodeDeploy needs the revision in the instances'
//! region), and the copy is checked by its content: its bytes are read back and hashed, and
//! must give the SHA-256 recorded when the bundle was built (or, for a bundle without one,
//! the source's own bytes hashed). Then `deploy`'s rules apply in the second group: one
//! deployment at a time, the newest trigger wins (a promotion's trigger is now).

use crate::aws::codedeploy::{self as cdapi, NewDeployment};
use crate::aws::s3::{self, CopySource, Uploaded};
use crate::aws::Clients;
use crate::base::error::{Error, Result};
use crate::base::shutdown::Shutdown;
use crate::base::term::log;
use crate::deployment::config::BundleObject;
use crate::deployment::redeploy::{check_revision, drop_copy, redeploy, successes, Revision};
use crate::deployment::{self, DeployConfig, Outcome};
use aws_sdk_codedeploy::types::{DeploymentInfo, DeploymentStatus};
use serde::Serialize;

/// What to promote, and where from.
#[derive(Debug, Clone)]
pub struct Source {
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
    from: &Source,
    cfg: &DeployConfig,
    shutdown: &Shutdown,
) -> Result<PromoteOutcome> {
    let chosen = chosen_success(source, from, shutdown).await?;
    let from_id = chosen.deployment_id().unwrap_or("?").to_string();
    let revision = check_revision(source, &chosen, shutdown).await?;
    let description = chosen.description().unwrap_or_default();
    let origin = deployment::CommitInfo::of(description);
    let (commit, build) = (
        origin.id.clone(),
        deployment::field_of(description, "build"),
    );
    // The SHA-256 recorded when the bundle was built: in the description (this tool's
    // deployments), else in the object's metadata (bundles of earlier versions).
    let recorded =
        deployment::field_of(description, "sha256").or_else(|| revision.found.sha256.clone());
    let cfg = DeployConfig {
        commit: origin,
        build_id: build.clone(),
        ..cfg.clone()
    };
    log(format!(
        "promoting {} from {}/{} (deployment {from_id}) to {}/{}",
        revision.location, from.application, from.group, cfg.application, cfg.group
    ));
    let placed = if target.deploy_region != source.deploy_region {
        copied_to_region(source, target, &cfg, &revision, recorded, shutdown).await?
    } else {
        InPlace {
            copy: None,
            bucket: revision.bucket.clone(),
            version: revision.version.clone(),
            etag: revision.etag.clone(),
            sha256: recorded,
        }
    };
    let cfg = DeployConfig {
        bucket: placed.bucket.clone(),
        ..cfg
    };
    let mut outcome = PromoteOutcome {
        status: Outcome::Superseded,
        promoted_from: format!("{}/{from_id}", from.group),
        to_application: cfg.application.clone(),
        to_group: cfg.group.clone(),
        revision: format!("s3://{}/{}", placed.bucket, revision.key),
        revision_version_id: placed.version.clone(),
        revision_etag: placed.etag.clone(),
        copied: placed.copy.is_some(),
        sha256: placed.sha256.clone(),
        commit,
        build,
        deployment_id: None,
        final_status: None,
        superseded_by: None,
    };
    let new = promotion(&cfg, &outcome, &placed, &revision);
    let done = redeploy(target, &cfg, &new, placed.copy, shutdown).await?;
    outcome.status = done.status;
    outcome.deployment_id = done.deployment_id;
    outcome.final_status = done.final_status;
    outcome.superseded_by = done.superseded_by;
    Ok(outcome)
}

/// The deployment in the second group: the bundle where it is placed, the description
/// noting its SHA-256 and where it was promoted from.
fn promotion(
    cfg: &DeployConfig,
    outcome: &PromoteOutcome,
    placed: &InPlace,
    revision: &Revision,
) -> NewDeployment {
    let description = deployment::description_noting(
        cfg.trigger_time,
        &cfg.commit,
        cfg.build_id.as_deref(),
        &[
            ("sha256", outcome.sha256.as_deref().unwrap_or_default()),
            ("promoted-from", &outcome.promoted_from),
            ("alarms", if cfg.ignore_alarms { "ignored" } else { "" }),
        ],
    );
    let bundle = BundleObject {
        bucket: placed.bucket.clone(),
        key: revision.key.clone(),
        version_id: placed.version.clone(),
        etag: placed.etag.clone(),
        bundle_type: revision.bundle_type,
    };
    cfg.deployment_of(bundle, description)
}

/// Step: the deployment to promote, `--deployment` (of the first group, and a success) or
/// the group's newest success that names a revision.
async fn chosen_success(
    source: &Clients,
    from: &Source,
    shutdown: &Shutdown,
) -> Result<DeploymentInfo> {
    let cd = &source.codedeploy;
    let from_group = format!("{}/{}", from.application, from.group);
    let Some(id) = &from.deployment else {
        let infos = successes(source, &from.application, &from.group, shutdown).await?;
        // A restart (deploymentMode RESTART) ran the revision before it again and may name
        // none: the newest success that names one is what runs there.
        return infos
            .into_iter()
            .find(|i| i.revision().is_some())
            .ok_or_else(|| {
                Error::Refused(format!(
                    "no deployment of {from_group} has succeeded: there is nothing to promote"
                ))
            });
    };
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
    Ok(info)
}

/// Where the second group's deployment finds the bundle: where it is, or a copy in the
/// second region's bucket (removed again when nothing deploys it).
struct InPlace {
    copy: Option<Uploaded>,
    bucket: String,
    version: Option<String>,
    etag: Option<String>,
    sha256: Option<String>,
}

/// Step (another region): copy the bundle to the target region's bucket, then check the
/// copy's bytes against the recorded SHA-256 (or, without one, the source's own bytes
/// hashed); a copy that fails the check is removed and nothing is promoted.
async fn copied_to_region(
    source: &Clients,
    target: &Clients,
    cfg: &DeployConfig,
    revision: &Revision,
    recorded: Option<String>,
    shutdown: &Shutdown,
) -> Result<InPlace> {
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
    log(format!(
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
    let actual = match copy_checked(source, target, revision, recorded, &copy, shutdown).await {
        Ok(actual) => actual,
        Err(err) => {
            drop_copy(target, Some(copy)).await;
            return Err(err);
        }
    };
    log(format!("copy checked: SHA-256 {actual}"));
    Ok(InPlace {
        bucket: copy.bucket().to_string(),
        version: copy.version_id.clone(),
        etag: copy.etag.clone(),
        copy: Some(copy),
        sha256: Some(actual),
    })
}

/// The SHA-256 of the copy's bytes, when it is the bundle's.
async fn copy_checked(
    source: &Clients,
    target: &Clients,
    revision: &Revision,
    recorded: Option<String>,
    copy: &Uploaded,
    shutdown: &Shutdown,
) -> Result<String> {
    let expected = match recorded {
        Some(sha) => sha,
        None => {
            shutdown
                .guard(s3::sha256_of(
                    &source.artifact_s3,
                    &revision.bucket,
                    &revision.key,
                    revision.version.as_deref(),
                ))
                .await?
        }
    };
    let actual = shutdown
        .guard(s3::sha256_of(
            &target.artifact_s3,
            copy.bucket(),
            copy.key(),
            copy.version_id.as_deref(),
        ))
        .await?;
    if expected != actual {
        return Err(Error::Refused(format!(
            "the copy {} does not hold the bundle's bytes (SHA-256 {actual}, expected {expected}): nothing promoted",
            copy.location()
        )));
    }
    Ok(actual)
}
