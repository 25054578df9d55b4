//! `restart` against a CodeDeploy double that answers as the API reference describes
//! CreateDeployment's `deploymentMode: RESTART`
//! (<https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_CreateDeployment.html>, and
//! the same text in aws-sdk-codedeploy 1.124's `CreateDeploymentInput::deployment_mode`):
//! - "The revision parameter (including its s3Location and gitHubLocation) must not be
//!   specified, and is rejected if provided": a request with one is refused (the reference
//!   names no exception for it; the double answers `InvalidRevisionException`, the one
//!   CreateDeployment lists for a bad revision);
//! - "The updateOutdatedInstancesOnly parameter must not be set to true, and is rejected";
//! - "The revision is resolved by the service from the deployment group's last successful
//!   deployment": the deployment created shows that revision (inferred: the reference does not
//!   say whether GetDeployment shows it, so the tool never relies on it) and
//!   `deploymentMode: RESTART` (DeploymentInfo.deploymentMode, which is absent for STANDARD
//!   deployments: "An absent value must not be interpreted as STANDARD").

use crate::support::mocks::{clients, setup};
use aws_sdk_codedeploy::operation::batch_get_deployments::BatchGetDeploymentsOutput;
use aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentOutput;
use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
use aws_sdk_codedeploy::operation::list_deployments::ListDeploymentsOutput;
use aws_sdk_codedeploy::types::{
    BundleType, DeploymentInfo, DeploymentMode, DeploymentStatus, RevisionLocation,
    RevisionLocationType, S3Location,
};
use aws_sdk_s3::operation::put_object_tagging::PutObjectTaggingOutput;
use aws_smithy_mocks::{mock, MockResponse, Rule};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::DateTime;
use invisible_pipeline::base::error::{exit, Error};
use invisible_pipeline::base::shutdown::Shutdown;
use invisible_pipeline::commands::restart;
use invisible_pipeline::deployment::{self, DeployConfig, Outcome};
use std::sync::{Arc, Mutex};

/// The deployment group, as CodeDeploy keeps it.
#[derive(Default)]
struct Group {
    deployments: Vec<DeploymentInfo>,
    /// CreateDeployment requests seen, in order.
    creates: usize,
    /// The next CreateDeployment does its work and its answer is lost (a 500).
    lose_next_answer: bool,
    /// Whether a RESTART deployment shows the revision CodeDeploy resolved (not documented
    /// either way: the tests run both).
    restart_shows_revision: bool,
}

fn s3_revision(version: &str) -> RevisionLocation {
    RevisionLocation::builder()
        .revision_type(RevisionLocationType::S3)
        .s3_location(
            S3Location::builder()
                .bucket("artifacts")
                .key(format!("bundles/app/{version}.tgz"))
                .version(version)
                .e_tag(format!("etag-{version}"))
                .bundle_type(BundleType::TarGZip)
                .build(),
        )
        .build()
}

fn success(id: &str, secs: i64, version: &str) -> DeploymentInfo {
    DeploymentInfo::builder()
        .deployment_id(id)
        .application_name("app")
        .deployment_group_name("web")
        .status(DeploymentStatus::Succeeded)
        .create_time(DateTime::from_secs(secs))
        .description(deployment::description(
            DateTime::from_secs(secs),
            Some(&format!("commit-{version}")),
            Some(&format!("proj:{version}")),
        ))
        .revision(s3_revision(version))
        .build()
}

/// A CodeDeploy error as the JSON protocol sends it.
fn error(
    status: u16,
    kind: &str,
    message: &str,
) -> MockResponse<
    aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentOutput,
    aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentError,
> {
    MockResponse::Http(HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(r#"{{"__type":"{kind}","message":"{message}"}}"#)),
    ))
}

