//! Scripted AWS answers for the mocked tests (aws-smithy-mocks): the real SDK clients with
//! no network, the configuration of one deploy run, and the rules that answer each operation
//! as AWS does.

use crate::support::fixtures::*;
use aws_sdk_codedeploy::operation::batch_get_deployments::BatchGetDeploymentsOutput;
use aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentOutput;
use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
use aws_sdk_codedeploy::operation::list_deployments::ListDeploymentsOutput;
use aws_sdk_codedeploy::types::{DeploymentInfo, DeploymentOverview, DeploymentStatus};
use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
use aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput;
use aws_sdk_s3::operation::head_bucket::HeadBucketOutput;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::operation::put_object_tagging::PutObjectTaggingOutput;
use aws_sdk_s3::operation::upload_part::UploadPartOutput;
use aws_sdk_ssm::operation::get_parameter::GetParameterOutput;
use aws_sdk_ssm::types::Parameter;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use invisible_pipeline::aws::calls::Listed;
use invisible_pipeline::aws::query::QueryClient;
use invisible_pipeline::aws::{self, Clients};
use invisible_pipeline::deployment::{self, ArchiveSource, DeployConfig, IfBusy};
use invisible_pipeline::revision;
use std::fs;
use std::path::Path;
use std::time::Duration;

pub(crate) const TRIGGER: &str = "2026-11-26T06:00:00Z";

pub(crate) fn clients(s3_rules: &[&Rule], cd_rules: &[&Rule], ssm_rules: &[&Rule]) -> Clients {
    clients_with_elb(s3_rules, cd_rules, ssm_rules, &[])
}

/// [`clients`], with answers of Elastic Load Balancing v2 too.
pub(crate) fn clients_with_elb(
    s3_rules: &[&Rule],
    cd_rules: &[&Rule],
    ssm_rules: &[&Rule],
    elb_rules: &[&Rule],
) -> Clients {
    let retry = || {
        aws_sdk_s3::config::retry::RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(1))
    };
    let s3 = mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        s3_rules.iter().copied(),
        |c| c.retry_config(retry()).interceptor(Listed)
    );
    // Last, so that a test's own rule wins: no successful deployment before this run's, a
    // deployment group without a load balancer, and no instance events to show (the timeline
    // reads them when a deployment ends).
    let defaults = [
        no_successes(),
        plain_group(),
        no_targets(),
        no_target_details(),
    ];
    Clients {
        ssm: mock_client!(
            aws_sdk_ssm,
            RuleMode::MatchAny,
            ssm_rules.iter().copied(),
            |c| c.retry_config(retry()).interceptor(Listed)
        ),
        s3: s3.clone(),
        artifact_s3: s3,
        codedeploy: mock_client!(
            aws_sdk_codedeploy,
            RuleMode::MatchAny,
            cd_rules.iter().copied().chain(defaults.iter()),
            |c| c.retry_config(retry()).interceptor(Listed)
        ),
        elb: mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            elb_rules.iter().copied(),
            |c| c.retry_config(retry()).interceptor(Listed)
        ),
        query: unexpected_query(),
        deploy_region: "us-east-1".into(),
    }
}

/// The answers of a deploy that meets nothing unusual: the bucket in its region, the upload
/// and its tags, no other deployment in the group, CreateDeployment (kept apart, for its count).
pub(crate) struct UsualDeploy {
    pub create: Rule,
    _rest: Vec<Rule>,
}

/// Clients answering a deploy as [`UsualDeploy`] says, the test's own CodeDeploy and Elastic
/// Load Balancing answers first.
pub(crate) fn usual_deploy(cd_rules: &[&Rule], elb_rules: &[&Rule]) -> (Clients, UsualDeploy) {
    let s3 = [head_bucket("us-east-1"), put_object(), tagging()];
    let cd = [list_recent(&[]), list_active(&[])];
    let create = create();
    let s3_refs: Vec<&Rule> = s3.iter().collect();
    let cd_refs: Vec<&Rule> = cd_rules
        .iter()
        .copied()
        .chain(cd.iter())
        .chain([&create])
        .collect();
    let c = clients_with_elb(&s3_refs, &cd_refs, &[], elb_rules);
    let rest = s3.into_iter().chain(cd).collect();
    (
        c,
        UsualDeploy {
            create,
            _rest: rest,
        },
    )
}

/// GetDeploymentGroup of a group that deploys in place, by tag, without a load balancer.
pub(crate) fn plain_group() -> Rule {
    mock!(aws_sdk_codedeploy::Client::get_deployment_group).then_output(|| {
        aws_sdk_codedeploy::operation::get_deployment_group::GetDeploymentGroupOutput::builder()
            .deployment_group_info(
                aws_sdk_codedeploy::types::DeploymentGroupInfo::builder()
                    .application_name("app")
                    .deployment_group_name("web")
                    .build(),
            )
            .build()
    })
}

