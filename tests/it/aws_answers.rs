//! The deploy step against answers shaped exactly like AWS's, failures included: what moto
//! and kind mocks never send. Each test names the AWS behaviour and, where not obvious, the
//! page that documents it.

use crate::support::fixtures::*;
use crate::support::mocks::*;
use aws_sdk_codedeploy::operation::batch_get_deployment_targets::BatchGetDeploymentTargetsOutput;
use aws_sdk_codedeploy::operation::batch_get_deployments::BatchGetDeploymentsOutput;
use aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentOutput;
use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
use aws_sdk_codedeploy::operation::list_deployment_targets::{
    ListDeploymentTargetsError, ListDeploymentTargetsOutput,
};
use aws_sdk_codedeploy::operation::list_deployments::ListDeploymentsOutput;
use aws_sdk_codedeploy::types::{
    DeploymentInfo, DeploymentStatus, DeploymentTarget, ErrorCode, ErrorInformation,
    InstanceTarget, RevisionLocation, RevisionLocationType, S3Location, TargetFilterName,
    TargetStatus,
};
use aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadError;
use aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput;
use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::operation::upload_part::UploadPartOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::error::NoSuchUpload;
use aws_sdk_ssm::operation::get_parameter::GetParameterOutput;
use aws_sdk_ssm::types::{Parameter, ParameterType};
use aws_smithy_mocks::{mock, Rule};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use invisible_pipeline::base::cancel::Cancel;
use invisible_pipeline::base::error::{exit, Error};
use invisible_pipeline::base::shutdown::Shutdown;
use invisible_pipeline::commands::deploy;
use invisible_pipeline::deployment::{self, ArchiveSource, DeployConfig, IfBusy, Outcome};
use invisible_pipeline::revision;
use std::fs;
use std::time::Duration;

/// A raw HTTP answer, as AWS sends it.
fn raw(status: u16, headers: &[(&'static str, &'static str)], body: &'static str) -> HttpResponse {
    let mut r = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    for (k, v) in headers {
        r.headers_mut().insert(*k, *v);
    }
    r
}

const BUNDLE_KEY: &str = "bundles/app/abc123/proj-1.tgz";

async fn run(
    c: &invisible_pipeline::aws::Clients,
    cfg: &DeployConfig,
) -> Result<deploy::DeployOutcome, Error> {
    deploy::run(c, cfg, &Shutdown::manual().1).await
}

// --- 1. The artifact bucket in another region -------------------------------------------

