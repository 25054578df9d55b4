//! CodeDeploy: the group's deployments, CreateDeployment, StopDeployment, and what failed on
//! each instance.

use super::sdk_error;
use crate::base::error::Result;
use aws_sdk_codedeploy::config::retry::RetryConfig;
use aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentError;
use aws_sdk_codedeploy::operation::list_deployment_targets::ListDeploymentTargetsError;
use aws_sdk_codedeploy::types::TargetFilterName;
use aws_sdk_codedeploy::types::{
    BundleType, DeploymentInfo, DeploymentMode, DeploymentStatus, FileExistsBehavior,
    RevisionLocation, RevisionLocationType, S3Location, TimeRange,
};
use aws_smithy_types::DateTime;

/// Statuses in which a deployment holds its group: CodeDeploy runs one at a time per group.
pub(crate) const ACTIVE: [DeploymentStatus; 5] = [
    DeploymentStatus::Created,
    DeploymentStatus::Queued,
    DeploymentStatus::InProgress,
    DeploymentStatus::Baking,
    DeploymentStatus::Ready,
];

/// The group's deployments, optionally only those in `statuses` or created since `since`.
pub(crate) async fn list(
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
                    "codedeploy",
                    "ListDeployments",
                    format!("cannot list deployments of {application}/{group}"),
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
pub(crate) async fn details(
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
            .map_err(|err| {
                sdk_error(
                    "codedeploy",
                    "BatchGetDeployments",
                    "cannot read deployments",
                    err,
                )
            })?;
        infos.extend(out.deployments_info().iter().cloned());
    }
    Ok(infos)
}

pub(crate) async fn get(cd: &aws_sdk_codedeploy::Client, id: &str) -> Result<DeploymentInfo> {
    let out = cd
        .get_deployment()
        .deployment_id(id)
        .send()
        .await
        .map_err(|err| {
            sdk_error(
                "codedeploy",
                "GetDeployment",
                format!("cannot read deployment {id}"),
                err,
            )
        })?;
    Ok(out
        .deployment_info()
        .cloned()
        .unwrap_or_else(|| DeploymentInfo::builder().deployment_id(id).build()))
}

pub(crate) async fn stop(cd: &aws_sdk_codedeploy::Client, id: &str) -> Result<()> {
    cd.stop_deployment()
        .deployment_id(id)
        .send()
        .await
        .map_err(|err| {
            sdk_error(
                "codedeploy",
                "StopDeployment",
                format!("cannot stop deployment {id}"),
                err,
            )
        })?;
    Ok(())
}

/// What to deploy and how.
#[derive(Debug, Clone)]
pub(crate) struct NewDeployment {
    pub application: String,
    pub group: String,
    pub config: Option<String>,
    pub description: String,
    pub bucket: String,
    pub key: String,
    pub bundle_type: crate::bundle::writer::BundleFormat,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub file_exists_behavior: Option<String>,
    pub ignore_application_stop_failures: bool,
    /// `deploymentMode: RESTART`: the group's last successful revision again, from the copy
    /// on each instance. CodeDeploy resolves the revision and rejects one given, so the bucket
    /// and key above only say which revision that is (the live one's).
    pub restart: bool,
    /// Blue/green with a tag-chosen replacement fleet: the tags of its instances
    /// (`targetInstances.tagFilters`, KEY_AND_VALUE: an instance with any of them).
    pub green_fleet_tags: Vec<(String, String)>,
    /// The group's alarms off for this deployment (`overrideAlarmConfiguration` with
    /// `enabled: false`; the caller needs codedeploy:UpdateDeploymentGroup for it).
    pub ignore_alarms: bool,
}

/// What CreateDeployment answered.
#[derive(Debug)]
pub(crate) enum Created {
    Id(String),
    /// DeploymentLimitExceededException: a deployment holds the group (maybe ours, when an
    /// earlier answer was lost: look before waiting).
    GroupBusy,
}