/// ListDeploymentTargets: no instance (the timeline's instance part is empty).
pub(crate) fn no_targets() -> Rule {
    mock!(aws_sdk_codedeploy::Client::list_deployment_targets).then_output(|| {
        aws_sdk_codedeploy::operation::list_deployment_targets::ListDeploymentTargetsOutput::builder()
            .build()
    })
}

/// BatchGetDeploymentTargets: nothing to tell.
pub(crate) fn no_target_details() -> Rule {
    mock!(aws_sdk_codedeploy::Client::batch_get_deployment_targets).then_output(|| {
        aws_sdk_codedeploy::operation::batch_get_deployment_targets::BatchGetDeploymentTargetsOutput::builder()
            .build()
    })
}

/// ListDeployments of successful deployments (the rollback targets' tags): none.
pub(crate) fn no_successes() -> Rule {
    mock!(aws_sdk_codedeploy::Client::list_deployments)
        .match_requests(|r| r.include_only_statuses() == [DeploymentStatus::Succeeded])
        .then_output(|| ListDeploymentsOutput::builder().build())
}

/// The query client of a run with no preflight: it answers the run's read of its own build
/// (BatchGetBuilds, the timeline's) as AWS does for a build in its BUILD phase that started
/// 40 s ago, and any other call, which no test expects, with an error that names the request.
pub(crate) fn unexpected_query() -> QueryClient {
    QueryClient::answering(
        |body| {
            if body.starts_with(r#"{"ids":"#) {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs_f64();
                return (200, build_answer(now - 40.0));
            }
            (
                400,
                format!("<ErrorResponse><Error><Code>UnexpectedCall</Code><Message>no answer scripted for {body}</Message></Error></ErrorResponse>"),
            )
        },
        "us-east-1",
    )
}

pub(crate) fn config(root: &Path, app: &Path) -> DeployConfig {
    DeployConfig {
        archive: ArchiveSource::Local(app.to_path_buf()),
        rules: revision::Rules::default(),
        codedeploy_dir: codedeploy_dir(root),
        bucket: "artifacts".into(),
        prefix: "bundles".into(),
        kms_key_id: Some("alias/pipeline".into()),
        application: "app".into(),
        group: "web".into(),
        deployment_config: None,
        file_exists_behavior: Some("OVERWRITE".into()),
        ignore_application_stop_failures: false,
        if_busy: IfBusy::Wait,
        wait_timeout: Some(Duration::from_secs(30)),
        busy_timeout: Duration::from_secs(30),
        poll_interval: Duration::from_millis(1),
        wait_for: deployment::WaitFor::Succeeded,
        schedule: deployment::window::Schedule::default(),
        if_outside_window: deployment::IfOutsideWindow::Wait,
        green_fleet_tags: Vec::new(),
        commit: deployment::CommitInfo::id(Some("abc123")),
        build_id: Some("proj:1".into()),
        build_arn: None,
        preflight: false,
        ignore_alarms: false,
        trigger_time: DateTime::from_str(TRIGGER, Format::DateTime).unwrap(),
        mtime: 0,
        upload: aws::s3::UploadSettings::default(),
        upload_mode: deployment::UploadMode::Auto,
        export_file: None,
        work_dir: root.to_path_buf(),
    }
}

pub(crate) fn setup() -> (tempfile::TempDir, DeployConfig) {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app.tgz");
    fs::write(&app, app_tar().end().gz()).unwrap();
    let cfg = config(tmp.path(), &app);
    (tmp, cfg)
}

pub(crate) fn head_bucket(region: &'static str) -> Rule {
    mock!(aws_sdk_s3::Client::head_bucket)
        .then_output(move || HeadBucketOutput::builder().bucket_region(region).build())
}

pub(crate) fn put_object() -> Rule {
    mock!(aws_sdk_s3::Client::put_object).then_output(|| {
        PutObjectOutput::builder()
            .e_tag("\"etag1\"")
            .version_id("v1")
            .build()
    })
}

pub(crate) fn tagging() -> Rule {
    mock!(aws_sdk_s3::Client::put_object_tagging)
        .then_output(|| PutObjectTaggingOutput::builder().build())
}

/// ListDeployments for the stale-run check (no status filter): `ids`.
pub(crate) fn list_recent(ids: &'static [&'static str]) -> Rule {
    mock!(aws_sdk_codedeploy::Client::list_deployments)
        .match_requests(|r| r.include_only_statuses().is_empty())
        .then_output(move || {
            ListDeploymentsOutput::builder()
                .set_deployments(Some(ids.iter().map(|s| s.to_string()).collect()))
                .build()
        })
}

