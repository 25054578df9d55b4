//! A deployment group behind a load balancer: the target groups' deregistration delay, which
//! every in-place deployment waits out on each instance at BlockTraffic, is said by `deploy`
//! (a warning in the summary) when it is the 300 s default or longer; a read the role may not
//! make is a note, never a failure. Answers shaped as the API references show them:
//! GetDeploymentGroup's `loadBalancerInfo.targetGroupInfoList`, ELBv2 DescribeTargetGroups and
//! DescribeTargetGroupAttributes (`deregistration_delay.timeout_seconds`), and the query
//! protocol's XML error of an access denial.

use crate::support::mocks::*;
use aws_sdk_codedeploy::operation::get_deployment_group::GetDeploymentGroupOutput;
use aws_sdk_codedeploy::types::{
    DeploymentGroupInfo, DeploymentStatus, LoadBalancerInfo, TargetGroupInfo,
};
use aws_sdk_elasticloadbalancingv2::operation::describe_target_group_attributes::DescribeTargetGroupAttributesOutput;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
use aws_sdk_elasticloadbalancingv2::types::{TargetGroup, TargetGroupAttribute};
use aws_smithy_mocks::{mock, Rule};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use invisible_pipeline::base::shutdown::Shutdown;
use invisible_pipeline::commands::deploy;
use invisible_pipeline::deployment::Outcome;

const TG_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tg/50dc6c495c0c9188";

fn behind_target_group() -> Rule {
    mock!(aws_sdk_codedeploy::Client::get_deployment_group).then_output(|| {
        GetDeploymentGroupOutput::builder()
            .deployment_group_info(
                DeploymentGroupInfo::builder()
                    .application_name("app")
                    .deployment_group_name("web")
                    .load_balancer_info(
                        LoadBalancerInfo::builder()
                            .target_group_info_list(
                                TargetGroupInfo::builder().name("web-tg").build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .build()
    })
}

fn target_groups() -> Rule {
    mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups)
        .match_requests(|r| r.names() == ["web-tg"])
        .then_output(|| {
            DescribeTargetGroupsOutput::builder()
                .target_groups(
                    TargetGroup::builder()
                        .target_group_name("web-tg")
                        .target_group_arn(TG_ARN)
                        .build(),
                )
                .build()
        })
}

fn attributes(delay: &'static str) -> Rule {
    mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_group_attributes)
        .match_requests(|r| r.target_group_arn() == Some(TG_ARN))
        .then_output(move || {
            DescribeTargetGroupAttributesOutput::builder()
                .attributes(
                    TargetGroupAttribute::builder()
                        .key("stickiness.enabled")
                        .value("false")
                        .build(),
                )
                .attributes(
                    TargetGroupAttribute::builder()
                        .key("deregistration_delay.timeout_seconds")
                        .value(delay)
                        .build(),
                )
                .build()
        })
}

async fn deploy_with(elb: &[&Rule]) -> deploy::DeployOutcome {
    let (_tmp, cfg) = setup();
    let (group, get) = (
        behind_target_group(),
        get_deployment(&[DeploymentStatus::Succeeded]),
    );
    let (c, _usual) = usual_deploy(&[&group, &get], elb);
    deploy::run(&c, &cfg, &Shutdown::manual().1).await.unwrap()
}

fn warnings(outcome: &deploy::DeployOutcome) -> Vec<String> {
    outcome
        .warnings
        .warnings()
        .map(ToString::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_deregistration_delay_is_a_warning_of_the_deploy() {
    let (groups, slow) = (target_groups(), attributes("300"));
    let outcome = deploy_with(&[&groups, &slow]).await;
    assert_eq!(outcome.status, Outcome::Succeeded);
    let w = warnings(&outcome);
    assert!(
        w.iter().any(|w| w.starts_with("target group web-tg: deregistration delay 300 s (the default)")),
        "{w:?}"
    );
    // A short delay: nothing to say.
    let (groups, quick) = (target_groups(), attributes("30"));
    let outcome = deploy_with(&[&groups, &quick]).await;
    assert!(
        warnings(&outcome)
            .iter()
            .all(|w| !w.contains("deregistration")),
        "{:?}",
        warnings(&outcome)
    );
}

/// AccessDenied on DescribeTargetGroups (HTTP 403, the query protocol's XML error): a note
/// naming the permission, and the deployment goes on.
#[tokio::test(flavor = "multi_thread")]
async fn a_denied_read_is_a_note_not_a_failure() {
    let denied = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups)
        .then_http_response(|| {
            HttpResponse::new(
                StatusCode::try_from(403).unwrap(),
                SdkBody::from(
                    "<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:sts::123456789012:assumed-role/build/x is not authorized to perform: elasticloadbalancing:DescribeTargetGroups because no identity-based policy allows the elasticloadbalancing:DescribeTargetGroups action</Message></Error><RequestId>0f5e2a1c-0000-4000-8000-000000000000</RequestId></ErrorResponse>",
                ),
            )
        });
    let outcome = deploy_with(&[&denied]).await;
    assert_eq!(outcome.status, Outcome::Succeeded);
    let w = warnings(&outcome);
    assert!(
        w.iter().any(
            |w| w.contains("cannot read its target groups' deregistration delay")
                && w.contains("elasticloadbalancing:DescribeTargetGroups")
        ),
        "{w:?}"
    );
}
