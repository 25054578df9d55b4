//! `rollback` against answers shaped as AWS documents them: the target chosen among the
//! group's successes, the bundle checked by HeadObject on its version (404 when it expired,
//! another ETag when the key was overwritten), deploy's busy-group and newest-trigger rules,
//! and never a deletion of the bundle it redeploys.

use crate::support::mocks::{clients, list_active, list_recent, setup};
use aws_sdk_codedeploy::operation::batch_get_deployments::BatchGetDeploymentsOutput;
use aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentOutput;
use aws_sdk_codedeploy::operation::list_deployments::ListDeploymentsOutput;
use aws_sdk_codedeploy::types::{
    BundleType, DeploymentInfo, DeploymentStatus, RevisionLocation, RevisionLocationType,
    S3Location,
};
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_smithy_mocks::{mock, MockResponse, Rule};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::DateTime;
use invisible_pipeline::base::error::{exit, Error};
use invisible_pipeline::base::shutdown::Shutdown;
use invisible_pipeline::deployment::{self, Outcome};

fn deployed(
    id: &str,
    status: DeploymentStatus,
    version: &str,
    description: &str,
) -> DeploymentInfo {
    DeploymentInfo::builder()
        .deployment_id(id)
        .application_name("app")
        .deployment_group_name("web")
        .status(status)
        .create_time(DateTime::from_secs(match id {
            "d-OLD" => 100,
            "d-LIVE" => 200,
            _ => 300,
        }))
        .description(description)
        .revision(
            RevisionLocation::builder()
                .revision_type(RevisionLocationType::S3)
                .s3_location(
                    S3Location::builder()
                        .bucket("artifacts")
                        .key(format!("bundles/app/{version}.tgz"))
                        .version(version)
                        .e_tag(format!("\"etag-{version}\""))
                        .bundle_type(BundleType::TarGZip)
                        .build(),
                )
                .build(),
        )
        .build()
}

fn old_description() -> String {
    deployment::description(
        DateTime::from_secs(1_764_000_000),
        Some("0ld5ha"),
        Some("proj:41"),
    )
}

/// The group's successes (d-LIVE, d-OLD), one active deployment when `busy` names it, and
/// BatchGetDeployments for all of them.
fn group(busy: Option<DeploymentInfo>) -> Vec<Rule> {
    let mut all = vec![
        deployed(
            "d-OLD",
            DeploymentStatus::Succeeded,
            "v1",
            &old_description(),
        ),
        deployed(
            "d-LIVE",
            DeploymentStatus::Succeeded,
            "v2",
            "deployed by hand",
        ),
    ];
    let successes = mock!(aws_sdk_codedeploy::Client::list_deployments)
        .match_requests(|r| r.include_only_statuses() == [DeploymentStatus::Succeeded])
        .then_output(|| {
            ListDeploymentsOutput::builder()
                .deployments("d-LIVE")
                .deployments("d-OLD")
                .build()
        });
    // Created after the rollback's trigger (now), when it is there: a newer run's.
    let (active, recent) = match &busy {
        Some(info) => {
            all.push(info.clone());
            (list_active(&["d-BUSY"]), list_recent(&["d-BUSY"]))
        }
        None => (list_active(&[]), list_recent(&[])),
    };
    let batch =
        mock!(aws_sdk_codedeploy::Client::batch_get_deployments).then_compute_output(move |r| {
            BatchGetDeploymentsOutput::builder()
                .set_deployments_info(Some(
                    all.iter()
                        .filter(|i| {
                            r.deployment_ids()
                                .iter()
                                .any(|w| Some(w.as_str()) == i.deployment_id())
                        })
                        .cloned()
                        .collect(),
                ))
                .build()
        });
    vec![successes, active, recent, batch]
}

fn head(etag: &'static str) -> Rule {
    mock!(aws_sdk_s3::Client::head_object)
        .match_requests(|r| r.version_id() == Some("v1"))
        .then_output(move || HeadObjectOutput::builder().e_tag(etag).build())
}

fn no_wait() -> (
    tempfile::TempDir,
    invisible_pipeline::deployment::DeployConfig,
) {
    let (tmp, mut cfg) = setup();
    cfg.wait_timeout = None;
    cfg.trigger_time = DateTime::from(std::time::SystemTime::now());
    (tmp, cfg)
}