/// ListDeployments for active ones: `first` once, then none.
pub(crate) fn list_active(first: &'static [&'static str]) -> Rule {
    mock!(aws_sdk_codedeploy::Client::list_deployments)
        .match_requests(|r| {
            r.include_only_statuses()
                .contains(&DeploymentStatus::InProgress)
        })
        .sequence()
        .output(move || {
            ListDeploymentsOutput::builder()
                .set_deployments(Some(first.iter().map(|s| s.to_string()).collect()))
                .build()
        })
        .output(|| ListDeploymentsOutput::builder().build())
        .repeatedly()
        .build()
}

pub(crate) fn create() -> Rule {
    mock!(aws_sdk_codedeploy::Client::create_deployment).then_output(|| {
        CreateDeploymentOutput::builder()
            .deployment_id("d-new")
            .build()
    })
}

pub(crate) fn info(id: &str, status: DeploymentStatus) -> DeploymentInfo {
    DeploymentInfo::builder()
        .deployment_id(id)
        .status(status)
        .deployment_overview(
            DeploymentOverview::builder()
                .pending(1)
                .in_progress(1)
                .build(),
        )
        .build()
}

pub(crate) fn get_deployment(statuses: &'static [DeploymentStatus]) -> Rule {
    let mut seq = mock!(aws_sdk_codedeploy::Client::get_deployment).sequence();
    for s in statuses {
        seq = seq.output(move || {
            GetDeploymentOutput::builder()
                .deployment_info(info("d-new", s.clone()))
                .build()
        });
    }
    seq.repeatedly().build()
}

pub(crate) fn batch_get(described: &'static [(&'static str, &'static str)]) -> Rule {
    mock!(aws_sdk_codedeploy::Client::batch_get_deployments).then_output(move || {
        BatchGetDeploymentsOutput::builder()
            .set_deployments_info(Some(
                described
                    .iter()
                    .map(|(id, d)| {
                        DeploymentInfo::builder()
                            .deployment_id(*id)
                            .description(*d)
                            .status(DeploymentStatus::InProgress)
                            .build()
                    })
                    .collect(),
            ))
            .build()
    })
}

pub(crate) fn parameter(value: &'static str) -> Rule {
    mock!(aws_sdk_ssm::Client::get_parameter)
        .match_requests(|r| r.name() == Some("/app/archive") && r.with_decryption() == Some(true))
        .then_output(move || {
            GetParameterOutput::builder()
                .parameter(Parameter::builder().value(value).build())
                .build()
        })
}

pub(crate) fn delete_object() -> Rule {
    mock!(aws_sdk_s3::Client::delete_object)
        .match_requests(|r| {
            r.key() == Some("bundles/app/abc123/proj-1.tgz") && r.version_id() == Some("v1")
        })
        .then_output(|| aws_sdk_s3::operation::delete_object::DeleteObjectOutput::builder().build())
}

pub(crate) fn limit_exceeded(
) -> aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentError {
    aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentError::DeploymentLimitExceededException(
        aws_sdk_codedeploy::types::error::DeploymentLimitExceededException::builder().message("in progress").build(),
    )
}

/// An S3 double with AWS's checksum rules for multipart uploads:
/// - an upload created with `ChecksumAlgorithm=CRC32` wants every part's CRC-32 listed in
///   CompleteMultipartUpload, else 400 InvalidRequest "The upload was created using a crc32
///   checksum. The complete request must include the checksum for each part. It was missing
///   for part N in the request." (API reference, CompletedPart: "present if the multipart
///   upload request was created with the CRC32 checksum algorithm");
/// - an upload created without one whose parts were sent with a CRC-32 is refused at
///   CompleteMultipartUpload with 400 InvalidPart, as S3 answered the SDKs' default part
///   checksums in 2025 (aws-sdk-go-v2#3005, aws-sdk-java-v2#6518; in 2024 S3 refused the
///   part itself, "Checksum Type mismatch occurred, expected checksum Type: null"); moto
///   accepts all of it.
pub(crate) struct ChecksumRules {
    uploads: std::sync::Mutex<std::collections::HashMap<String, bool>>,
    parts: std::sync::Mutex<std::collections::HashMap<(String, i32), Option<String>>>,
}

