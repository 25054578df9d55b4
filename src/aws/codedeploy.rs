//! CodeDeploy: the group's deployments, CreateDeployment, StopDeployment, and what failed on
//! each instance.

use super::sdk_error;
use crate::error::{Error, Result};
use aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentError;
use aws_sdk_codedeploy::types::{
    BundleType, DeploymentInfo, DeploymentStatus, FileExistsBehavior, RevisionLocation,
    RevisionLocationType, S3Location, TargetStatus, TimeRange,
};
use aws_smithy_types::DateTime;

/// Statuses in which a deployment holds its group: CodeDeploy runs one at a time per group.
pub const ACTIVE: [DeploymentStatus; 5] = [
    DeploymentStatus::Created,
    DeploymentStatus::Queued,
    DeploymentStatus::InProgress,
    DeploymentStatus::Baking,
    DeploymentStatus::Ready,
];

const READ_DENIED: &str =
    "the role needs codedeploy:ListDeployments, codedeploy:GetDeployment and codedeploy:BatchGetDeployments on the deployment group";

/// The group's deployments, optionally only those in `statuses` or created since `since`.
pub async fn list(
    cd: &aws_sdk_codedeploy::Client,
    application: &str,
    group: &str,
    statuses: &[DeploymentStatus],
    since: Option<DateTime>,
) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut token = None;
    loop {
        let out = cd
            .list_deployments()
            .application_name(application)
            .deployment_group_name(group)
            .set_include_only_statuses((!statuses.is_empty()).then(|| statuses.to_vec()))
            .set_create_time_range(since.map(|s| TimeRange::builder().start(s).build()))
            .set_next_token(token)
            .send()
            .await
            .map_err(|err| {
                sdk_error(
                    format!("cannot list deployments of {application}/{group}"),
                    READ_DENIED,
                    err,
                )
            })?;
        ids.extend(out.deployments().iter().cloned());
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(ids);
        }
    }
}

/// Details of deployments, 25 at a time as the API takes them.
pub async fn details(
    cd: &aws_sdk_codedeploy::Client,
    ids: &[String],
) -> Result<Vec<DeploymentInfo>> {
    let mut infos = Vec::new();
    for chunk in ids.chunks(25) {
        let out = cd
            .batch_get_deployments()
            .set_deployment_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|err| sdk_error("cannot read deployments", READ_DENIED, err))?;
        infos.extend(out.deployments_info().iter().cloned());
    }
    Ok(infos)
}

pub async fn get(cd: &aws_sdk_codedeploy::Client, id: &str) -> Result<DeploymentInfo> {
    let out = cd
        .get_deployment()
        .deployment_id(id)
        .send()
        .await
        .map_err(|err| sdk_error(format!("cannot read deployment {id}"), READ_DENIED, err))?;
    Ok(out
        .deployment_info()
        .cloned()
        .unwrap_or_else(|| DeploymentInfo::builder().deployment_id(id).build()))
}

pub async fn stop(cd: &aws_sdk_codedeploy::Client, id: &str) -> Result<()> {
    cd.stop_deployment()
        .deployment_id(id)
        .send()
        .await
        .map_err(|err| {
            sdk_error(
                format!("cannot stop deployment {id}"),
                "the role needs codedeploy:StopDeployment on the deployment group",
                err,
            )
        })?;
    Ok(())
}

/// What to deploy and how.
#[derive(Debug, Clone)]
pub struct NewDeployment {
    pub application: String,
    pub group: String,
    pub config: Option<String>,
    pub description: String,
    pub bucket: String,
    pub key: String,
    pub bundle_type: crate::bundle::BundleType,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub file_exists_behavior: Option<String>,
    pub ignore_application_stop_failures: bool,
}