/// HeadBucket of a bucket in another region: 301 (or 400), no body, `x-amz-bucket-region`
/// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html; the SDK leaves
/// `bucket_region` empty on errors: awslabs/aws-sdk-rust#1052).
#[tokio::test(flavor = "multi_thread")]
async fn head_bucket_301_and_400_name_the_bucket_region_as_a_usage_error() {
    for status in [301, 400] {
        let (_tmp, cfg) = setup();
        let hb = mock!(aws_sdk_s3::Client::head_bucket)
            .then_http_response(move || raw(status, &[("x-amz-bucket-region", "eu-west-1")], ""));
        let put = put_object();
        let c = clients(&[&hb, &put], &[], &[]);
        let err = run(&c, &cfg).await.unwrap_err();
        assert_eq!(err.exit_code(), exit::USAGE, "{status}: {err}");
        let text = err.to_string();
        assert!(
            text.contains("artifact bucket artifacts is in eu-west-1"),
            "{text}"
        );
        assert!(text.contains("--deploy-region eu-west-1"), "{text}");
        assert_eq!(put.num_calls(), 0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn head_bucket_403_with_the_region_header_says_region_right_permission_missing() {
    let (_tmp, cfg) = setup();
    let hb = mock!(aws_sdk_s3::Client::head_bucket)
        .then_http_response(|| raw(403, &[("x-amz-bucket-region", "us-east-1")], ""));
    let c = clients(&[&hb], &[], &[]);
    let err = run(&c, &cfg).await.unwrap_err();
    assert_eq!(err.exit_code(), exit::IO);
    let text = err.to_string();
    assert!(text.contains("is in us-east-1 as it should be"), "{text}");
    assert!(text.contains("s3:ListBucket"), "{text}");

    // Denied, and in another region: the region is the thing to fix first.
    let (_tmp, cfg) = setup();
    let hb = mock!(aws_sdk_s3::Client::head_bucket)
        .then_http_response(|| raw(403, &[("x-amz-bucket-region", "ap-southeast-7")], ""));
    let c = clients(&[&hb], &[], &[]);
    let err = run(&c, &cfg).await.unwrap_err();
    assert_eq!(err.exit_code(), exit::USAGE);
    assert!(err.to_string().contains("is in ap-southeast-7"), "{err}");
}

/// GetObject of a release in another region: 301 PermanentRedirect with the header; the
/// download is made again in that region.
#[tokio::test(flavor = "multi_thread")]
async fn release_in_another_region_is_read_there() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("release");
    let get = mock!(aws_sdk_s3::Client::get_object)
        .sequence()
        .http_response(|| {
            raw(
                301,
                &[("x-amz-bucket-region", "ap-southeast-1")],
                "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message></Error>",
            )
        })
        .output(|| {
            GetObjectOutput::builder()
                .e_tag("\"e1\"")
                .body(ByteStream::from_static(b"release"))
                .build()
        })
        .build();
    let c = clients(&[&get], &[], &[]);
    let url = "s3://releases/app.tgz".parse().unwrap();
    let info = invisible_pipeline::aws::s3::download(
        &c.s3,
        &url,
        "release",
        &dest,
        None,
        &Shutdown::manual().1,
    )
    .await
    .unwrap();
    assert_eq!((info.bytes, get.num_calls()), (7, 2));
    assert_eq!(fs::read(&dest).unwrap(), b"release");
}

// --- 2. CreateDeployment is sent once -------------------------------------------------------

/// The SHA-256 of the bundle a run of `cfg` builds (its description records it).
fn bundle_sha(cfg: &DeployConfig) -> String {
    let ArchiveSource::Local(app) = &cfg.archive else {
        panic!("a local release");
    };
    let cancel = Cancel::new();
    let checked = revision::check(&cfg.codedeploy_dir, Some(app), cfg.rules, &cancel).unwrap();
    let dir = tempfile::tempdir().unwrap();
    revision::write_bundle(
        &checked,
        &dir.path().join("bundle"),
        cfg.mtime,
        revision::Durability::Transient,
        &cancel,
    )
    .unwrap()
    .sha256
}

/// Our deployment of `cfg`'s bundle, as ListDeployments/BatchGetDeployments show it after a
/// lost answer.
fn ours(id: &'static str, cfg: &DeployConfig) -> impl Fn() -> DeploymentInfo + Send + Sync {
    let sha = bundle_sha(cfg);
    move || ours_with(id, &sha)
}

fn ours_with(id: &str, sha: &str) -> DeploymentInfo {
    let trigger = DateTime::from_str(TRIGGER, Format::DateTime).unwrap();
    DeploymentInfo::builder()
        .deployment_id(id)
        .status(DeploymentStatus::Created)
        .description(deployment::description_noting(
            trigger,
            &deployment::CommitInfo::id(Some("abc123")),
            Some("proj:1"),
            &[("sha256", sha)],
        ))
        .revision(
            RevisionLocation::builder()
                .revision_type(RevisionLocationType::S3)
                .s3_location(
                    S3Location::builder()
                        .bucket("artifacts")
                        .key(BUNDLE_KEY)
                        .e_tag("etag1")
                        .version("v1")
                        .build(),
                )
                .build(),
        )
        .build()
}

fn listed(ids: &'static [&'static str]) -> Rule {
    mock!(aws_sdk_codedeploy::Client::list_deployments)
        .match_requests(|r| r.include_only_statuses().is_empty())
        .then_output(move || {
            ListDeploymentsOutput::builder()
                .set_deployments(Some(ids.iter().map(|s| s.to_string()).collect()))
                .build()
        })
}

fn described(info: impl Fn() -> DeploymentInfo + Send + Sync + 'static) -> Rule {
    mock!(aws_sdk_codedeploy::Client::batch_get_deployments).then_output(move || {
        BatchGetDeploymentsOutput::builder()
            .deployments_info(info())
            .build()
    })
}

/// The first CreateDeployment created the deployment, and its answer was lost (a 500 after
/// the work was done). The SDK would retry and meet its own deployment; the step sends it
/// once, finds the deployment of exactly its bundle and description, and follows it.
#[tokio::test(flavor = "multi_thread")]
async fn create_deployment_answer_lost_is_adopted_exactly_once() {
    let (_tmp, cfg) = setup();
    let cr = mock!(aws_sdk_codedeploy::Client::create_deployment)
        .sequence()
        .http_response(|| {
            raw(
                500,
                &[],
                r#"{"__type":"InternalFailure","message":"We encountered an internal error."}"#,
            )
        })
        .output(|| {
            CreateDeploymentOutput::builder()
                .deployment_id("d-second")
                .build()
        })
        .build();
    let (hb, put, tag, del, active) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        delete_object(),
        list_active(&[]),
    );
    let (recent, batch) = (listed(&["d-lost"]), described(ours("d-lost", &cfg)));
    let get = get_deployment(&[DeploymentStatus::Succeeded]);
    let c = clients(
        &[&hb, &put, &tag, &del],
        &[&recent, &batch, &active, &cr, &get],
        &[],
    );
    let outcome = run(&c, &cfg).await.unwrap();
    assert_eq!(outcome.status, Outcome::Succeeded);
    assert_eq!(outcome.deployment_id.as_deref(), Some("d-lost"));
    assert_eq!((cr.num_calls(), del.num_calls()), (1, 0));
}

/// DeploymentLimitExceededException, because the deployment in the group is this run's own
/// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_CreateDeployment.html):
/// adopted, never waited for, stopped or deleted under.
#[tokio::test(flavor = "multi_thread")]
async fn limit_exceeded_by_our_own_deployment_is_adopted() {
    let (_tmp, mut cfg) = setup();
    cfg.if_busy = IfBusy::StopActive;
    let cr = mock!(aws_sdk_codedeploy::Client::create_deployment).then_error(limit_exceeded);
    let (hb, put, tag, del, active) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        delete_object(),
        list_active(&[]),
    );
    let (recent, batch) = (listed(&["d-ours"]), described(ours("d-ours", &cfg)));
    let stop = mock!(aws_sdk_codedeploy::Client::stop_deployment).then_output(|| {
        aws_sdk_codedeploy::operation::stop_deployment::StopDeploymentOutput::builder().build()
    });
    let get = get_deployment(&[DeploymentStatus::Succeeded]);
    let c = clients(
        &[&hb, &put, &tag, &del],
        &[&recent, &batch, &active, &cr, &get, &stop],
        &[],
    );
    let outcome = run(&c, &cfg).await.unwrap();
    assert_eq!(outcome.deployment_id.as_deref(), Some("d-ours"));
    assert_eq!(
        (cr.num_calls(), stop.num_calls(), del.num_calls()),
        (1, 0, 0)
    );
}

/// A 503 that created nothing: looked for, not found, sent again; one deployment.
#[tokio::test(flavor = "multi_thread")]
async fn create_deployment_503_that_created_nothing_is_sent_again() {
    let (_tmp, cfg) = setup();
    let cr = mock!(aws_sdk_codedeploy::Client::create_deployment)
        .sequence()
        .http_response(|| {
            raw(
                503,
                &[],
                r#"{"__type":"ServiceUnavailableException","message":"Service unavailable"}"#,
            )
        })
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
    let outcome = run(&c, &cfg).await.unwrap();
    assert_eq!(outcome.deployment_id.as_deref(), Some("d-new"));
    assert_eq!((cr.num_calls(), del.num_calls()), (2, 0));
}