/// The double: ListDeployments (status filter and time range), BatchGetDeployments,
/// GetDeployment (a created deployment has succeeded when looked at), CreateDeployment with
/// the reference's rules for RESTART.
fn double(group: &Arc<Mutex<Group>>) -> Vec<Rule> {
    let g = group.clone();
    let list = mock!(aws_sdk_codedeploy::Client::list_deployments).then_compute_output(move |r| {
        let group = g.lock().unwrap();
        let since = r.create_time_range().and_then(|t| t.start());
        let ids = group
            .deployments
            .iter()
            .rev()
            .filter(|d| {
                r.include_only_statuses().is_empty()
                    || d.status()
                        .is_some_and(|s| r.include_only_statuses().contains(s))
            })
            .filter(|d| since.is_none_or(|s| d.create_time().is_some_and(|c| c >= s)))
            .filter_map(|d| d.deployment_id().map(str::to_string))
            .collect();
        ListDeploymentsOutput::builder()
            .set_deployments(Some(ids))
            .build()
    });
    let g = group.clone();
    let batch =
        mock!(aws_sdk_codedeploy::Client::batch_get_deployments).then_compute_output(move |r| {
            let group = g.lock().unwrap();
            let infos = group
                .deployments
                .iter()
                .filter(|d| {
                    r.deployment_ids()
                        .iter()
                        .any(|id| Some(id.as_str()) == d.deployment_id())
                })
                .cloned()
                .collect();
            BatchGetDeploymentsOutput::builder()
                .set_deployments_info(Some(infos))
                .build()
        });
    let g = group.clone();
    let get = mock!(aws_sdk_codedeploy::Client::get_deployment).then_compute_output(move |r| {
        let mut group = g.lock().unwrap();
        let info = group
            .deployments
            .iter_mut()
            .find(|d| d.deployment_id() == r.deployment_id())
            .expect("a deployment the double made");
        info.status = Some(DeploymentStatus::Succeeded);
        GetDeploymentOutput::builder()
            .deployment_info(info.clone())
            .build()
    });
    let g = group.clone();
    let create =
        mock!(aws_sdk_codedeploy::Client::create_deployment).then_compute_response(move |r| {
            let mut group = g.lock().unwrap();
            group.creates += 1;
            let restart = r.deployment_mode() == Some(&DeploymentMode::Restart);
            if restart && r.revision().is_some() {
                return error(
                    400,
                    "InvalidRevisionException",
                    "The revision must not be specified when deploymentMode is RESTART.",
                );
            }
            if restart && r.update_outdated_instances_only() == Some(true) {
                return error(
                    400,
                    "InvalidUpdateOutdatedInstancesOnlyValueException",
                    "updateOutdatedInstancesOnly must not be true when deploymentMode is RESTART.",
                );
            }
            let last_success = group
                .deployments
                .iter()
                .rev()
                // What CodeDeploy keeps, whether or not a restart shows it.
                .filter(|d| d.status() == Some(&DeploymentStatus::Succeeded))
                .find_map(|d| d.revision().cloned());
            let revision = match (restart, last_success, r.revision()) {
                (true, Some(resolved), _) => group.restart_shows_revision.then_some(resolved),
                (false, _, Some(given)) => Some(given.clone()),
                _ => {
                    return error(400, "RevisionRequiredException", "The revision ID was not specified.")
                }
            };
            let id = format!("d-{}", group.deployments.len() + 1);
            let mut info = DeploymentInfo::builder()
                .deployment_id(&id)
                .application_name("app")
                .deployment_group_name("web")
                .status(DeploymentStatus::Created)
                .create_time(DateTime::from(std::time::SystemTime::now()))
                .set_description(r.description().map(str::to_string))
                .set_revision(revision);
            if restart {
                info = info.deployment_mode(DeploymentMode::Restart);
            }
            group.deployments.push(info.build());
            if std::mem::take(&mut group.lose_next_answer) {
                return MockResponse::Http(HttpResponse::new(
                    StatusCode::try_from(500).unwrap(),
                    SdkBody::from(r#"{"__type":"InternalFailure","message":"We encountered an internal error."}"#),
                ));
            }
            MockResponse::Output(CreateDeploymentOutput::builder().deployment_id(id).build())
        });
    vec![list, batch, get, create]
}

fn tag() -> Rule {
    mock!(aws_sdk_s3::Client::put_object_tagging)
        .then_output(|| PutObjectTaggingOutput::builder().build())
}

fn cfg(wait: bool) -> (tempfile::TempDir, DeployConfig) {
    let (tmp, mut cfg) = setup();
    cfg.wait_timeout = wait.then_some(std::time::Duration::from_secs(30));
    cfg.poll_interval = std::time::Duration::from_millis(5);
    cfg.trigger_time = DateTime::from(std::time::SystemTime::now());
    cfg.bucket = String::new();
    (tmp, cfg)
}

fn group_with(deployments: Vec<DeploymentInfo>) -> Arc<Mutex<Group>> {
    Arc::new(Mutex::new(Group {
        deployments,
        restart_shows_revision: true,
        ..Group::default()
    }))
}

#[tokio::test]
async fn restart_runs_the_last_success_again_without_a_revision() {
    let group = group_with(vec![success("d-1", 100, "v1"), success("d-2", 200, "v2")]);
    let rules = double(&group);
    let tag = tag();
    let c = clients(&[&tag], &rules.iter().collect::<Vec<_>>(), &[]);
    let (_tmp, cfg) = cfg(true);
    let outcome = restart::run(&c, &cfg, &Shutdown::manual().1).await.unwrap();
    assert_eq!(outcome.status, Outcome::Succeeded);
    assert_eq!(outcome.deployment_id.as_deref(), Some("d-3"));
    assert_eq!(outcome.restart_of, "d-2");
    assert_eq!(
        outcome.revision.as_deref(),
        Some("s3://artifacts/bundles/app/v2.tgz")
    );
    assert_eq!(outcome.commit.as_deref(), Some("commit-v2"));
    let group = group.lock().unwrap();
    assert_eq!(group.creates, 1);
    let made = &group.deployments[2];
    assert_eq!(made.deployment_mode(), Some(&DeploymentMode::Restart));
    let description = made.description().unwrap();
    assert!(
        description.contains("commit=commit-v2 build=proj:v2 restart-of=d-2 by=invisible-pipeline"),
        "{description}"
    );
    // The live bundle stays marked Live (what a rollback needs).
    assert!(tag.num_calls() >= 1);
}

#[tokio::test]
async fn a_group_with_no_success_is_refused_before_anything_is_created() {
    let mut failed = success("d-1", 100, "v1");
    failed.status = Some(DeploymentStatus::Failed);
    let group = group_with(vec![failed]);
    let rules = double(&group);
    let c = clients(&[], &rules.iter().collect::<Vec<_>>(), &[]);
    let (_tmp, cfg) = cfg(false);
    let err = restart::run(&c, &cfg, &Shutdown::manual().1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Refused(_)), "{err}");
    assert_eq!(err.exit_code(), exit::REFUSED);
    assert!(
        err.to_string()
            .contains("no deployment of app/web has succeeded"),
        "{err}"
    );
    assert_eq!(group.lock().unwrap().creates, 0);
}