#[tokio::test]
async fn rollback_redeploys_the_previous_success_s_object_version() {
    let create = mock!(aws_sdk_codedeploy::Client::create_deployment)
        .match_requests(|r| {
            let s3 = r.revision().and_then(|v| v.s3_location()).unwrap();
            s3.key() == Some("bundles/app/v1.tgz")
                && s3.version() == Some("v1")
                && s3.e_tag().map(|e| e.trim_matches('"')) == Some("etag-v1")
                && r.description().is_some_and(|d| {
                    d.contains(
                        "commit=0ld5ha build=proj:41 rollback-of=d-OLD by=invisible-pipeline",
                    )
                })
        })
        .then_output(|| {
            CreateDeploymentOutput::builder()
                .deployment_id("d-RB")
                .build()
        });
    let rules = group(None);
    let mut cd: Vec<&Rule> = rules.iter().collect();
    cd.push(&create);
    let head = head("\"etag-v1\"");
    // No rule for DeleteObject or PutObject: the bundle is only read.
    let c = clients(&[&head], &cd, &[]);
    let outcome =
        invisible_pipeline::commands::rollback::run(&c, &no_wait().1, None, &Shutdown::manual().1)
            .await
            .unwrap();
    assert_eq!(outcome.status, Outcome::Created);
    assert_eq!(outcome.deployment_id.as_deref(), Some("d-RB"));
    assert_eq!(outcome.rollback_of, "d-OLD");
    assert_eq!(outcome.replaced.as_deref(), Some("d-LIVE"));
    assert_eq!(outcome.commit.as_deref(), Some("0ld5ha"));
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn an_expired_or_overwritten_bundle_is_refused_before_anything_is_created() {
    let create = mock!(aws_sdk_codedeploy::Client::create_deployment).then_output(|| {
        CreateDeploymentOutput::builder()
            .deployment_id("d-X")
            .build()
    });
    // Expired: HeadObject on the version answers 404, without a body.
    let gone = mock!(aws_sdk_s3::Client::head_object).then_compute_response(|_| {
        MockResponse::Http(HttpResponse::new(
            StatusCode::try_from(404).unwrap(),
            SdkBody::empty(),
        ))
    });
    let changed = head("\"something-else\"");
    for (head, says) in [
        (&gone, "no longer exists"),
        (&changed, "changed since it was deployed"),
    ] {
        let rules = group(None);
        let mut cd: Vec<&Rule> = rules.iter().collect();
        cd.push(&create);
        let c = clients(&[head], &cd, &[]);
        let err = invisible_pipeline::commands::rollback::run(
            &c,
            &no_wait().1,
            None,
            &Shutdown::manual().1,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Refused(_)), "{err}");
        assert_eq!(err.exit_code(), exit::REFUSED);
        assert!(
            err.to_string().contains(says) && err.to_string().contains("d-OLD"),
            "{err}"
        );
    }
    assert_eq!(create.num_calls(), 0, "nothing created");
}

#[tokio::test]
async fn a_newer_trigger_holding_the_group_supersedes_the_rollback() {
    let newer = deployed(
        "d-BUSY",
        DeploymentStatus::InProgress,
        "v3",
        &deployment::description(
            DateTime::from_secs(4_102_444_800), // 2100: newer than the rollback's now
            Some("new"),
            Some("proj:99"),
        ),
    );
    let create = mock!(aws_sdk_codedeploy::Client::create_deployment).then_output(|| {
        CreateDeploymentOutput::builder()
            .deployment_id("d-X")
            .build()
    });
    let rules = group(Some(newer));
    let mut cd: Vec<&Rule> = rules.iter().collect();
    cd.push(&create);
    let head = head("\"etag-v1\"");
    let c = clients(&[&head], &cd, &[]);
    let outcome =
        invisible_pipeline::commands::rollback::run(&c, &no_wait().1, None, &Shutdown::manual().1)
            .await
            .unwrap();
    assert_eq!(outcome.status, Outcome::Superseded);
    assert_eq!(outcome.superseded_by.as_deref(), Some("d-BUSY"));
    assert_eq!(create.num_calls(), 0);
}