/// A refusal that is not transient, and no deployment of ours: the bundle is deleted by the
/// version id the upload returned, never by a bare key (a delete marker in a versioned bucket).
#[tokio::test(flavor = "multi_thread")]
async fn refused_create_deletes_exactly_the_uploaded_version() {
    let (_tmp, cfg) = setup();
    let cr = mock!(aws_sdk_codedeploy::Client::create_deployment).then_http_response(|| {
        raw(400, &[], r#"{"__type":"DeploymentGroupDoesNotExistException","message":"No Deployment Group found for name: web"}"#)
    });
    let bare_delete = mock!(aws_sdk_s3::Client::delete_object)
        .match_requests(|r| r.version_id().is_none())
        .then_output(|| DeleteObjectOutput::builder().build());
    let (hb, put, del, recent, active) = (
        head_bucket("us-east-1"),
        put_object(),
        delete_object(),
        list_recent(&[]),
        list_active(&[]),
    );
    let c = clients(
        &[&hb, &put, &del, &bare_delete],
        &[&recent, &active, &cr],
        &[],
    );
    let err = run(&c, &cfg).await.unwrap_err();
    assert_eq!(err.exit_code(), exit::IO);
    assert!(
        err.to_string()
            .contains("DeploymentGroupDoesNotExistException"),
        "{err}"
    );
    assert_eq!(
        (cr.num_calls(), del.num_calls(), bare_delete.num_calls()),
        (1, 1, 0)
    );
}

// --- 3. Cleanup after a completed multipart upload ----------------------------------------

fn big_release(cfg: &mut DeployConfig, root: &std::path::Path) {
    let app = root.join("big.tar");
    let noise: Vec<u8> = (0..7u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    fs::write(
        &app,
        app_tar().file("site/big.bin", &noise, 0o644).end().bytes(),
    )
    .unwrap();
    cfg.archive = ArchiveSource::Local(app.clone());
    cfg.upload = invisible_pipeline::aws::s3::UploadSettings {
        multipart_threshold: 1 << 20,
        part_size: 5 << 20,
        concurrency: 1,
    };
}

/// CompleteMultipartUpload went through but its answer was lost (500s until the SDK gives
/// up); AbortMultipartUpload then says NoSuchUpload: the object exists. When its upload
/// token is this upload's it is the upload's result and is deployed; when not (another run
/// wrote the key), it is not this run's to delete, and the run fails.
#[tokio::test(flavor = "multi_thread")]
async fn no_such_upload_after_complete_adopts_the_object_only_if_it_is_ours() {
    for theirs in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = config(tmp.path(), tmp.path());
        big_release(&mut cfg, tmp.path());
        // The upload's token, as CreateMultipartUpload sent it.
        let token = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sent = std::sync::Arc::clone(&token);
        let created = mock!(aws_sdk_s3::Client::create_multipart_upload)
            .match_requests(move |r| {
                let t = r.metadata().and_then(|m| m.get("upload-token")).cloned();
                *sent.lock().unwrap() = t.unwrap_or_default();
                true
            })
            .then_output(|| {
                CreateMultipartUploadOutput::builder()
                    .upload_id("u-1")
                    .build()
            });
        let part = mock!(aws_sdk_s3::Client::upload_part)
            .then_output(|| UploadPartOutput::builder().e_tag("\"p\"").build());
        let complete = mock!(aws_sdk_s3::Client::complete_multipart_upload)
            .then_http_response(|| raw(500, &[], "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>"));
        let abort = mock!(aws_sdk_s3::Client::abort_multipart_upload).then_error(|| {
            AbortMultipartUploadError::NoSuchUpload(
                NoSuchUpload::builder()
                    .message("The specified multipart upload does not exist.")
                    .build(),
            )
        });
        let head = mock!(aws_sdk_s3::Client::head_object).then_output(move || {
            // Another run's object carries another token.
            let meta = if theirs {
                "another-run".to_string()
            } else {
                token.lock().unwrap().clone()
            };
            HeadObjectOutput::builder()
                .e_tag("\"etag9\"")
                .version_id("v9")
                .metadata("upload-token", meta)
                .build()
        });
        let del = mock!(aws_sdk_s3::Client::delete_object)
            .then_output(|| DeleteObjectOutput::builder().build());
        let cr = mock!(aws_sdk_codedeploy::Client::create_deployment)
            .match_requests(|r| {
                r.revision()
                    .and_then(|rev| rev.s3_location())
                    .is_some_and(|l| l.version() == Some("v9") && l.e_tag() == Some("etag9"))
            })
            .then_output(|| {
                CreateDeploymentOutput::builder()
                    .deployment_id("d-new")
                    .build()
            });
        let (hb, tag, recent, active) = (
            head_bucket("us-east-1"),
            tagging(),
            list_recent(&[]),
            list_active(&[]),
        );
        let get = get_deployment(&[DeploymentStatus::Succeeded]);
        let c = clients(
            &[&hb, &created, &part, &complete, &abort, &head, &del, &tag],
            &[&recent, &active, &cr, &get],
            &[],
        );
        let result = run(&c, &cfg).await;
        if theirs {
            assert_eq!(result.unwrap_err().exit_code(), exit::IO);
            assert_eq!(cr.num_calls(), 0);
        } else {
            assert_eq!(result.unwrap().status, Outcome::Succeeded);
            assert_eq!(cr.num_calls(), 1);
        }
        assert_eq!(del.num_calls(), 0, "theirs: {theirs}");
    }
}

/// A signal during a single PUT (here: while the SDK backs off after a 500): the object is
/// looked for, and with nothing there no delete is sent (in a versioned bucket it would
/// leave a delete marker).
#[tokio::test(flavor = "multi_thread")]
async fn signal_before_a_put_lands_sends_no_delete() {
    let (_tmp, cfg) = setup();
    let (trigger, shutdown) = Shutdown::manual();
    let trigger = std::sync::Arc::new(trigger);
    let put = mock!(aws_sdk_s3::Client::put_object).then_http_response(move || {
        trigger.fire("SIGTERM");
        raw(500, &[], "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>")
    });
    let head = mock!(aws_sdk_s3::Client::head_object).then_http_response(|| raw(404, &[], ""));
    let del = mock!(aws_sdk_s3::Client::delete_object)
        .then_output(|| DeleteObjectOutput::builder().build());
    let (hb, recent, active) = (head_bucket("us-east-1"), list_recent(&[]), list_active(&[]));
    let c = clients(&[&hb, &put, &head, &del], &[&recent, &active], &[]);
    let err = deploy::run(&c, &cfg, &shutdown).await.unwrap_err();
    assert_eq!(err.exit_code(), exit::INTERRUPTED_TERM, "{err}");
    assert_eq!((head.num_calls(), del.num_calls()), (1, 0));
}

// --- 4. Encryption: the bucket's default unless a key is named ------------------------------

/// `aws:kms` without a key id means the AWS managed key aws/s3, not the bucket's default
/// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html): without
/// --artifact-kms-key-id no encryption header is sent.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_key_id_no_encryption_header_is_sent() {
    let (_tmp, mut cfg) = setup();
    cfg.kms_key_id = None;
    let put = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.server_side_encryption().is_none() && r.ssekms_key_id().is_none())
        .then_output(|| {
            PutObjectOutput::builder()
                .e_tag("\"etag1\"")
                .version_id("v1")
                .build()
        });
    let (hb, tag, recent, active, cr) = (
        head_bucket("us-east-1"),
        tagging(),
        list_recent(&[]),
        list_active(&[]),
        create(),
    );
    let get = get_deployment(&[DeploymentStatus::Succeeded]);
    let c = clients(&[&hb, &put, &tag], &[&recent, &active, &cr, &get], &[]);
    run(&c, &cfg).await.unwrap();
    assert_eq!(put.num_calls(), 1);
}