/// A RESTART deployment names no revision of the request's: when CreateDeployment's answer is
/// lost, the run finds its deployment by the description, which carries its run key (trigger
/// time and build), and follows it: exactly one deployment. Another run's restart created
/// in the same window (another description) is never taken for it.
#[tokio::test]
async fn a_lost_answer_is_adopted_by_the_description_exactly_once() {
    for shows_revision in [false, true] {
        let other = DeploymentInfo::builder()
            .deployment_id("d-other")
            .application_name("app")
            .deployment_group_name("web")
            .status(DeploymentStatus::Succeeded)
            .create_time(DateTime::from(std::time::SystemTime::now()))
            .deployment_mode(DeploymentMode::Restart)
            .description(deployment::description_noting(
                DateTime::from_secs(150),
                &deployment::CommitInfo::id(Some("commit-v1")),
                Some("proj:v1"),
                &[("restart-of", "d-1")],
            ))
            .set_revision(shows_revision.then(|| s3_revision("v1")))
            .build();
        let group = group_with(vec![success("d-1", 100, "v1"), other]);
        {
            let mut g = group.lock().unwrap();
            g.lose_next_answer = true;
            g.restart_shows_revision = shows_revision;
        }
        let rules = double(&group);
        let tag = tag();
        let c = clients(&[&tag], &rules.iter().collect::<Vec<_>>(), &[]);
        let (_tmp, cfg) = cfg(true);
        let outcome = restart::run(&c, &cfg, &Shutdown::manual().1).await.unwrap();
        assert_eq!(outcome.status, Outcome::Succeeded);
        assert_eq!(
            outcome.deployment_id.as_deref(),
            Some("d-3"),
            "{shows_revision}"
        );
        let group = group.lock().unwrap();
        assert_eq!(group.creates, 1, "sent once: its deployment was found");
        assert_eq!(group.deployments.len(), 3);
    }
}

/// The double holds the tool to the reference: the same request with a revision, as a
/// careless client would send it, is refused.
#[tokio::test]
async fn the_double_refuses_a_restart_that_names_a_revision() {
    let group = group_with(vec![success("d-1", 100, "v1")]);
    let rules = double(&group);
    let c = clients(&[], &rules.iter().collect::<Vec<_>>(), &[]);
    let err = c
        .codedeploy
        .create_deployment()
        .application_name("app")
        .deployment_group_name("web")
        .deployment_mode(DeploymentMode::Restart)
        .revision(s3_revision("v1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().and_then(|e| e.meta().code()),
        Some("InvalidRevisionException")
    );
    assert_eq!(group.lock().unwrap().deployments.len(), 1);
}
