//! `promote` against answers shaped as AWS documents them: the first group's newest success,
//! its bundle checked by HeadObject on its version, and for another region a CopyObject whose
//! result is read back and hashed (a copy is checked by its bytes, never by its metadata).

use crate::support::mocks::{clients, head_bucket, list_active, list_recent, setup};
use aws_sdk_codedeploy::operation::batch_get_deployments::BatchGetDeploymentsOutput;
use aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentOutput;
use aws_sdk_codedeploy::operation::list_deployments::ListDeploymentsOutput;
use aws_sdk_codedeploy::types::{
    BundleType, DeploymentInfo, DeploymentStatus, RevisionLocation, RevisionLocationType,
    S3Location,
};
use aws_sdk_s3::operation::copy_object::CopyObjectOutput;
use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::CopyObjectResult;
use aws_smithy_mocks::{mock, Rule};
use aws_smithy_types::DateTime;
use invisible_pipeline::aws::Clients;
use invisible_pipeline::base::error::{exit, Error};
use invisible_pipeline::base::shutdown::Shutdown;
use invisible_pipeline::commands::promote::{self, Source};
use invisible_pipeline::deployment::{self, DeployConfig, Outcome};

/// sha256("hello world"), the bundle's recorded SHA-256.
const SHA: &str = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

/// The staging group's one success, d-S1, of bundles/app/c0ffee/proj-7.tgz version v1.
fn staging() -> Vec<Rule> {
    let info = DeploymentInfo::builder()
        .deployment_id("d-S1")
        .application_name("app")
        .deployment_group_name("staging")
        .status(DeploymentStatus::Succeeded)
        .create_time(DateTime::from_secs(100))
        .description(deployment::description(
            DateTime::from_secs(1_764_000_000),
            Some("c0ffee"),
            Some("proj:7"),
        ))
        .revision(
            RevisionLocation::builder()
                .revision_type(RevisionLocationType::S3)
                .s3_location(
                    S3Location::builder()
                        .bucket("artifacts")
                        .key("bundles/app/c0ffee/proj-7.tgz")
                        .version("v1")
                        .e_tag("\"e1\"")
                        .bundle_type(BundleType::TarGZip)
                        .build(),
                )
                .build(),
        )
        .build();
    vec![
        mock!(aws_sdk_codedeploy::Client::list_deployments)
            .match_requests(|r| {
                r.deployment_group_name() == Some("staging")
                    && r.include_only_statuses() == [DeploymentStatus::Succeeded]
            })
            .then_output(|| ListDeploymentsOutput::builder().deployments("d-S1").build()),
        mock!(aws_sdk_codedeploy::Client::batch_get_deployments).then_output(move || {
            BatchGetDeploymentsOutput::builder()
                .deployments_info(info.clone())
                .build()
        }),
    ]
}

fn source_head() -> Rule {
    mock!(aws_sdk_s3::Client::head_object)
        .match_requests(|r| r.bucket() == Some("artifacts") && r.version_id() == Some("v1"))
        .then_output(|| {
            HeadObjectOutput::builder()
                .e_tag("\"e1\"")
                .content_length(11)
                .metadata("sha256", SHA)
                .build()
        })
}

fn prod(cfg: &DeployConfig, bucket: &str) -> DeployConfig {
    DeployConfig {
        group: "prod".into(),
        bucket: bucket.into(),
        wait_timeout: None,
        trigger_time: DateTime::from(std::time::SystemTime::now()),
        ..cfg.clone()
    }
}

fn from() -> Source {
    Source {
        application: "app".into(),
        group: "staging".into(),
        deployment: None,
    }
}

fn create_of(bucket: &'static str, version: &'static str) -> Rule {
    mock!(aws_sdk_codedeploy::Client::create_deployment)
        .match_requests(move |r| {
            let s3 = r.revision().and_then(|v| v.s3_location()).unwrap();
            r.deployment_group_name() == Some("prod")
                && s3.bucket() == Some(bucket)
                && s3.key() == Some("bundles/app/c0ffee/proj-7.tgz")
                && s3.version() == Some(version)
                // The promoted deployment records the bundle's SHA-256 too.
                && r.description().is_some_and(|d| {
                    d.contains(&format!(
                        "commit=c0ffee build=proj:7 sha256={SHA} promoted-from=staging/d-S1 by=invisible-pipeline"
                    ))
                })
        })
        .then_output(|| {
            CreateDeploymentOutput::builder()
                .deployment_id("d-P1")
                .build()
        })
}