pub async fn create(cd: &aws_sdk_codedeploy::Client, d: &NewDeployment) -> Result<String> {
    let bundle_type = match d.bundle_type {
        crate::bundle::BundleType::Tar => BundleType::Tar,
        crate::bundle::BundleType::Tgz => BundleType::TarGZip,
    };
    let location = S3Location::builder()
        .bucket(&d.bucket)
        .key(&d.key)
        .bundle_type(bundle_type)
        .set_e_tag(d.etag.as_ref().map(|e| e.trim_matches('"').to_string()))
        .set_version(d.version_id.clone())
        .build();
    let revision = RevisionLocation::builder()
        .revision_type(RevisionLocationType::S3)
        .s3_location(location)
        .build();
    let out = cd
        .create_deployment()
        .application_name(&d.application)
        .deployment_group_name(&d.group)
        .set_deployment_config_name(d.config.clone())
        .description(&d.description)
        .revision(revision)
        .set_file_exists_behavior(d.file_exists_behavior.as_deref().map(FileExistsBehavior::from))
        .ignore_application_stop_failures(d.ignore_application_stop_failures)
        .send()
        .await
        .map_err(|err| match err.as_service_error() {
            // Another deployment took the group between our look and our call.
            Some(CreateDeploymentError::DeploymentLimitExceededException(_)) => Error::Busy {
                group: format!("{}/{}", d.application, d.group),
                deployment_id: "started by someone else just now".into(),
            },
            _ => sdk_error(
                format!("cannot create a deployment in {}/{}", d.application, d.group),
                "the role needs codedeploy:CreateDeployment, codedeploy:GetDeploymentConfig and codedeploy:GetApplicationRevision/RegisterApplicationRevision",
                err,
            ),
        })?;
    Ok(out.deployment_id().unwrap_or_default().to_string())
}

/// For each failed instance: the lifecycle event that failed, its error code, script and the
/// log tail CodeDeploy returns. Best effort: what cannot be read is said so.
pub async fn failure_details(cd: &aws_sdk_codedeploy::Client, id: &str) -> Vec<String> {
    let targets = match cd.list_deployment_targets().deployment_id(id).send().await {
        Ok(out) => out.target_ids().to_vec(),
        Err(err) => {
            return vec![format!(
                "(instance details unavailable: {})",
                aws_sdk_codedeploy::error::DisplayErrorContext(&err)
            )]
        }
    };
    let mut lines = Vec::new();
    for chunk in targets.chunks(25) {
        let out = match cd
            .batch_get_deployment_targets()
            .deployment_id(id)
            .set_target_ids(Some(chunk.to_vec()))
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) => {
                lines.push(format!(
                    "(instance details unavailable: {})",
                    aws_sdk_codedeploy::error::DisplayErrorContext(&err)
                ));
                continue;
            }
        };
        for target in out.deployment_targets() {
            let Some(instance) = target.instance_target() else {
                continue;
            };
            if instance.status() != Some(&TargetStatus::Failed) {
                continue;
            }
            let name = instance.target_id().unwrap_or("?");
            let failed = instance
                .lifecycle_events()
                .iter()
                .find(|e| e.status().map(|s| s.as_str()) == Some("Failed"));
            match failed {
                Some(event) => {
                    let diag = event.diagnostics();
                    lines.push(format!(
                        "instance {name}: {} failed: {} {}{}",
                        event.lifecycle_event_name().unwrap_or("?"),
                        diag.and_then(|d| d.error_code())
                            .map(|c| c.as_str())
                            .unwrap_or("?"),
                        diag.and_then(|d| d.script_name())
                            .map(|s| format!("in {s}: "))
                            .unwrap_or_default(),
                        diag.and_then(|d| d.message()).unwrap_or(""),
                    ));
                    if let Some(tail) = diag
                        .and_then(|d| d.log_tail())
                        .filter(|t| !t.trim().is_empty())
                    {
                        for line in tail.trim_end().lines() {
                            lines.push(format!("    | {line}"));
                        }
                    }
                }
                None => lines.push(format!("instance {name}: failed")),
            }
        }
    }
    lines
}