/// CreateDeployment's `targetInstances` for a tag-chosen replacement fleet (API reference,
/// TargetInstances: "the tag filter key, type, and value used to identify Amazon EC2
/// instances in a replacement environment for a blue/green deployment").
fn green_fleet(tags: &[(String, String)]) -> Option<aws_sdk_codedeploy::types::TargetInstances> {
    use aws_sdk_codedeploy::types::{Ec2TagFilter, Ec2TagFilterType, TargetInstances};
    (!tags.is_empty()).then(|| {
        TargetInstances::builder()
            .set_tag_filters(Some(
                tags.iter()
                    .map(|(key, value)| {
                        Ec2TagFilter::builder()
                            .key(key)
                            .value(value)
                            .r#type(Ec2TagFilterType::KeyAndValue)
                            .build()
                    })
                    .collect(),
            ))
            .build()
    })
}

/// CreateDeployment, sent once: it is not idempotent, so the SDK's automatic retry (which
/// retries timeouts, broken connections and 5xx on every operation) is off for it. A caller
/// that gets an error must look for the deployment with [`find_created`] before deciding.
pub(crate) async fn create(cd: &aws_sdk_codedeploy::Client, d: &NewDeployment) -> Result<Created> {
    let bundle_type = match d.bundle_type {
        crate::bundle::writer::BundleFormat::Tar => BundleType::Tar,
        crate::bundle::writer::BundleFormat::Tgz => BundleType::TarGZip,
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
    // API reference, CreateDeployment, deploymentMode: with RESTART "the revision parameter
    // (including its s3Location and gitHubLocation) must not be specified, and is rejected if
    // provided", and updateOutdatedInstancesOnly must not be true (it is never sent).
    let (revision, mode) = if d.restart {
        (None, Some(DeploymentMode::Restart))
    } else {
        (Some(revision), None)
    };
    let answer = cd
        .create_deployment()
        .application_name(&d.application)
        .deployment_group_name(&d.group)
        .set_deployment_config_name(d.config.clone())
        .description(&d.description)
        .set_revision(revision)
        .set_deployment_mode(mode)
        .set_file_exists_behavior(
            d.file_exists_behavior
                .as_deref()
                .map(FileExistsBehavior::from),
        )
        .ignore_application_stop_failures(d.ignore_application_stop_failures)
        .set_target_instances(green_fleet(&d.green_fleet_tags))
        // API reference, CreateDeployment, overrideAlarmConfiguration: "set its alarm
        // configuration to turn off alarm polling" for "a previous application revision that
        // is known to work".
        .set_override_alarm_configuration(d.ignore_alarms.then(|| {
            aws_sdk_codedeploy::types::AlarmConfiguration::builder()
                .enabled(false)
                .build()
        }))
        .customize()
        .config_override(
            aws_sdk_codedeploy::config::Builder::default().retry_config(RetryConfig::disabled()),
        )
        .send()
        .await;
    match answer {
        Ok(out) => Ok(Created::Id(
            out.deployment_id().unwrap_or_default().to_string(),
        )),
        Err(err)
            if matches!(
                err.as_service_error(),
                Some(CreateDeploymentError::DeploymentLimitExceededException(_))
            ) =>
        {
            Ok(Created::GroupBusy)
        }
        Err(err)
            if matches!(
                err.as_service_error(),
                Some(CreateDeploymentError::InvalidAutoScalingGroupProcessToSuspendException(_))
            ) =>
        {
            // API reference, EC2DeploymentOptions: suspending Auto Scaling processes needs an
            // in-place group with Auto Scaling groups, and processes of the documented list.
            let said = err
                .as_service_error()
                .and_then(|e| aws_sdk_codedeploy::error::ProvideErrorMetadata::message(e))
                .unwrap_or("no detail")
                .to_string();
            Err(crate::base::error::Error::Refused(format!(
                "CodeDeploy cannot suspend the Auto Scaling processes the group {}/{} names (ec2DeploymentOptions, suspend_asg_processes in cdk.json): {said}; they apply to an in-place group with Auto Scaling groups, and only Terminate, AZRebalance, InstanceRefresh and ScheduledActions can be suspended",
                d.application, d.group
            )))
        }
        Err(err) => Err(sdk_error(
            "codedeploy",
            "CreateDeployment",
            format!(
                "cannot create a deployment in {}/{}",
                d.application, d.group
            ),
            err,
        )),
    }
}

/// The deployment of the group created since `since` whose revision is exactly `d`'s bucket,
/// key, version and ETag and whose description is `d`'s: a CreateDeployment whose answer was
/// lost did create it.
pub(crate) async fn find_created(
    cd: &aws_sdk_codedeploy::Client,
    d: &NewDeployment,
    since: DateTime,
) -> Result<Option<String>> {
    let ids = list(cd, &d.application, &d.group, &[], Some(since)).await?;
    find_among(cd, d, &ids).await
}

/// Which of `ids`, if any, is a deployment of exactly `d`'s bundle and description.
pub(crate) async fn find_among(
    cd: &aws_sdk_codedeploy::Client,
    d: &NewDeployment,
    ids: &[String],
) -> Result<Option<String>> {
    if ids.is_empty() {
        return Ok(None);
    }
    Ok(details(cd, ids)
        .await?
        .into_iter()
        .find(|info| is_deployment_of(info, d))
        .and_then(|info| info.deployment_id().map(str::to_string)))
}

/// True when `info` is `d`: a deployment of exactly `d`'s bucket, key, version and ETag with
/// its description, or, for a restart, which names no revision of its own, a RESTART
/// deployment with its description (which carries this run's key: trigger time and build).
pub(crate) fn is_deployment_of(info: &DeploymentInfo, d: &NewDeployment) -> bool {
    // "An absent value must not be interpreted as STANDARD" (DeploymentInfo.deploymentMode):
    // only RESTART is told apart.
    let restart = info.deployment_mode() == Some(&DeploymentMode::Restart);
    if d.restart || restart {
        return d.restart && restart && info.description() == Some(d.description.as_str());
    }
    let etag = d.etag.as_ref().map(|e| e.trim_matches('"'));
    info.revision()
        .and_then(|r| r.s3_location())
        .is_some_and(|s3| {
            s3.bucket() == Some(d.bucket.as_str())
                && s3.key() == Some(d.key.as_str())
                && s3.version() == d.version_id.as_deref()
                && s3.e_tag().map(|e| e.trim_matches('"')) == etag
        })
        && info.description() == Some(d.description.as_str())
}

/// The target groups (names) of a deployment group's load balancer, for traffic control
/// (GetDeploymentGroup, `loadBalancerInfo.targetGroupInfoList`); none without one.
pub(crate) async fn group_target_groups(
    cd: &aws_sdk_codedeploy::Client,
    application: &str,
    group: &str,
) -> Result<Vec<String>> {
    Ok(find_group(cd, application, group)
        .await?
        .and_then(|g| {
            g.load_balancer_info().map(|lb| {
                lb.target_group_info_list()
                    .iter()
                    .filter_map(|t| t.name().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default())
}

/// The CloudWatch alarms a deployment group watches (GetDeploymentGroup,
/// `alarmConfiguration`, when enabled); none without them.
pub(crate) async fn group_alarms(
    cd: &aws_sdk_codedeploy::Client,
    application: &str,
    group: &str,
) -> Result<Vec<String>> {
    Ok(find_group(cd, application, group)
        .await?
        .and_then(|g| g.alarm_configuration().cloned())
        .map(|c| alarm_names(&c))
        .unwrap_or_default())
}

/// The names of an enabled alarm configuration's alarms.
pub(crate) fn alarm_names(config: &aws_sdk_codedeploy::types::AlarmConfiguration) -> Vec<String> {
    if !config.enabled() {
        return Vec::new();
    }
    config
        .alarms()
        .iter()
        .filter_map(|a| a.name().map(str::to_string))
        .collect()
}

/// GetDeploymentGroup of a group that may not exist: `None` when CodeDeploy answers that the
/// group or its application does not exist (API reference, GetDeploymentGroup:
/// DeploymentGroupDoesNotExistException, ApplicationDoesNotExistException).
pub(crate) async fn find_group(
    cd: &aws_sdk_codedeploy::Client,
    application: &str,
    group: &str,
) -> Result<Option<aws_sdk_codedeploy::types::DeploymentGroupInfo>> {
    use aws_sdk_codedeploy::operation::get_deployment_group::GetDeploymentGroupError as E;
    let answer = cd
        .get_deployment_group()
        .application_name(application)
        .deployment_group_name(group)
        .send()
        .await;
    match answer {
        Ok(out) => Ok(out.deployment_group_info().cloned()),
        Err(err)
            if matches!(
                err.as_service_error(),
                Some(
                    E::DeploymentGroupDoesNotExistException(_)
                        | E::ApplicationDoesNotExistException(_)
                )
            ) =>
        {
            Ok(None)
        }
        Err(err) => Err(sdk_error(
            "codedeploy",
            "GetDeploymentGroup",
            format!("cannot read deployment group {application}/{group}"),
            err,
        )),
    }
}

/// One line of advice per common `errorInformation` code
/// (<https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ErrorInformation.html>,
/// <https://docs.aws.amazon.com/codedeploy/latest/userguide/error-codes.html>).
pub(crate) fn error_hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "NO_INSTANCES" => "no instance carries the deployment group's tag, or none of them runs the CodeDeploy agent: check the tag and `systemctl status codedeploy-agent` on the instances",
        "AGENT_ISSUE" => "the CodeDeploy agent did not report back: check that it runs and that the instance profile and network let it reach CodeDeploy and S3",
        "HEALTH_CONSTRAINTS" => "too many instances failed for the deployment configuration's minimum healthy hosts: see each instance's failure",
        "HEALTH_CONSTRAINTS_INVALID" => "the deployment configuration's minimum healthy hosts cannot be met by this group (one instance and 50 %, say): lower it (min_healthy_hosts_percent: 0 for a single instance)",
        "REVISION_MISSING" => "the bundle named by the deployment is not in S3 (deleted, or the ETag or version no longer matches)",
        "IAM_ROLE_MISSING" | "IAM_ROLE_PERMISSIONS" => "the deployment group's service role is missing or lacks the AWSCodeDeployRole permissions",
        "TIMEOUT" => "a lifecycle event's scripts ran past their timeout: see the script and log tail below",
        "OVER_MAX_INSTANCES" => "the deployment targets more instances than the account may deploy to at once",
        "THROTTLED" | "INTERNAL_ERROR" => "a CodeDeploy-side failure: run again",
        "ALARM_ACTIVE" => "an alarm of the deployment group fired: see its reason above; CodeDeploy rolls back when the group has DEPLOYMENT_STOP_ON_ALARM; `rollback --ignore-alarms` deploys a revision known to be good while the alarm still fires",
        "MANUAL_STOP" => "someone stopped the deployment",
        _ => return None,
    })
}

/// What a failed deployment says of itself: its error code and message (with a hint),
/// rollback and status messages.
pub(crate) fn deployment_summary(info: &DeploymentInfo) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(e) = info.error_information() {
        let code = e.code().map(|c| c.as_str()).unwrap_or("?");
        lines.push(format!(
            "error {code}: {}",
            e.message().unwrap_or("(no message)")
        ));
        if let Some(hint) = error_hint(code) {
            lines.push(format!("hint: {hint}"));
        }
    }
    if let Some(r) = info.rollback_info() {
        if let Some(id) = r.rollback_deployment_id() {
            lines.push(format!("rolled back by deployment {id}"));
        }
        if let Some(message) = r.rollback_message() {
            lines.push(format!("rollback: {message}"));
        }
    }
    for message in info.deployment_status_messages() {
        lines.push(format!("status: {message}"));
    }
    lines
}

/// For each failed instance: the lifecycle event that failed, its error code, script and the
/// log tail CodeDeploy returns. Best effort: what cannot be read is said so.
pub(crate) async fn failure_details(cd: &aws_sdk_codedeploy::Client, id: &str) -> Vec<String> {
    let targets = match target_ids(cd, id, Some("Failed")).await {
        Ok(targets) => targets,
        Err(lines) => return lines,
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
                lines.push(unavailable(&sdk_error(
                    "codedeploy",
                    "BatchGetDeploymentTargets",
                    "cannot read failed instances",
                    err,
                )));
                continue;
            }
        };
        for target in out.deployment_targets() {
            if let Some(instance) = target.instance_target() {
                lines.extend(instance_failure(instance));
            }
        }
    }
    lines
}