fn s3_error(code: &str, message: &str) -> aws_smithy_runtime_api::http::Response {
    aws_smithy_runtime_api::http::Response::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
        aws_smithy_types::body::SdkBody::from(format!(
            "<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        )),
    )
}

impl ChecksumRules {
    pub(crate) fn rules() -> [Rule; 3] {
        use aws_smithy_mocks::MockResponse;
        let state = std::sync::Arc::new(ChecksumRules {
            uploads: Default::default(),
            parts: Default::default(),
        });
        let s = state.clone();
        let create =
            mock!(aws_sdk_s3::Client::create_multipart_upload).then_compute_output(move |r| {
                let crc32 =
                    r.checksum_algorithm() == Some(&aws_sdk_s3::types::ChecksumAlgorithm::Crc32);
                let mut uploads = s.uploads.lock().unwrap();
                let id = format!("u-{}", uploads.len());
                uploads.insert(id.clone(), crc32);
                CreateMultipartUploadOutput::builder().upload_id(id).build()
            });
        let s = state.clone();
        let part = mock!(aws_sdk_s3::Client::upload_part).then_compute_output(move |r| {
            let key = (r.upload_id().unwrap().to_string(), r.part_number().unwrap());
            let crc = r.checksum_crc32().map(str::to_string);
            s.parts.lock().unwrap().insert(key.clone(), crc.clone());
            UploadPartOutput::builder()
                .e_tag(format!("\"{}-{}\"", key.0, key.1))
                .set_checksum_crc32(crc)
                .build()
        });
        let s = state;
        let complete = mock!(aws_sdk_s3::Client::complete_multipart_upload)
            .then_compute_response(move |r| {
                let id = r.upload_id().unwrap();
                let crc32_upload = s.uploads.lock().unwrap()[id];
                let parts = s.parts.lock().unwrap();
                let listed = r.multipart_upload().map(|m| m.parts()).unwrap_or_default();
                for p in listed {
                    let number = p.part_number().unwrap();
                    let Some(sent) = parts.get(&(id.to_string(), number)) else {
                        return MockResponse::Http(s3_error("InvalidPart", "One or more of the specified parts could not be found."));
                    };
                    match (crc32_upload, sent, p.checksum_crc32()) {
                        (true, _, None) => {
                            return MockResponse::Http(s3_error(
                                "InvalidRequest",
                                &format!("The upload was created using a crc32 checksum. The complete request must include the checksum for each part. It was missing for part {number} in the request."),
                            ))
                        }
                        (true, Some(sent), Some(listed)) if sent != listed => {
                            return MockResponse::Http(s3_error("InvalidPart", "One or more of the specified parts could not be found."))
                        }
                        // "This checksum algorithm must be the same for all parts and it
                        // match the checksum value supplied in the CreateMultipartUpload
                        // request" (API reference, UploadPart).
                        (false, Some(_), _) => {
                            return MockResponse::Http(s3_error("InvalidPart", "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."))
                        }
                        _ => {}
                    }
                }
                MockResponse::Output(
                    CompleteMultipartUploadOutput::builder()
                        .e_tag("\"whole-3\"")
                        .version_id("v9")
                        .build(),
                )
            });
        [create, part, complete]
    }
}

/// BatchGetBuilds of the run's build, in its BUILD phase, as the API reference's example
/// answers (`Build`, `BuildPhase`): the build started 40 s ago.
pub(crate) fn build_answer(start: f64) -> String {
    let phase = |kind: &str, from: f64, to: f64| {
        serde_json::json!({
            "phaseType": kind, "phaseStatus": "SUCCEEDED",
            "startTime": start + from, "endTime": start + to,
            "durationInSeconds": (to - from) as i64
        })
    };
    serde_json::json!({
        "builds": [{
            "id": "proj:1",
            "arn": "arn:aws:codebuild:us-east-1:123456789012:build/proj:1",
            "buildNumber": 42,
            "startTime": start,
            "currentPhase": "BUILD",
            "buildStatus": "IN_PROGRESS",
            "buildComplete": false,
            "projectName": "proj",
            "initiator": "rule/invisible-pipeline-trigger",
            "sourceVersion": "abc123",
            "resolvedSourceVersion": "abc123",
            "phases": [
                phase("SUBMITTED", 0.0, 0.5),
                phase("QUEUED", 0.5, 2.0),
                phase("PROVISIONING", 2.0, 24.0),
                phase("DOWNLOAD_SOURCE", 24.0, 26.0),
                phase("INSTALL", 26.0, 27.5),
                phase("PRE_BUILD", 27.5, 27.5),
                {"phaseType": "BUILD", "startTime": start + 27.5}
            ],
            "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/amazonlinux-x86_64-standard:6.0", "computeType": "BUILD_GENERAL1_SMALL"},
            "logs": {"groupName": "/aws/codebuild/proj", "streamName": "1"},
            "timeoutInMinutes": 75,
            "queuedTimeoutInMinutes": 480,
            "encryptionKey": "arn:aws:kms:us-east-1:123456789012:alias/aws/s3"
        }],
        "buildsNotFound": []
    })
    .to_string()
}
