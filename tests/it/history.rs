//! `history` against answers shaped as AWS documents them: ListDeployments over more than one
//! page, BatchGetDeployments, and HeadObject on each bundle version (a 404 when it expired).

use crate::support::mocks::clients;
use aws_sdk_codedeploy::operation::batch_get_deployments::BatchGetDeploymentsOutput;
use aws_sdk_codedeploy::operation::list_deployments::ListDeploymentsOutput;
use aws_sdk_codedeploy::types::{
    DeploymentInfo, DeploymentOverview, DeploymentStatus, RevisionLocation, RevisionLocationType,
    S3Location,
};
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_smithy_mocks::{mock, MockResponse};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::DateTime;
use invisible_pipeline::base::shutdown::Shutdown;
use invisible_pipeline::deployment;
use invisible_pipeline::deployment::record::BundleState;

fn info(id: &str, created: i64, status: DeploymentStatus, description: &str) -> DeploymentInfo {
    DeploymentInfo::builder()
        .deployment_id(id)
        .status(status)
        .create_time(DateTime::from_secs(created))
        .complete_time(DateTime::from_secs(created + 60))
        .description(description)
        .deployment_overview(DeploymentOverview::builder().succeeded(1).build())
        .revision(
            RevisionLocation::builder()
                .revision_type(RevisionLocationType::S3)
                .s3_location(
                    S3Location::builder()
                        .bucket("art")
                        .key(format!("bundles/app/{id}.tgz"))
                        .version(format!("v-{id}"))
                        .build(),
                )
                .build(),
        )
        .build()
}

