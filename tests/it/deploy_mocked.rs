//! The deploy step's error, retry and ordering paths against scripted AWS answers
//! (aws-smithy-mocks): no network, the real SDK clients.

use crate::support::fixtures::*;
use crate::support::mocks::*;
use aws_sdk_codedeploy::operation::batch_get_deployment_targets::BatchGetDeploymentTargetsOutput;
use aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentOutput;
use aws_sdk_codedeploy::operation::list_deployment_targets::ListDeploymentTargetsOutput;
use aws_sdk_codedeploy::operation::list_deployments::ListDeploymentsOutput;
use aws_sdk_codedeploy::operation::stop_deployment::StopDeploymentOutput;
use aws_sdk_codedeploy::types::{
    DeploymentStatus, DeploymentTarget, Diagnostics as CdDiagnostics, InstanceTarget,
    LifecycleErrorCode, LifecycleEvent, LifecycleEventStatus, TargetStatus,
};
use aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadOutput;
use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
use aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::operation::put_object_tagging::PutObjectTaggingOutput;
use aws_sdk_s3::operation::upload_part::UploadPartOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::error::NoSuchKey;
use aws_sdk_ssm::operation::get_parameter::{GetParameterError, GetParameterOutput};
use aws_sdk_ssm::types::error::ParameterNotFound;
use aws_sdk_ssm::types::Parameter;
use aws_smithy_mocks::mock;
use invisible_pipeline::aws;
use invisible_pipeline::base::error::{exit, Error};
use invisible_pipeline::base::shutdown::Shutdown;
use invisible_pipeline::commands::deploy;
use invisible_pipeline::deployment::{DeployConfig, IfBusy, Outcome};
use std::fs;
use std::path::Path;
use std::time::Duration;

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