// --- 5. Failure reports ---------------------------------------------------------------------

fn failed_with(code: ErrorCode, message: &'static str) -> Rule {
    mock!(aws_sdk_codedeploy::Client::get_deployment).then_output(move || {
        GetDeploymentOutput::builder()
            .deployment_info(
                DeploymentInfo::builder()
                    .deployment_id("d-new")
                    .status(DeploymentStatus::Failed)
                    .error_information(
                        ErrorInformation::builder()
                            .code(code.clone())
                            .message(message)
                            .build(),
                    )
                    .build(),
            )
            .build()
    })
}

/// ErrorInformation's code and message, with a hint
/// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ErrorInformation.html);
/// failed targets listed with a TargetStatus filter over every page.
#[tokio::test(flavor = "multi_thread")]
async fn failure_report_has_the_error_code_a_hint_and_every_page_of_failed_instances() {
    let (_tmp, cfg) = setup();
    let get = failed_with(
        ErrorCode::HealthConstraints,
        "The overall deployment failed because too many individual instances failed deployment",
    );
    let targets = mock!(aws_sdk_codedeploy::Client::list_deployment_targets)
        .match_requests(|r| {
            r.target_filters()
                .and_then(|f| f.get(&TargetFilterName::TargetStatus))
                .is_some_and(|v| v == &vec!["Failed".to_string()])
        })
        .sequence()
        .output(|| {
            ListDeploymentTargetsOutput::builder()
                .target_ids("i-1")
                .next_token("page-2")
                .build()
        })
        .output(|| {
            ListDeploymentTargetsOutput::builder()
                .target_ids("i-2")
                .build()
        })
        .build();
    let batch = mock!(aws_sdk_codedeploy::Client::batch_get_deployment_targets).then_output(|| {
        BatchGetDeploymentTargetsOutput::builder()
            .deployment_targets(
                DeploymentTarget::builder()
                    .instance_target(
                        InstanceTarget::builder()
                            .target_id("i-2")
                            .status(TargetStatus::Failed)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let (hb, put, tag, recent, active, cr) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        list_recent(&[]),
        list_active(&[]),
        create(),
    );
    let c = clients(
        &[&hb, &put, &tag],
        &[&recent, &active, &cr, &get, &targets, &batch],
        &[],
    );
    let err = run(&c, &cfg).await.unwrap_err();
    assert_eq!(err.exit_code(), exit::DEPLOYMENT_FAILED);
    let text = err.to_string();
    assert!(
        text.contains("error HEALTH_CONSTRAINTS: The overall deployment failed"),
        "{text}"
    );
    assert!(text.contains("hint: too many instances failed"), "{text}");
    assert!(text.contains("instance i-2: failed"), "{text}");
    assert_eq!(targets.num_calls(), 2);
    assert_eq!(batch.num_calls(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_that_never_started_says_so_with_its_hint() {
    let (_tmp, cfg) = setup();
    let get = failed_with(
        ErrorCode::NoInstances,
        "The deployment failed because no instances were found for your deployment group.",
    );
    let targets = mock!(aws_sdk_codedeploy::Client::list_deployment_targets).then_error(|| {
        ListDeploymentTargetsError::DeploymentNotStartedException(
            aws_sdk_codedeploy::types::error::DeploymentNotStartedException::builder()
                .message("The specified deployment has not started.")
                .build(),
        )
    });
    let (hb, put, tag, recent, active, cr) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        list_recent(&[]),
        list_active(&[]),
        create(),
    );
    let c = clients(
        &[&hb, &put, &tag],
        &[&recent, &active, &cr, &get, &targets],
        &[],
    );
    let text = run(&c, &cfg).await.unwrap_err().to_string();
    assert!(text.contains("error NO_INSTANCES"), "{text}");
    assert!(
        text.contains("no instance carries the deployment group's tag"),
        "{text}"
    );
    assert!(text.contains("no instance started"), "{text}");
}

// --- 6. Following survives a throttling burst ---------------------------------------------

/// More ThrottlingExceptions in a row than the SDK retries: the follow backs off and goes on.
#[tokio::test(flavor = "multi_thread")]
async fn following_survives_a_throttling_burst() {
    let (_tmp, cfg) = setup();
    let throttled = || {
        raw(
            400,
            &[],
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
        )
    };
    let get = mock!(aws_sdk_codedeploy::Client::get_deployment)
        .sequence()
        .output(|| {
            GetDeploymentOutput::builder()
                .deployment_info(info("d-new", DeploymentStatus::InProgress))
                .build()
        })
        .http_response(throttled)
        .times(7)
        .output(|| {
            GetDeploymentOutput::builder()
                .deployment_info(info("d-new", DeploymentStatus::Succeeded))
                .build()
        })
        .build();
    let (hb, put, tag, recent, active, cr) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        list_recent(&[]),
        list_active(&[]),
        create(),
    );
    let c = clients(&[&hb, &put, &tag], &[&recent, &active, &cr, &get], &[]);
    let outcome = run(&c, &cfg).await.unwrap();
    assert_eq!(outcome.status, Outcome::Succeeded);
    assert_eq!(get.num_calls(), 9);
}

// --- 7. Signals: no call after one ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn after_a_signal_no_aws_call_is_made() {
    let (_tmp, cfg) = setup();
    let (trigger, shutdown) = Shutdown::manual();
    trigger.fire("SIGINT");
    let (hb, put) = (head_bucket("us-east-1"), put_object());
    let c = clients(&[&hb, &put], &[], &[]);
    let err = deploy::run(&c, &cfg, &shutdown).await.unwrap_err();
    assert_eq!(err.exit_code(), exit::INTERRUPTED_INT);
    assert_eq!((hb.num_calls(), put.num_calls()), (0, 0));
}

// --- 9. The download resumes --------------------------------------------------------------

/// The connection ends before Content-Length bytes: the download goes on from the byte
/// reached, pinned to the first answer's ETag (If-Match); an ETag that changed is 412.
#[tokio::test(flavor = "multi_thread")]
async fn a_broken_download_resumes_from_the_byte_reached() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("release");
    let get = mock!(aws_sdk_s3::Client::get_object)
        .sequence()
        .output(|| {
            GetObjectOutput::builder()
                .e_tag("\"e1\"")
                .content_length(26)
                .body(ByteStream::from_static(b"abcdefghijklm"))
                .build()
        })
        .build();
    let rest = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.range() == Some("bytes=13-") && r.if_match() == Some("\"e1\""))
        .then_output(|| {
            GetObjectOutput::builder()
                .e_tag("\"e1\"")
                .body(ByteStream::from_static(b"nopqrstuvwxyz"))
                .build()
        });
    let c = clients(&[&rest, &get], &[], &[]);
    let url = "s3://releases/app.tgz".parse().unwrap();
    let shutdown = Shutdown::manual().1;
    let info =
        invisible_pipeline::aws::s3::download(&c.s3, &url, "release", &dest, None, &shutdown)
            .await
            .unwrap();
    assert_eq!(info.bytes, 26);
    assert_eq!(fs::read(&dest).unwrap(), b"abcdefghijklmnopqrstuvwxyz");

    let changed = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.range().is_some())
        .then_http_response(|| raw(412, &[], "<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>"));
    let get = mock!(aws_sdk_s3::Client::get_object).then_output(|| {
        GetObjectOutput::builder()
            .e_tag("\"e1\"")
            .content_length(26)
            .body(ByteStream::from_static(b"abc"))
            .build()
    });
    let c = clients(&[&changed, &get], &[], &[]);
    let err = invisible_pipeline::aws::s3::download(&c.s3, &url, "release", &dest, None, &shutdown)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("changed while it was being downloaded"),
        "{err}"
    );
}