#[tokio::test]
async fn history_reads_every_page_newest_first_and_shows_expired_bundles() {
    let ours = |build: &str| {
        deployment::description(
            DateTime::from_secs(1_764_000_000),
            Some("c0ffee1234"),
            Some(build),
        )
    };
    let all = [
        info("d-1", 100, DeploymentStatus::Succeeded, &ours("proj:1")),
        info("d-2", 200, DeploymentStatus::Failed, "deployed by hand"),
        info("d-3", 300, DeploymentStatus::Stopped, &ours("proj:3")),
        info("d-4", 400, DeploymentStatus::InProgress, &ours("proj:4")),
    ];
    // Two pages, as ListDeployments pages with nextToken.
    let first = mock!(aws_sdk_codedeploy::Client::list_deployments)
        .match_requests(|r| r.next_token().is_none() && r.include_only_statuses().is_empty())
        .then_output(|| {
            ListDeploymentsOutput::builder()
                .deployments("d-1")
                .deployments("d-2")
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_codedeploy::Client::list_deployments)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(|| {
            ListDeploymentsOutput::builder()
                .deployments("d-3")
                .deployments("d-4")
                .build()
        });
    let batch =
        mock!(aws_sdk_codedeploy::Client::batch_get_deployments).then_compute_output(move |r| {
            let wanted = r.deployment_ids();
            BatchGetDeploymentsOutput::builder()
                .set_deployments_info(Some(
                    all.iter()
                        .filter(|i| wanted.iter().any(|w| Some(w.as_str()) == i.deployment_id()))
                        .cloned()
                        .collect(),
                ))
                .build()
        });
    // d-1's bundle expired: HeadObject on a version that is gone is a 404 without a body.
    let head = mock!(aws_sdk_s3::Client::head_object).then_compute_response(|r| {
        if r.version_id() == Some("v-d-1") {
            MockResponse::Http(HttpResponse::new(
                StatusCode::try_from(404).unwrap(),
                SdkBody::empty(),
            ))
        } else {
            MockResponse::Output(
                HeadObjectOutput::builder()
                    .metadata("sha256", format!("sha-of-{}", r.key().unwrap()))
                    .build(),
            )
        }
    });
    let c = clients(&[&head], &[&first, &second, &batch], &[]);
    let entries = invisible_pipeline::commands::history::run(
        &c,
        "app",
        "web",
        3,
        None,
        false,
        &Shutdown::manual().1,
    )
    .await
    .unwrap();
    let ids: Vec<_> = entries.iter().map(|e| e.deployment_id.as_str()).collect();
    assert_eq!(ids, ["d-4", "d-3", "d-2"], "newest first, limited to 3");
    assert_eq!(entries[0].status, "in progress");
    assert_eq!(entries[0].build.as_deref(), Some("proj:4"));
    assert_eq!(entries[0].commit.as_deref(), Some("c0ffee1234"));
    assert!(!entries[2].by_invisible_pipeline, "d-2 was made by hand");
    assert_eq!(
        entries[1].bundle.as_ref().unwrap().state,
        Some(BundleState::Present {
            sha256: Some("sha-of-bundles/app/d-3.tgz".into())
        })
    );

    let all = invisible_pipeline::commands::history::run(
        &c,
        "app",
        "web",
        10,
        None,
        false,
        &Shutdown::manual().1,
    )
    .await
    .unwrap();
    assert_eq!(all.len(), 4, "both pages read");
    assert_eq!(
        all[3].bundle.as_ref().unwrap().state,
        Some(BundleState::Expired)
    );
    let line = invisible_pipeline::deployment::record::line(&all[3]);
    assert!(
        line.contains("(expired)") && line.contains("succeeded"),
        "{line}"
    );
}

#[tokio::test]
async fn status_shows_live_running_and_the_last_failure_with_its_instances() {
    let ours =
        deployment::description(DateTime::from_secs(1_764_000_000), Some("abc"), Some("p:7"));
    let by_status = move |status: DeploymentStatus| match status {
        DeploymentStatus::Succeeded => vec!["d-OLD", "d-LIVE"],
        DeploymentStatus::InProgress => vec!["d-RUN"],
        DeploymentStatus::Failed => vec!["d-BAD"],
        _ => vec![],
    };
    let list = mock!(aws_sdk_codedeploy::Client::list_deployments).then_compute_output(move |r| {
        let ids: Vec<String> = r
            .include_only_statuses()
            .iter()
            .flat_map(|s| by_status(s.clone()))
            .map(str::to_string)
            .collect();
        ListDeploymentsOutput::builder()
            .set_deployments(Some(ids))
            .build()
    });
    let all = [
        info("d-OLD", 100, DeploymentStatus::Succeeded, &ours),
        info("d-LIVE", 300, DeploymentStatus::Succeeded, &ours),
        info("d-RUN", 400, DeploymentStatus::InProgress, &ours),
        DeploymentInfo::builder()
            .deployment_id("d-BAD")
            .status(DeploymentStatus::Failed)
            .create_time(DateTime::from_secs(200))
            .description("by hand")
            .error_information(
                aws_sdk_codedeploy::types::ErrorInformation::builder()
                    .code(aws_sdk_codedeploy::types::ErrorCode::HealthConstraints)
                    .message("Script at specified location: scripts/start.sh run as user root failed with exit code 1")
                    .build(),
            )
            .build(),
    ];
    let batch =
        mock!(aws_sdk_codedeploy::Client::batch_get_deployments).then_compute_output(move |r| {
            let wanted = r.deployment_ids();
            BatchGetDeploymentsOutput::builder()
                .set_deployments_info(Some(
                    all.iter()
                        .filter(|i| wanted.iter().any(|w| Some(w.as_str()) == i.deployment_id()))
                        .cloned()
                        .collect(),
                ))
                .build()
        });
    // No instance reached: ListDeploymentTargets answers DeploymentNotStartedException.
    let targets = mock!(aws_sdk_codedeploy::Client::list_deployment_targets).then_error(|| {
        aws_sdk_codedeploy::operation::list_deployment_targets::ListDeploymentTargetsError::DeploymentNotStartedException(
            aws_sdk_codedeploy::types::error::DeploymentNotStartedException::builder().build(),
        )
    });
    let head = mock!(aws_sdk_s3::Client::head_object).then_output(|| {
        HeadObjectOutput::builder()
            .metadata("sha256", "feed")
            .build()
    });
    let c = clients(&[&head], &[&list, &batch, &targets], &[]);
    let status = invisible_pipeline::commands::status::run(&c, "app", "web", &Shutdown::manual().1)
        .await
        .unwrap();
    assert_eq!(status.live.as_ref().unwrap().deployment_id, "d-LIVE");
    assert_eq!(status.running.len(), 1);
    assert_eq!(status.running[0].entry.deployment_id, "d-RUN");
    let failure = status.last_failure.as_ref().unwrap();
    assert_eq!(failure.entry.deployment_id, "d-BAD");
    let details = failure.details.join("\n");
    assert!(
        details.contains("HEALTH_CONSTRAINTS") && details.contains("scripts/start.sh"),
        "{details}"
    );
    assert!(details.contains("no instance started"), "{details}");
    let text = invisible_pipeline::deployment::record::status_text(&status);
    assert!(
        text.contains("live        d-LIVE") && text.contains("sha256 feed"),
        "{text}"
    );
}