fn unavailable(err: &dyn std::fmt::Display) -> String {
    format!("(instance details unavailable: {err})")
}

/// Every instance of a deployment with its status, fleet (`Blue`, `Green` in a blue/green
/// deployment) and lifecycle events: ListDeploymentTargets, then BatchGetDeploymentTargets
/// 25 at a time. `Err`: why there are none to show (none reached yet, or a call failed).
pub(crate) async fn instance_targets(
    cd: &aws_sdk_codedeploy::Client,
    id: &str,
) -> std::result::Result<Vec<aws_sdk_codedeploy::types::InstanceTarget>, String> {
    let ids = target_ids(cd, id, None)
        .await
        .map_err(|lines| lines.join("; "))?;
    let mut instances = Vec::new();
    for chunk in ids.chunks(25) {
        let out = cd
            .batch_get_deployment_targets()
            .deployment_id(id)
            .set_target_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|err| {
                unavailable(&sdk_error(
                    "codedeploy",
                    "BatchGetDeploymentTargets",
                    format!("cannot read the instances of deployment {id}"),
                    err,
                ))
            })?;
        instances.extend(
            out.deployment_targets()
                .iter()
                .filter_map(|t| t.instance_target().cloned()),
        );
    }
    Ok(instances)
}

/// The ids of the deployment's instances (only those of `status` when given), every page;
/// `Err`: the line that says why there are none to show.
async fn target_ids(
    cd: &aws_sdk_codedeploy::Client,
    id: &str,
    status: Option<&str>,
) -> std::result::Result<Vec<String>, Vec<String>> {
    let mut targets = Vec::new();
    let mut token = None;
    loop {
        let answer = cd
            .list_deployment_targets()
            .deployment_id(id)
            .set_target_filters(status.map(|status| {
                std::collections::HashMap::from([(
                    TargetFilterName::TargetStatus,
                    vec![status.to_string()],
                )])
            }))
            .set_next_token(token)
            .send()
            .await;
        match answer {
            Ok(out) => {
                targets.extend(out.target_ids().iter().cloned());
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    return Ok(targets);
                }
            }
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(ListDeploymentTargetsError::DeploymentNotStartedException(_))
                ) =>
            {
                return Err(vec![
                    "no instance started: the deployment failed before reaching any".into(),
                ])
            }
            Err(err) => {
                return Err(vec![unavailable(&sdk_error(
                    "codedeploy",
                    "ListDeploymentTargets",
                    "cannot list the deployment's instances",
                    err,
                ))])
            }
        }
    }
}

/// One failed instance: the event that failed, with its diagnostics and log tail.
fn instance_failure(instance: &aws_sdk_codedeploy::types::InstanceTarget) -> Vec<String> {
    let name = instance.target_id().unwrap_or("?");
    let failed = instance
        .lifecycle_events()
        .iter()
        .find(|e| e.status().map(|s| s.as_str()) == Some("Failed"));
    let Some(event) = failed else {
        return vec![format!("instance {name}: failed")];
    };
    let diag = event.diagnostics();
    let mut lines = vec![format!(
        "instance {name}: {} failed: {} {}{}",
        event.lifecycle_event_name().unwrap_or("?"),
        diag.and_then(|d| d.error_code())
            .map(|c| c.as_str())
            .unwrap_or("?"),
        diag.and_then(|d| d.script_name())
            .map(|s| format!("in {s}: "))
            .unwrap_or_default(),
        diag.and_then(|d| d.message()).unwrap_or(""),
    )];
    if let Some(tail) = diag
        .and_then(|d| d.log_tail())
        .filter(|t| !t.trim().is_empty())
    {
        for line in tail.trim_end().lines() {
            lines.push(format!("    | {line}"));
        }
    }
    lines
}