// --- 10. Messages and exit codes -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn giving_up_on_a_busy_group_is_exit_7_naming_the_policy() {
    let (_tmp, mut cfg) = setup();
    cfg.busy_timeout = Duration::from_millis(20);
    cfg.poll_interval = Duration::from_millis(5);
    let busy = mock!(aws_sdk_codedeploy::Client::list_deployments)
        .match_requests(|r| {
            r.include_only_statuses()
                .contains(&DeploymentStatus::InProgress)
        })
        .then_output(|| {
            ListDeploymentsOutput::builder()
                .deployments("d-old")
                .build()
        });
    let (hb, put, recent) = (head_bucket("us-east-1"), put_object(), list_recent(&[]));
    let c = clients(&[&hb, &put], &[&recent, &busy], &[]);
    let err = run(&c, &cfg).await.unwrap_err();
    assert_eq!(err.exit_code(), exit::WAIT_TIMEOUT);
    let text = err.to_string();
    assert!(text.starts_with("gave up waiting after"), "{text}");
    assert!(
        text.contains("busy with deployment d-old (--if-busy wait)"),
        "{text}"
    );
    assert_eq!(put.num_calls(), 0);
}

/// S3 answers 403 for a skewed clock too: no "the role needs" there.
#[tokio::test(flavor = "multi_thread")]
async fn a_skewed_clock_is_not_called_a_permission_problem() {
    let (_tmp, cfg) = setup();
    let put = mock!(aws_sdk_s3::Client::put_object).then_http_response(|| {
        raw(403, &[], "<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message></Error>")
    });
    let (hb, recent, active) = (head_bucket("us-east-1"), list_recent(&[]), list_active(&[]));
    let c = clients(&[&hb, &put], &[&recent, &active], &[]);
    let text = run(&c, &cfg).await.unwrap_err().to_string();
    assert!(
        text.contains("RequestTimeTooSkewed: this machine's clock"),
        "{text}"
    );
    assert!(!text.contains("the role needs"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_securestring_parameter_value_appears_nowhere() {
    let (tmp, mut cfg) = setup();
    cfg.archive = ArchiveSource::Parameter("/app/archive".into());
    let archive = fs::read(tmp.path().join("app.tgz")).unwrap();
    let param = mock!(aws_sdk_ssm::Client::get_parameter).then_output(|| {
        GetParameterOutput::builder()
            .parameter(
                Parameter::builder()
                    .r#type(ParameterType::SecureString)
                    .value("s3://secret-releases/app.tgz")
                    .build(),
            )
            .build()
    });
    let get = mock!(aws_sdk_s3::Client::get_object).then_output(move || {
        GetObjectOutput::builder()
            .body(ByteStream::from(archive.clone()))
            .build()
    });
    let (hb, put, tag, recent, active, cr) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        list_recent(&[]),
        list_active(&[]),
        create(),
    );
    let getd = get_deployment(&[DeploymentStatus::Succeeded]);
    let c = clients(
        &[&hb, &get, &put, &tag],
        &[&recent, &active, &cr, &getd],
        &[&param],
    );
    let outcome = run(&c, &cfg).await.unwrap();
    assert_eq!(outcome.app_archive, "SecureString parameter /app/archive");
    let json = serde_json::to_string(&outcome).unwrap();
    assert!(!json.contains("secret-releases"), "{json}");
}

/// Long commit or build ids are cut: the description stays within 512 characters with the
/// trigger first, so CreateDeployment never fails on it after the upload.
#[tokio::test(flavor = "multi_thread")]
async fn long_ids_never_make_create_deployment_fail() {
    let (_tmp, mut cfg) = setup();
    cfg.build_id = Some(format!("project:{}", "b".repeat(900)));
    let cr = mock!(aws_sdk_codedeploy::Client::create_deployment)
        .match_requests(|r| {
            r.description()
                .is_some_and(|d| d.chars().count() <= 512 && d.starts_with("trigger="))
        })
        .then_output(|| {
            CreateDeploymentOutput::builder()
                .deployment_id("d-new")
                .build()
        });
    let (hb, put, tag, recent, active) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        list_recent(&[]),
        list_active(&[]),
    );
    let get = get_deployment(&[DeploymentStatus::Succeeded]);
    let c = clients(&[&hb, &put, &tag], &[&recent, &active, &cr, &get], &[]);
    run(&c, &cfg).await.unwrap();
    assert_eq!(cr.num_calls(), 1);
}

// --- calls.json is complete ----------------------------------------------------------------

/// Every client of the binary, and every mocked client here, carries the interceptor that
/// refuses (in debug builds) an operation missing from src/aws/calls.json; this proves it
/// is live: ListBuckets is not something the binary calls.
#[tokio::test]
#[should_panic(expected = "S3:ListBuckets is called but not listed in src/aws/calls.json")]
async fn an_operation_missing_from_calls_json_fails_the_tests() {
    let list = mock!(aws_sdk_s3::Client::list_buckets)
        .then_output(|| aws_sdk_s3::operation::list_buckets::ListBucketsOutput::builder().build());
    let c = clients(&[&list], &[], &[]);
    let _ = c.s3.list_buckets().send().await;
}

/// The temporary file of the download has a fixed name: an object key may be longer than a
/// file name may be (ENAMETOOLONG).
#[tokio::test(flavor = "multi_thread")]
async fn a_release_key_longer_than_a_file_name_downloads() {
    let (tmp, mut cfg) = setup();
    let key = format!("releases/{}/app.tgz", "k".repeat(400));
    cfg.archive = ArchiveSource::S3(format!("s3://releases/{key}").parse().unwrap());
    let archive = fs::read(tmp.path().join("app.tgz")).unwrap();
    let get = mock!(aws_sdk_s3::Client::get_object).then_output(move || {
        GetObjectOutput::builder()
            .body(ByteStream::from(archive.clone()))
            .build()
    });
    let (hb, put, tag, recent, active, cr) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        list_recent(&[]),
        list_active(&[]),
        create(),
    );
    let getd = get_deployment(&[DeploymentStatus::Succeeded]);
    let c = clients(
        &[&hb, &get, &put, &tag],
        &[&recent, &active, &cr, &getd],
        &[],
    );
    assert_eq!(run(&c, &cfg).await.unwrap().status, Outcome::Succeeded);
}

