//! The deploy step's error, retry and ordering paths against scripted AWS answers
//! (aws-smithy-mocks): no network, the real SDK clients.

use crate::fixtures::*;
use aws_sdk_codedeploy::operation::batch_get_deployment_targets::BatchGetDeploymentTargetsOutput;
use aws_sdk_codedeploy::operation::batch_get_deployments::BatchGetDeploymentsOutput;
use aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentOutput;
use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
use aws_sdk_codedeploy::operation::list_deployment_targets::ListDeploymentTargetsOutput;
use aws_sdk_codedeploy::operation::list_deployments::ListDeploymentsOutput;
use aws_sdk_codedeploy::operation::stop_deployment::StopDeploymentOutput;
use aws_sdk_codedeploy::types::{
    DeploymentInfo, DeploymentOverview, DeploymentStatus, DeploymentTarget,
    Diagnostics as CdDiagnostics, InstanceTarget, LifecycleErrorCode, LifecycleEvent,
    LifecycleEventStatus, TargetStatus,
};
use aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadOutput;
use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
use aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::operation::head_bucket::HeadBucketOutput;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::operation::put_object_tagging::PutObjectTaggingOutput;
use aws_sdk_s3::operation::upload_part::UploadPartOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::error::NoSuchKey;
use aws_sdk_ssm::operation::get_parameter::{GetParameterError, GetParameterOutput};
use aws_sdk_ssm::types::error::ParameterNotFound;
use aws_sdk_ssm::types::Parameter;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use invisible_pipeline::aws::calls::Listed;
use invisible_pipeline::aws::{self, Clients};
use invisible_pipeline::base::error::{exit, Error};
use invisible_pipeline::base::shutdown::Shutdown;
use invisible_pipeline::commands::deploy;
use invisible_pipeline::deployment::{self, ArchiveSource, DeployConfig, IfBusy, Outcome};
use std::fs;
use std::path::Path;
use std::time::Duration;

pub(crate) const TRIGGER: &str = "2026-11-26T06:00:00Z";

pub(crate) fn clients(s3_rules: &[&Rule], cd_rules: &[&Rule], ssm_rules: &[&Rule]) -> Clients {
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
    // Last, so that a test's own rule wins: no successful deployment before this run's.
    let defaults = [no_successes()];
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
        deploy_region: "us-east-1".into(),
    }
}

/// ListDeployments of successful deployments (the rollback targets' tags): none.
pub(crate) fn no_successes() -> Rule {
    mock!(aws_sdk_codedeploy::Client::list_deployments)
        .match_requests(|r| r.include_only_statuses() == [DeploymentStatus::Succeeded])
        .then_output(|| ListDeploymentsOutput::builder().build())
}