#[tokio::test]
async fn to_names_a_deployment_of_another_group_is_a_usage_error() {
    let other = mock!(aws_sdk_codedeploy::Client::get_deployment).then_output(|| {
        aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput::builder()
            .deployment_info(
                DeploymentInfo::builder()
                    .deployment_id("d-ELSE")
                    .application_name("app")
                    .deployment_group_name("prod")
                    .build(),
            )
            .build()
    });
    let c = clients(&[], &[&other], &[]);
    let err = invisible_pipeline::commands::rollback::run(
        &c,
        &no_wait().1,
        Some("d-ELSE"),
        &Shutdown::manual().1,
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), exit::USAGE, "{err}");
    assert!(err.to_string().contains("app/prod"), "{err}");
}

#[tokio::test]
async fn a_failed_rollback_leaves_the_bundle_s_tags_alone_and_exits_5() {
    let create = mock!(aws_sdk_codedeploy::Client::create_deployment).then_output(|| {
        CreateDeploymentOutput::builder()
            .deployment_id("d-new")
            .build()
    });
    let follow = crate::support::mocks::get_deployment(&[
        DeploymentStatus::InProgress,
        DeploymentStatus::Failed,
    ]);
    let targets = mock!(aws_sdk_codedeploy::Client::list_deployment_targets).then_error(|| {
        aws_sdk_codedeploy::operation::list_deployment_targets::ListDeploymentTargetsError::DeploymentNotStartedException(
            aws_sdk_codedeploy::types::error::DeploymentNotStartedException::builder().build(),
        )
    });
    let rules = group(None);
    let mut cd: Vec<&Rule> = rules.iter().collect();
    cd.extend([&create, &follow, &targets]);
    let head = head("\"etag-v1\"");
    // No PutObjectTagging rule: re-tagging the old bundle `Failed` (which would expire it)
    // fails the test.
    let c = clients(&[&head], &cd, &[]);
    let (_tmp, mut cfg) = no_wait();
    cfg.wait_timeout = Some(std::time::Duration::from_secs(30));
    let err = invisible_pipeline::commands::rollback::run(&c, &cfg, None, &Shutdown::manual().1)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::DEPLOYMENT_FAILED, "{err}");
}

/// `--ignore-alarms`: CreateDeployment carries `overrideAlarmConfiguration` with `enabled:
/// false` (API reference, CreateDeployment: "turn off alarm polling" for "a previous
/// application revision that is known to work"), and the description says so.
#[tokio::test]
async fn ignore_alarms_turns_the_group_s_alarms_off_for_the_rollback_and_says_so() {
    let create = mock!(aws_sdk_codedeploy::Client::create_deployment)
        .match_requests(|r| {
            r.override_alarm_configuration()
                .is_some_and(|a| !a.enabled() && a.alarms().is_empty())
                && r.description().is_some_and(|d| {
                    d.contains("rollback-of=d-OLD alarms=ignored by=invisible-pipeline")
                })
        })
        .then_output(|| {
            CreateDeploymentOutput::builder()
                .deployment_id("d-RB")
                .build()
        });
    let rules = group(None);
    let mut cd: Vec<&Rule> = rules.iter().collect();
    cd.push(&create);
    let first_head = head("\"etag-v1\"");
    let c = clients(&[&first_head], &cd, &[]);
    let (_tmp, mut cfg) = no_wait();
    cfg.ignore_alarms = true;
    let outcome =
        invisible_pipeline::commands::rollback::run(&c, &cfg, None, &Shutdown::manual().1)
            .await
            .unwrap();
    assert_eq!(outcome.deployment_id.as_deref(), Some("d-RB"));
    assert_eq!(create.num_calls(), 1);
    // Without it, no override is sent.
    let plain = mock!(aws_sdk_codedeploy::Client::create_deployment)
        .match_requests(|r| r.override_alarm_configuration().is_none())
        .then_output(|| {
            CreateDeploymentOutput::builder()
                .deployment_id("d-RB2")
                .build()
        });
    let rules = group(None);
    let mut cd: Vec<&Rule> = rules.iter().collect();
    cd.push(&plain);
    let second_head = head("\"etag-v1\"");
    let c = clients(&[&second_head], &cd, &[]);
    invisible_pipeline::commands::rollback::run(&c, &no_wait().1, None, &Shutdown::manual().1)
        .await
        .unwrap();
    assert_eq!(plain.num_calls(), 1);
}