/// No call can hang a build: the API clients have attempt and operation timeouts, S3
/// connect and first-byte ones.
#[tokio::test]
async fn every_client_has_timeouts() {
    let c = invisible_pipeline::aws::clients(Some("ap-southeast-7".into()), None)
        .await
        .unwrap();
    for t in [
        c.codedeploy.config().timeout_config(),
        c.ssm.config().timeout_config(),
    ] {
        let t = t.unwrap();
        assert!(t.operation_attempt_timeout().is_some() && t.operation_timeout().is_some());
        assert!(t.connect_timeout().is_some());
    }
    for s3 in [&c.s3, &c.artifact_s3] {
        let t = s3.config().timeout_config().unwrap();
        assert!(t.connect_timeout().is_some() && t.read_timeout().is_some());
    }
}

// --- The bundles a rollback needs never expire ---------------------------------------------

fn success(id: &'static str, key: &'static str, version: &'static str, at: i64) -> DeploymentInfo {
    DeploymentInfo::builder()
        .deployment_id(id)
        .status(DeploymentStatus::Succeeded)
        .create_time(DateTime::from_secs(at))
        .revision(
            RevisionLocation::builder()
                .revision_type(RevisionLocationType::S3)
                .s3_location(
                    S3Location::builder()
                        .bucket("artifacts")
                        .key(key)
                        .version(version)
                        .build(),
                )
                .build(),
        )
        .build()
}