pub(crate) fn config(root: &Path, app: &Path) -> DeployConfig {
    DeployConfig {
        archive: ArchiveSource::Local(app.to_path_buf()),
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
        commit: Some("abc123".into()),
        build_id: Some("proj:1".into()),
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

#[tokio::test(flavor = "multi_thread")]
async fn deploys_and_follows_to_success() {
    let (tmp, mut cfg) = setup();
    cfg.export_file = Some(tmp.path().join("exports.env"));
    let (hb, put, tag, recent, active, cr) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        list_recent(&[]),
        list_active(&[]),
        create(),
    );
    let get = get_deployment(&[
        DeploymentStatus::Created,
        DeploymentStatus::InProgress,
        DeploymentStatus::Succeeded,
    ]);
    let c = clients(&[&hb, &put, &tag], &[&recent, &active, &cr, &get], &[]);
    let (_tx, shutdown) = Shutdown::manual();
    let outcome = deploy::run(&c, &cfg, &shutdown).await.unwrap();
    assert_eq!(outcome.status, Outcome::Succeeded);
    assert_eq!(outcome.deployment_id.as_deref(), Some("d-new"));
    assert_eq!(outcome.final_status.as_deref(), Some("Succeeded"));
    assert_eq!(
        outcome.revision.as_deref(),
        Some("s3://artifacts/bundles/app/abc123/proj-1.tgz")
    );
    assert_eq!(
        (put.num_calls(), cr.num_calls(), tag.num_calls()),
        (1, 1, 1)
    );
    assert_eq!(get.num_calls(), 3);
    let exports = fs::read_to_string(tmp.path().join("exports.env")).unwrap();
    assert!(exports.contains("DEPLOYMENT_ID=d-new\n"), "{exports}");
    assert!(
        exports.contains(&format!("BUNDLE_SHA256={}\n", outcome.bundle.sha256)),
        "{exports}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bucket_in_another_region_is_a_usage_error_before_any_upload() {
    let (_tmp, cfg) = setup();
    let (hb, put) = (head_bucket("eu-west-1"), put_object());
    let c = clients(&[&hb, &put], &[], &[]);
    let err = deploy::run(&c, &cfg, &Shutdown::manual().1)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::USAGE);
    assert!(
        err.to_string()
            .contains("artifact bucket artifacts is in eu-west-1"),
        "{err}"
    );
    assert_eq!(put.num_calls(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn busy_group_wait_then_deploy() {
    let (_tmp, cfg) = setup();
    let (hb, put, tag, recent, active, cr) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        list_recent(&[]),
        list_active(&["d-old"]),
        create(),
    );
    let get = get_deployment(&[DeploymentStatus::Succeeded]);
    let c = clients(&[&hb, &put, &tag], &[&recent, &active, &cr, &get], &[]);
    let outcome = deploy::run(&c, &cfg, &Shutdown::manual().1).await.unwrap();
    assert_eq!(outcome.status, Outcome::Succeeded);
    assert_eq!(active.num_calls(), 2, "looked again after waiting");
    assert_eq!(cr.num_calls(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn busy_group_stop_active_then_deploy() {
    let (_tmp, mut cfg) = setup();
    cfg.if_busy = IfBusy::StopActive;
    let stop = mock!(aws_sdk_codedeploy::Client::stop_deployment)
        .match_requests(|r| r.deployment_id() == Some("d-old"))
        .then_output(|| StopDeploymentOutput::builder().build());
    let (hb, put, tag, recent, active, cr) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        list_recent(&[]),
        list_active(&["d-old"]),
        create(),
    );
    let get = get_deployment(&[DeploymentStatus::Succeeded]);
    let c = clients(
        &[&hb, &put, &tag],
        &[&recent, &active, &cr, &get, &stop],
        &[],
    );
    let outcome = deploy::run(&c, &cfg, &Shutdown::manual().1).await.unwrap();
    assert_eq!(outcome.status, Outcome::Succeeded);
    assert_eq!(stop.num_calls(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn busy_group_fail_exits_6_and_uploads_nothing() {
    let (_tmp, mut cfg) = setup();
    cfg.if_busy = IfBusy::Fail;
    let (hb, put, recent, active, cr) = (
        head_bucket("us-east-1"),
        put_object(),
        list_recent(&[]),
        list_active(&["d-old"]),
        create(),
    );
    let c = clients(&[&hb, &put], &[&recent, &active, &cr], &[]);
    let err = deploy::run(&c, &cfg, &Shutdown::manual().1)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::GROUP_BUSY);
    assert!(
        err.to_string().contains("busy with deployment d-old"),
        "{err}"
    );
    assert_eq!((put.num_calls(), cr.num_calls()), (0, 0));
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

#[tokio::test(flavor = "multi_thread")]
async fn stale_run_is_superseded_and_creates_nothing() {
    let (_tmp, cfg) = setup();
    let recent = list_recent(&["d-mine-earlier", "d-newer", "d-by-hand"]);
    let batch = batch_get(&[
        (
            "d-mine-earlier",
            "invisible-pipeline trigger=2026-11-26T05:00:00Z commit=a build=b",
        ),
        (
            "d-newer",
            "invisible-pipeline trigger=2026-11-26T06:30:00Z commit=c build=d",
        ),
        ("d-by-hand", "hotfix deployed from the console"),
    ]);
    let (hb, put, active, cr) = (
        head_bucket("us-east-1"),
        put_object(),
        list_active(&[]),
        create(),
    );
    let c = clients(&[&hb, &put], &[&recent, &batch, &active, &cr], &[]);
    let outcome = deploy::run(&c, &cfg, &Shutdown::manual().1).await.unwrap();
    assert_eq!(outcome.status, Outcome::Superseded);
    assert_eq!(outcome.superseded_by.as_deref(), Some("d-newer"));
    assert_eq!((put.num_calls(), cr.num_calls()), (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn older_deployments_do_not_supersede() {
    let (_tmp, cfg) = setup();
    let recent = list_recent(&["d-older"]);
    let batch = batch_get(&[(
        "d-older",
        "invisible-pipeline trigger=2026-11-26T05:59:59Z commit=a build=b",
    )]);
    let (hb, put, tag, active, cr) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        list_active(&[]),
        create(),
    );
    let get = get_deployment(&[DeploymentStatus::Succeeded]);
    let c = clients(
        &[&hb, &put, &tag],
        &[&recent, &batch, &active, &cr, &get],
        &[],
    );
    assert_eq!(
        deploy::run(&c, &cfg, &Shutdown::manual().1)
            .await
            .unwrap()
            .status,
        Outcome::Succeeded
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_deployment_reports_instance_diagnostics() {
    let (_tmp, cfg) = setup();
    let targets = mock!(aws_sdk_codedeploy::Client::list_deployment_targets).then_output(|| {
        ListDeploymentTargetsOutput::builder()
            .target_ids("i-0abc")
            .build()
    });
    let details = mock!(aws_sdk_codedeploy::Client::batch_get_deployment_targets).then_output(|| {
        let event = LifecycleEvent::builder()
            .lifecycle_event_name("BeforeInstall")
            .status(LifecycleEventStatus::Failed)
            .diagnostics(
                CdDiagnostics::builder()
                    .error_code(LifecycleErrorCode::ScriptFailed)
                    .script_name("scripts/install.sh")
                    .message("Script at specified location: scripts/install.sh run as user root failed with exit code 1")
                    .log_tail("[stderr]dnf: no such package\n[stderr]exit 1")
                    .build(),
            )
            .build();
        let ok = LifecycleEvent::builder().lifecycle_event_name("ApplicationStop").status(LifecycleEventStatus::Succeeded).build();
        BatchGetDeploymentTargetsOutput::builder()
            .deployment_targets(
                DeploymentTarget::builder()
                    .instance_target(InstanceTarget::builder().target_id("i-0abc").status(TargetStatus::Failed).lifecycle_events(ok).lifecycle_events(event).build())
                    .build(),
            )
            .build()
    });
    let tag = mock!(aws_sdk_s3::Client::put_object_tagging)
        .match_requests(|r| {
            r.tagging()
                .is_some_and(|t| t.tag_set().iter().any(|tag| tag.value() == "Failed"))
        })
        .then_output(|| PutObjectTaggingOutput::builder().build());
    let (hb, put, recent, active, cr) = (
        head_bucket("us-east-1"),
        put_object(),
        list_recent(&[]),
        list_active(&[]),
        create(),
    );
    let get = get_deployment(&[DeploymentStatus::InProgress, DeploymentStatus::Failed]);
    let c = clients(
        &[&hb, &put, &tag],
        &[&recent, &active, &cr, &get, &targets, &details],
        &[],
    );
    let err = deploy::run(&c, &cfg, &Shutdown::manual().1)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::DEPLOYMENT_FAILED);
    let text = err.to_string();
    assert!(text.contains("deployment d-new failed"), "{text}");
    assert!(text.contains("instance i-0abc: BeforeInstall failed: ScriptFailed in scripts/install.sh: Script at specified location"), "{text}");
    assert!(
        text.contains("    | [stderr]dnf: no such package"),
        "{text}"
    );
    assert_eq!(tag.num_calls(), 1, "bundle tagged Failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn stopped_deployment_fails_unless_a_newer_run_stopped_it() {
    // Stopped by hand: exit 5.
    let (_tmp, cfg) = setup();
    let (hb, put, tag, recent, active, cr) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        list_recent(&[]),
        list_active(&[]),
        create(),
    );
    let get = get_deployment(&[DeploymentStatus::Stopped]);
    let c = clients(&[&hb, &put, &tag], &[&recent, &active, &cr, &get], &[]);
    let err = deploy::run(&c, &cfg, &Shutdown::manual().1)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::DEPLOYMENT_FAILED);
    assert!(err.to_string().contains("d-new was stopped"), "{err}");

    // Stopped for a newer trigger's deployment: superseded, exit 0.
    let (_tmp, cfg) = setup();
    let recent = mock!(aws_sdk_codedeploy::Client::list_deployments)
        .match_requests(|r| r.include_only_statuses().is_empty())
        .sequence()
        .output(|| ListDeploymentsOutput::builder().build())
        .times(2)
        .output(|| {
            ListDeploymentsOutput::builder()
                .deployments("d-new")
                .deployments("d-newest")
                .build()
        })
        .repeatedly()
        .build();
    let batch = batch_get(&[
        (
            "d-new",
            "invisible-pipeline trigger=2026-11-26T06:00:00Z commit=a build=b",
        ),
        (
            "d-newest",
            "invisible-pipeline trigger=2026-11-26T06:05:00Z commit=c build=d",
        ),
    ]);
    let (hb, put, tag, active, cr) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        list_active(&[]),
        create(),
    );
    let get = get_deployment(&[DeploymentStatus::Stopped]);
    let c = clients(
        &[&hb, &put, &tag],
        &[&recent, &batch, &active, &cr, &get],
        &[],
    );
    let outcome = deploy::run(&c, &cfg, &Shutdown::manual().1).await.unwrap();
    assert_eq!(
        (outcome.status, outcome.superseded_by.as_deref()),
        (Outcome::Superseded, Some("d-newest"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gives_up_waiting_with_exit_7_and_the_id() {
    let (_tmp, mut cfg) = setup();
    cfg.wait_timeout = Some(Duration::from_millis(30));
    cfg.poll_interval = Duration::from_millis(5);
    let (hb, put, recent, active, cr) = (
        head_bucket("us-east-1"),
        put_object(),
        list_recent(&[]),
        list_active(&[]),
        create(),
    );
    let get = get_deployment(&[DeploymentStatus::InProgress]);
    let c = clients(&[&hb, &put], &[&recent, &active, &cr, &get], &[]);
    let err = deploy::run(&c, &cfg, &Shutdown::manual().1)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::WAIT_TIMEOUT);
    assert!(
        err.to_string()
            .contains("deployment d-new is still running"),
        "{err}"
    );
    assert!(get.num_calls() >= 2);
}

/// A release with one big file (`content`) in `dir`, uploaded in 5 MiB parts.
fn multipart_config(dir: &Path, content: &[u8], concurrency: usize) -> DeployConfig {
    let app = dir.join("big.tar");
    fs::write(
        &app,
        app_tar().file("site/big.bin", content, 0o644).end().bytes(),
    )
    .unwrap();
    let mut cfg = config(dir, &app);
    cfg.upload = aws::s3::UploadSettings {
        multipart_threshold: 1 << 20,
        part_size: 5 << 20,
        concurrency,
    };
    cfg
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_failure_mid_way_aborts_the_multipart_upload() {
    let tmp = tempfile::tempdir().unwrap();
    let noise: Vec<u8> = (0..12u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let cfg = multipart_config(tmp.path(), &noise, 1);
    let created = mock!(aws_sdk_s3::Client::create_multipart_upload)
        .match_requests(|r| {
            r.ssekms_key_id() == Some("alias/pipeline") && r.server_side_encryption().is_some()
        })
        .then_output(|| {
            CreateMultipartUploadOutput::builder()
                .upload_id("u-1")
                .build()
        });
    let part = mock!(aws_sdk_s3::Client::upload_part)
        .sequence()
        .output(|| UploadPartOutput::builder().e_tag("\"p1\"").build())
        .http_status(
            403,
            Some(
                "<Error><Code>AccessDenied</Code><Message>KMS key not allowed</Message></Error>"
                    .into(),
            ),
        )
        .repeatedly()
        .build();
    let abort = mock!(aws_sdk_s3::Client::abort_multipart_upload)
        .match_requests(|r| r.upload_id() == Some("u-1"))
        .then_output(|| AbortMultipartUploadOutput::builder().build());
    let complete = mock!(aws_sdk_s3::Client::complete_multipart_upload)
        .then_output(|| CompleteMultipartUploadOutput::builder().build());
    let (hb, recent, active, cr) = (
        head_bucket("us-east-1"),
        list_recent(&[]),
        list_active(&[]),
        create(),
    );
    let c = clients(
        &[&hb, &created, &part, &abort, &complete],
        &[&recent, &active, &cr],
        &[],
    );
    let err = deploy::run(&c, &cfg, &Shutdown::manual().1)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::IO);
    assert!(err.to_string().contains("cannot upload part 2"), "{err}");
    assert!(err.to_string().contains("access denied"), "{err}");
    assert_eq!(
        (abort.num_calls(), complete.num_calls(), cr.num_calls()),
        (1, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signal_during_multipart_upload_aborts_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = multipart_config(tmp.path(), &vec![1u8; 11 << 20], 2);
    let (tx, shutdown) = Shutdown::manual();
    let created = mock!(aws_sdk_s3::Client::create_multipart_upload).then_output(move || {
        // The job is cancelled while the upload starts.
        tx.fire("SIGTERM");
        CreateMultipartUploadOutput::builder()
            .upload_id("u-2")
            .build()
    });
    let part = mock!(aws_sdk_s3::Client::upload_part)
        .then_output(|| UploadPartOutput::builder().e_tag("\"p\"").build());
    let abort = mock!(aws_sdk_s3::Client::abort_multipart_upload)
        .then_output(|| AbortMultipartUploadOutput::builder().build());
    let complete = mock!(aws_sdk_s3::Client::complete_multipart_upload)
        .then_output(|| CompleteMultipartUploadOutput::builder().build());
    let (hb, recent, active, cr) = (
        head_bucket("us-east-1"),
        list_recent(&[]),
        list_active(&[]),
        create(),
    );
    let c = clients(
        &[&hb, &created, &part, &abort, &complete],
        &[&recent, &active, &cr],
        &[],
    );
    let err = deploy::run(&c, &cfg, &shutdown).await.unwrap_err();
    assert!(matches!(err, Error::Interrupted("SIGTERM")), "{err}");
    assert_eq!(err.exit_code(), 143);
    assert_eq!(
        (abort.num_calls(), complete.num_calls(), cr.num_calls()),
        (1, 0, 0)
    );
}

// SSM and S3 reads, through the thin functions.

pub(crate) fn parameter(value: &'static str) -> Rule {
    mock!(aws_sdk_ssm::Client::get_parameter)
        .match_requests(|r| r.name() == Some("/app/archive") && r.with_decryption() == Some(true))
        .then_output(move || {
            GetParameterOutput::builder()
                .parameter(Parameter::builder().value(value).build())
                .build()
        })
}

#[tokio::test]
async fn parameter_values() {
    let ok = parameter("s3://releases/app-1.2.tgz?versionId=v7");
    let c = clients(&[], &[], &[&ok]);
    let url = aws::ssm::archive_location(&c.ssm, "/app/archive")
        .await
        .unwrap();
    assert_eq!(
        url.url.to_string(),
        "s3://releases/app-1.2.tgz?versionId=v7"
    );
    assert!(!url.secret);

    let bad = parameter("releases/app-1.2.tgz");
    let c = clients(&[], &[], &[&bad]);
    let err = aws::ssm::archive_location(&c.ssm, "/app/archive")
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);
    let Error::Invalid(diags) = err else { panic!() };
    let first = diags.errors().next().unwrap().to_string();
    assert!(
        first.starts_with(
            "SSM parameter /app/archive: 'releases/app-1.2.tgz' is not an S3 location"
        ),
        "{first}"
    );

    let missing = mock!(aws_sdk_ssm::Client::get_parameter)
        .then_error(|| GetParameterError::ParameterNotFound(ParameterNotFound::builder().build()));
    let c = clients(&[], &[], &[&missing]);
    let err = aws::ssm::archive_location(&c.ssm, "/app/archive")
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::IO);
    assert!(
        err.to_string()
            .contains("cannot read SSM parameter /app/archive: parameter not found"),
        "{err}"
    );
}

#[tokio::test]
async fn throttling_is_retried() {
    let throttled = mock!(aws_sdk_ssm::Client::get_parameter)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .output(|| {
            GetParameterOutput::builder()
                .parameter(Parameter::builder().value("s3://releases/a.tgz").build())
                .build()
        })
        .build();
    let c = clients(&[], &[], &[&throttled]);
    let url = aws::ssm::archive_location(&c.ssm, "/app/archive")
        .await
        .unwrap();
    assert_eq!(url.url.key, "a.tgz");
    assert_eq!(throttled.num_calls(), 2);
}

#[tokio::test]
async fn download_errors_name_the_object() {
    let tmp = tempfile::tempdir().unwrap();
    let url = "s3://releases/app.tgz".parse().unwrap();
    let dest = tmp.path().join("app.tgz");

    let missing = mock!(aws_sdk_s3::Client::get_object)
        .then_error(|| GetObjectError::NoSuchKey(NoSuchKey::builder().build()));
    let c = clients(&[&missing], &[], &[]);
    let err = aws::s3::download(
        &c.s3,
        &url,
        "s3://releases/app.tgz",
        &dest,
        None,
        &Shutdown::manual().1,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot download application archive s3://releases/app.tgz: no such object"),
        "{err}"
    );

    let denied = mock!(aws_sdk_s3::Client::get_object).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
            aws_smithy_types::body::SdkBody::from(
                "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
            ),
        )
    });
    let c = clients(&[&denied], &[], &[]);
    let err = aws::s3::download(
        &c.s3,
        &url,
        "s3://releases/app.tgz",
        &dest,
        None,
        &Shutdown::manual().1,
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("s3://releases/app.tgz: access denied"),
        "{text}"
    );
    assert!(text.contains("kms:Decrypt"), "{text}");

    let ok = mock!(aws_sdk_s3::Client::get_object).then_output(|| {
        GetObjectOutput::builder()
            .e_tag("\"e1\"")
            .version_id("v1")
            .body(ByteStream::from_static(b"archive bytes"))
            .build()
    });
    let c = clients(&[&ok], &[], &[]);
    let info = aws::s3::download(
        &c.s3,
        &url,
        "s3://releases/app.tgz",
        &dest,
        None,
        &Shutdown::manual().1,
    )
    .await
    .unwrap();
    assert_eq!(
        (info.etag.as_deref(), info.version_id.as_deref(), info.bytes),
        (Some("\"e1\""), Some("v1"), 13)
    );
    assert_eq!(fs::read(&dest).unwrap(), b"archive bytes");
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

#[tokio::test(flavor = "multi_thread")]
async fn group_taken_between_look_and_create_waits_and_retries() {
    let (_tmp, cfg) = setup();
    let cr = mock!(aws_sdk_codedeploy::Client::create_deployment)
        .sequence()
        .error(limit_exceeded)
        .output(|| {
            CreateDeploymentOutput::builder()
                .deployment_id("d-new")
                .build()
        })
        .build();
    let (hb, put, tag, del, recent, active) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        delete_object(),
        list_recent(&[]),
        list_active(&[]),
    );
    let get = get_deployment(&[DeploymentStatus::Succeeded]);
    let c = clients(
        &[&hb, &put, &tag, &del],
        &[&recent, &active, &cr, &get],
        &[],
    );
    let outcome = deploy::run(&c, &cfg, &Shutdown::manual().1).await.unwrap();
    assert_eq!(outcome.status, Outcome::Succeeded);
    assert_eq!(
        (cr.num_calls(), put.num_calls(), del.num_calls()),
        (2, 1, 0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_create_removes_the_uploaded_bundle() {
    // Another deployment took the group and --if-busy fail: exit 6, no orphan bundle.
    let (_tmp, mut cfg) = setup();
    cfg.if_busy = IfBusy::Fail;
    let cr = mock!(aws_sdk_codedeploy::Client::create_deployment).then_error(limit_exceeded);
    let (hb, put, del, recent, active) = (
        head_bucket("us-east-1"),
        put_object(),
        delete_object(),
        list_recent(&[]),
        list_active(&[]),
    );
    let c = clients(&[&hb, &put, &del], &[&recent, &active, &cr], &[]);
    let err = deploy::run(&c, &cfg, &Shutdown::manual().1)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::GROUP_BUSY);
    assert_eq!(del.num_calls(), 1);

    // Any other refusal: exit 4, no orphan bundle either.
    let (_tmp, cfg) = setup();
    let cr = mock!(aws_sdk_codedeploy::Client::create_deployment)
        .then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
                aws_smithy_types::body::SdkBody::from(r#"{"__type":"InvalidRoleException","message":"The service role cannot be assumed"}"#),
            )
        });
    let (hb, put, del, recent, active) = (
        head_bucket("us-east-1"),
        put_object(),
        delete_object(),
        list_recent(&[]),
        list_active(&[]),
    );
    let c = clients(&[&hb, &put, &del], &[&recent, &active, &cr], &[]);
    let err = deploy::run(&c, &cfg, &Shutdown::manual().1)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::IO);
    assert!(
        err.to_string()
            .contains("cannot create a deployment in app/web: InvalidRoleException"),
        "{err}"
    );
    assert_eq!(del.num_calls(), 1);
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
struct ChecksumRules {
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
    fn rules() -> [Rule; 3] {
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

#[tokio::test(flavor = "multi_thread")]
async fn multipart_upload_meets_s3_checksum_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = multipart_config(tmp.path(), &vec![7u8; 11 << 20], 2);
    let [created, part, complete] = ChecksumRules::rules();
    let (hb, tag, recent, active, cr) = (
        head_bucket("us-east-1"),
        tagging(),
        list_recent(&[]),
        list_active(&[]),
        create(),
    );
    let get = get_deployment(&[DeploymentStatus::Succeeded]);
    let c = clients(
        &[&hb, &created, &part, &complete, &tag],
        &[&recent, &active, &cr, &get],
        &[],
    );
    let outcome = deploy::run(&c, &cfg, &Shutdown::manual().1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.status, Outcome::Succeeded);
    assert_eq!(outcome.revision_version_id.as_deref(), Some("v9"));
    assert_eq!(
        (part.num_calls(), complete.num_calls(), cr.num_calls()),
        (3, 1, 1)
    );
}