#[tokio::test]
async fn promote_deploys_the_staging_success_s_object_version_to_prod() {
    let (_tmp, cfg) = setup();
    let create = create_of("artifacts", "v1");
    let (active, recent) = (list_active(&[]), list_recent(&[]));
    let mut cd: Vec<&Rule> = Vec::new();
    let rules = staging();
    cd.extend(rules.iter());
    cd.extend([&active, &recent, &create]);
    let head = source_head();
    // No CopyObject, PutObject or DeleteObject rule: the same object, only read.
    let c = clients(&[&head], &cd, &[]);
    let outcome = promote::run(&c, &c, &from(), &prod(&cfg, ""), &Shutdown::manual().1)
        .await
        .unwrap();
    assert_eq!(outcome.status, Outcome::Created);
    assert_eq!(outcome.promoted_from, "staging/d-S1");
    assert!(!outcome.copied);
    assert_eq!(outcome.sha256.as_deref(), Some(SHA));
    assert_eq!(create.num_calls(), 1);
}

/// The target region's clients: their own bucket and CodeDeploy.
fn in_region(c: Clients) -> Clients {
    Clients {
        deploy_region: "ap-southeast-7".into(),
        ..c
    }
}

fn copy_rules(copied: &'static [u8]) -> (Rule, Rule) {
    let copy = mock!(aws_sdk_s3::Client::copy_object)
        .match_requests(|r| {
            r.bucket() == Some("artifacts-bkk")
                && r.copy_source() == Some("artifacts/bundles/app/c0ffee/proj-7.tgz?versionId=v1")
                && r.copy_source_if_match() == Some("\"e1\"")
        })
        .then_output(|| {
            CopyObjectOutput::builder()
                .version_id("bkk-v1")
                .copy_object_result(CopyObjectResult::builder().e_tag("\"e2\"").build())
                .build()
        });
    let read_back = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.version_id() == Some("bkk-v1"))
        .then_output(move || {
            GetObjectOutput::builder()
                .body(ByteStream::from_static(copied))
                .build()
        });
    (copy, read_back)
}

#[tokio::test]
async fn to_another_region_the_bundle_is_copied_and_checked_by_its_bytes() {
    let (_tmp, cfg) = setup();
    let rules = staging();
    let source_cd: Vec<&Rule> = rules.iter().collect();
    let head = source_head();
    let source = clients(&[&head], &source_cd, &[]);
    let (copy, read_back) = copy_rules(b"hello world");
    let bucket = head_bucket("ap-southeast-7");
    let create = create_of("artifacts-bkk", "bkk-v1");
    let (active, recent) = (list_active(&[]), list_recent(&[]));
    let target = in_region(clients(
        &[&bucket, &copy, &read_back],
        &[&active, &recent, &create],
        &[],
    ));
    let outcome = promote::run(
        &source,
        &target,
        &from(),
        &prod(&cfg, "artifacts-bkk"),
        &Shutdown::manual().1,
    )
    .await
    .unwrap();
    assert!(outcome.copied);
    assert_eq!(outcome.revision_version_id.as_deref(), Some("bkk-v1"));
    assert_eq!(outcome.sha256.as_deref(), Some(SHA));
    assert_eq!(
        (copy.num_calls(), read_back.num_calls(), create.num_calls()),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn a_copy_with_other_bytes_is_removed_and_nothing_is_deployed() {
    let (_tmp, cfg) = setup();
    let rules = staging();
    let source_cd: Vec<&Rule> = rules.iter().collect();
    let head = source_head();
    let source = clients(&[&head], &source_cd, &[]);
    // The copy carries the source's metadata (sha256 and all), but not its bytes.
    let (copy, read_back) = copy_rules(b"hello w0rld");
    let bucket = head_bucket("ap-southeast-7");
    let delete = mock!(aws_sdk_s3::Client::delete_object)
        .match_requests(|r| r.bucket() == Some("artifacts-bkk") && r.version_id() == Some("bkk-v1"))
        .then_output(|| DeleteObjectOutput::builder().build());
    let create = create_of("artifacts-bkk", "bkk-v1");
    let target = in_region(clients(
        &[&bucket, &copy, &read_back, &delete],
        &[&create],
        &[],
    ));
    let err = promote::run(
        &source,
        &target,
        &from(),
        &prod(&cfg, "artifacts-bkk"),
        &Shutdown::manual().1,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Refused(_)), "{err}");
    assert_eq!(err.exit_code(), exit::REFUSED);
    assert!(
        err.to_string().contains("does not hold the bundle's bytes"),
        "{err}"
    );
    assert_eq!(delete.num_calls(), 1, "the copy is removed");
    assert_eq!(create.num_calls(), 0, "nothing deployed");
}