/// Every bundle is tagged Pending at upload; after a success the bundles of the two latest
/// successful deployments are Live (no lifecycle rule expires them) and the one they displace
/// Succeeded.
#[tokio::test(flavor = "multi_thread")]
async fn a_success_keeps_the_live_and_the_rollback_bundle() {
    let (_tmp, cfg) = setup();
    let put = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.tagging() == Some("invisible-pipeline-status=Pending"))
        .then_output(|| {
            PutObjectOutput::builder()
                .e_tag("\"etag1\"")
                .version_id("v1")
                .build()
        });
    let tags = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = tags.clone();
    let tag = mock!(aws_sdk_s3::Client::put_object_tagging)
        .match_requests(move |r| {
            let value = r.tagging().map(|t| t.tag_set()[0].value().to_string());
            seen.lock().unwrap().push(format!(
                "{}@{}={}",
                r.key().unwrap_or_default(),
                r.version_id().unwrap_or_default(),
                value.unwrap_or_default()
            ));
            true
        })
        .then_output(|| {
            aws_sdk_s3::operation::put_object_tagging::PutObjectTaggingOutput::builder().build()
        });
    let successes = mock!(aws_sdk_codedeploy::Client::list_deployments)
        .match_requests(|r| r.include_only_statuses() == [DeploymentStatus::Succeeded])
        .then_output(|| {
            ListDeploymentsOutput::builder()
                .deployments("d-older")
                .deployments("d-old")
                .build()
        });
    let batch = mock!(aws_sdk_codedeploy::Client::batch_get_deployments).then_output(|| {
        BatchGetDeploymentsOutput::builder()
            .deployments_info(success("d-older", "bundles/app/a/1.tgz", "va", 1_000))
            .deployments_info(success("d-old", "bundles/app/b/2.tgz", "vb", 2_000))
            .build()
    });
    let (hb, recent, active, cr) = (
        head_bucket("us-east-1"),
        list_recent(&[]),
        list_active(&[]),
        create(),
    );
    let get = get_deployment(&[DeploymentStatus::Succeeded]);
    let c = clients(
        &[&hb, &put, &tag],
        &[&successes, &batch, &recent, &active, &cr, &get],
        &[],
    );
    run(&c, &cfg).await.unwrap();
    let tags = tags.lock().unwrap().clone();
    // Before the upload (the previous state), then after the success.
    let after: Vec<&str> = tags[tags.len() - 3..].iter().map(String::as_str).collect();
    assert_eq!(
        after,
        [
            "bundles/app/abc123/proj-1.tgz@v1=Live",
            "bundles/app/b/2.tgz@vb=Live",
            "bundles/app/a/1.tgz@va=Succeeded"
        ],
        "{tags:?}"
    );
    assert_eq!(put.num_calls(), 1);
}

/// `--upload-mode auto`: a server-side copy that S3 refuses (here AccessDenied on the release,
/// as for a bucket policy or KMS key the role may not use) is aborted and the whole bundle is
/// uploaded instead; `put` never tries it.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_server_side_copy_falls_back_to_uploading() {
    for mode in [deployment::UploadMode::Auto, deployment::UploadMode::Put] {
        let (tmp, mut cfg) = setup();
        let noise: Vec<u8> = (0..7u32 << 20)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let release = app_tar().file("site/big.bin", &noise, 0o644).end().bytes();
        fs::write(tmp.path().join("release.tar"), &release).unwrap();
        cfg.archive = ArchiveSource::S3("s3://releases/app.tar?versionId=v3".parse().unwrap());
        cfg.upload_mode = mode;
        cfg.upload = invisible_pipeline::aws::s3::UploadSettings {
            multipart_threshold: 1 << 20,
            part_size: 5 << 20,
            concurrency: 1,
        };
        let get = mock!(aws_sdk_s3::Client::get_object).then_output(move || {
            GetObjectOutput::builder()
                .e_tag("\"rel\"")
                .version_id("v3")
                .body(ByteStream::from(release.clone()))
                .build()
        });
        let created = mock!(aws_sdk_s3::Client::create_multipart_upload).then_output(|| {
            CreateMultipartUploadOutput::builder()
                .upload_id("u-1")
                .build()
        });
        let copy = mock!(aws_sdk_s3::Client::upload_part_copy)
            .match_requests(|r| {
                r.copy_source() == Some("releases/app.tar?versionId=v3")
                    && r.copy_source_if_match() == Some("\"rel\"")
            })
            .then_http_response(|| {
                raw(
                    403,
                    &[],
                    "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
                )
            });
        let abort = mock!(aws_sdk_s3::Client::abort_multipart_upload).then_output(|| {
            aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadOutput::builder()
                .build()
        });
        let part = mock!(aws_sdk_s3::Client::upload_part)
            .then_output(|| UploadPartOutput::builder().e_tag("\"p\"").build());
        let complete = mock!(aws_sdk_s3::Client::complete_multipart_upload).then_output(|| {
            aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput::builder()
                .e_tag("\"etag1\"")
                .version_id("v1")
                .build()
        });
        let (hb, tag, recent, active, cr) = (
            head_bucket("us-east-1"),
            tagging(),
            list_recent(&[]),
            list_active(&[]),
            create(),
        );
        let getd = get_deployment(&[DeploymentStatus::Succeeded]);
        let c = clients(
            &[&hb, &get, &created, &copy, &abort, &part, &complete, &tag],
            &[&recent, &active, &cr, &getd],
            &[],
        );
        let outcome = run(&c, &cfg).await.unwrap();
        assert_eq!(outcome.status, Outcome::Succeeded);
        assert_eq!(outcome.bytes_copied_in_s3, 0);
        let tried = if mode == deployment::UploadMode::Auto {
            1
        } else {
            0
        };
        assert_eq!(
            (copy.num_calls(), abort.num_calls()),
            (tried, tried),
            "{mode:?}"
        );
        assert!(part.num_calls() >= 2, "the whole bundle went up in parts");
    }
}

/// CreateDeployment's answer is lost and the look that would tell whether it created the
/// deployment fails too: the bundle stays (a deployment of it may exist; the Pending tag
/// expires it), never deleted under a live deployment.
#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_outcome_keeps_the_bundle() {
    let (_tmp, cfg) = setup();
    let cr = mock!(aws_sdk_codedeploy::Client::create_deployment).then_http_response(|| {
        raw(
            500,
            &[],
            r#"{"__type":"InternalFailure","message":"internal error"}"#,
        )
    });
    let recent = mock!(aws_sdk_codedeploy::Client::list_deployments)
        .match_requests(|r| r.include_only_statuses().is_empty())
        .sequence()
        .output(|| ListDeploymentsOutput::builder().build())
        .times(2)
        .http_response(|| {
            raw(
                500,
                &[],
                r#"{"__type":"InternalFailure","message":"internal error"}"#,
            )
        })
        .repeatedly()
        .build();
    let (hb, put, del, active) = (
        head_bucket("us-east-1"),
        put_object(),
        delete_object(),
        list_active(&[]),
    );
    let c = clients(&[&hb, &put, &del], &[&recent, &active, &cr], &[]);
    let err = run(&c, &cfg).await.unwrap_err();
    assert_eq!(err.exit_code(), exit::IO, "{err}");
    assert_eq!((cr.num_calls(), del.num_calls()), (1, 0));
}

/// The group is busy with this run's own deployment (an earlier answer lost, ListDeployments
/// lagging): it is adopted from the active list, never stopped nor waited for.
#[tokio::test(flavor = "multi_thread")]
async fn our_own_active_deployment_is_never_stopped() {
    let (_tmp, mut cfg) = setup();
    cfg.if_busy = IfBusy::StopActive;
    let cr = mock!(aws_sdk_codedeploy::Client::create_deployment).then_error(limit_exceeded);
    let active = mock!(aws_sdk_codedeploy::Client::list_deployments)
        .match_requests(|r| {
            r.include_only_statuses()
                .contains(&DeploymentStatus::InProgress)
        })
        .sequence()
        .output(|| ListDeploymentsOutput::builder().build())
        .output(|| {
            ListDeploymentsOutput::builder()
                .deployments("d-ours")
                .build()
        })
        .repeatedly()
        .build();
    let (recent, batch) = (list_recent(&[]), described(ours("d-ours", &cfg)));
    let stop = mock!(aws_sdk_codedeploy::Client::stop_deployment).then_output(|| {
        aws_sdk_codedeploy::operation::stop_deployment::StopDeploymentOutput::builder().build()
    });
    let (hb, put, tag, del) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        delete_object(),
    );
    let get = get_deployment(&[DeploymentStatus::Succeeded]);
    let c = clients(
        &[&hb, &put, &tag, &del],
        &[&recent, &batch, &active, &cr, &get, &stop],
        &[],
    );
    let outcome = run(&c, &cfg).await.unwrap();
    assert_eq!(outcome.deployment_id.as_deref(), Some("d-ours"));
    assert_eq!((stop.num_calls(), del.num_calls()), (0, 0));
}

/// The AWS European Sovereign Cloud (eusc-de-east-1, partition aws-eusc) answers under its own
/// DNS suffix, `amazonaws.eu`: the endpoint rules of the SDK crates the binary is built with must
/// know the partition, or every call there would go to an `amazonaws.com` name that does not
/// exist. (The endpoint rule sets' partition data: "aws-eusc", dnsSuffix "amazonaws.eu".)
#[tokio::test]
async fn the_sovereign_cloud_is_reached_at_its_own_endpoints() {
    use aws_sdk_codedeploy::config::endpoint::ResolveEndpoint as _;
    use aws_sdk_s3::config::endpoint::ResolveEndpoint as _;
    use aws_sdk_ssm::config::endpoint::ResolveEndpoint as _;
    const REGION: &str = "eusc-de-east-1";
    let s3 = aws_sdk_s3::config::endpoint::Params::builder()
        .region(REGION)
        .bucket("releases")
        .build()
        .unwrap();
    let s3 = aws_sdk_s3::config::endpoint::DefaultResolver::new()
        .resolve_endpoint(&s3)
        .await
        .unwrap();
    let ssm = aws_sdk_ssm::config::endpoint::Params::builder()
        .region(REGION)
        .build()
        .unwrap();
    let ssm = aws_sdk_ssm::config::endpoint::DefaultResolver::new()
        .resolve_endpoint(&ssm)
        .await
        .unwrap();
    let codedeploy = aws_sdk_codedeploy::config::endpoint::Params::builder()
        .region(REGION)
        .build()
        .unwrap();
    let codedeploy = aws_sdk_codedeploy::config::endpoint::DefaultResolver::new()
        .resolve_endpoint(&codedeploy)
        .await
        .unwrap();
    assert_eq!(
        [s3.url(), ssm.url(), codedeploy.url()],
        [
            "https://releases.s3.eusc-de-east-1.amazonaws.eu",
            "https://ssm.eusc-de-east-1.amazonaws.eu",
            "https://codedeploy.eusc-de-east-1.amazonaws.eu",
        ]
    );
}
