//! The preflight before a deploy: the group exists, its tags match a running instance, its
//! service role exists. Answers shaped as the API references show them: CodeDeploy's
//! GetDeploymentGroup (`ec2TagFilters`, `ec2TagSet`, `serviceRoleArn`;
//! DeploymentGroupDoesNotExistException in the JSON protocol's `__type`), EC2's
//! DescribeInstances (`reservationSet`/`instancesSet`, the EC2 Query protocol's
//! `Response/Errors/Error` with `UnauthorizedOperation`), IAM's GetRole (`NoSuchEntity`, HTTP
//! 404, in `ErrorResponse/Error`). A failure stops the run before any upload; a denied check
//! is a note.

use crate::support::mocks::*;
use aws_sdk_codedeploy::operation::get_deployment_group::GetDeploymentGroupOutput;
use aws_sdk_codedeploy::types::{
    DeploymentGroupInfo, DeploymentStatus, Ec2TagFilter, Ec2TagFilterType, Ec2TagSet,
};
use aws_smithy_mocks::{mock, Rule};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use invisible_pipeline::aws::query::QueryClient;
use invisible_pipeline::base::error::{exit, Error};
use invisible_pipeline::base::shutdown::Shutdown;
use invisible_pipeline::commands::deploy;
use invisible_pipeline::deployment::Outcome;
use std::sync::{Arc, Mutex};

const ROLE: &str = "arn:aws:iam::123456789012:role/service-role/CodeDeployServiceRole";

fn tag(key: &str, value: &str) -> Ec2TagFilter {
    Ec2TagFilter::builder()
        .key(key)
        .value(value)
        .r#type(Ec2TagFilterType::KeyAndValue)
        .build()
}

fn group_of(info: DeploymentGroupInfo) -> Rule {
    mock!(aws_sdk_codedeploy::Client::get_deployment_group).then_output(move || {
        GetDeploymentGroupOutput::builder()
            .deployment_group_info(info.clone())
            .build()
    })
}

fn tagged_group() -> DeploymentGroupInfo {
    DeploymentGroupInfo::builder()
        .application_name("app")
        .deployment_group_name("web")
        .service_role_arn(ROLE)
        .ec2_tag_filters(tag("app", "web"))
        .build()
}

/// DescribeInstances with `ids` running; any other request's answer is an error.
fn instances(body: &str, ids: &[&str]) -> (u16, String) {
    let items: String = ids
        .iter()
        .map(|id| format!("<item><instanceId>{id}</instanceId><imageId>ami-0abcdef1234567890</imageId><instanceState><code>16</code><name>running</name></instanceState></item>"))
        .collect();
    let set = if ids.is_empty() {
        "<reservationSet/>".to_string()
    } else {
        format!("<reservationSet><item><reservationId>r-0123</reservationId><ownerId>123456789012</ownerId><instancesSet>{items}</instancesSet></item></reservationSet>")
    };
    assert!(body.contains("Filter.2.Name=instance-state-name"), "{body}");
    (
        200,
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>8f7724cf-496f-496e-8fe3-example</requestId>{set}</DescribeInstancesResponse>"),
    )
}

fn role_found() -> (u16, String) {
    (200, "<GetRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetRoleResult><Role><Path>/service-role/</Path><RoleName>CodeDeployServiceRole</RoleName><RoleId>AROAEXAMPLE</RoleId><Arn>arn:aws:iam::123456789012:role/service-role/CodeDeployServiceRole</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate></Role></GetRoleResult><ResponseMetadata><RequestId>7a62c49f</RequestId></ResponseMetadata></GetRoleResponse>".to_string())
}

/// The requests the preflight made (their form bodies), and a client answering them by `f`.
fn recording(
    f: impl Fn(&str) -> (u16, String) + Send + Sync + 'static,
) -> (QueryClient, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let q = QueryClient::answering(
        move |body| {
            log.lock().unwrap().push(body.to_string());
            f(body)
        },
        "us-east-1",
    );
    (q, seen)
}

async fn deploy_with(group: Rule, q: QueryClient) -> Result<deploy::DeployOutcome, Error> {
    let (_tmp, mut cfg) = setup();
    cfg.preflight = true;
    // Outside CodeBuild: the preflight's calls alone reach the Query client (the build's
    // BatchGetBuilds, for the timeline, is tested in `timeline`).
    cfg.build_id = None;
    let get = get_deployment(&[DeploymentStatus::Succeeded]);
    let (mut c, usual) = usual_deploy(&[&group, &get], &[]);
    c.query = q;
    let result = deploy::run(&c, &cfg, &Shutdown::manual().1).await;
    if result.is_err() {
        assert_eq!(
            usual.create.num_calls(),
            0,
            "no deployment after a failed preflight"
        );
    }
    result
}

#[tokio::test(flavor = "multi_thread")]
async fn no_running_instance_with_the_group_s_tags_stops_the_run_before_any_upload() {
    let (q, seen) = recording(|body| {
        if body.contains("Action=DescribeInstances") {
            instances(body, &[])
        } else {
            role_found()
        }
    });
    let err = deploy_with(group_of(tagged_group()), q).await.unwrap_err();
    assert_eq!(err.exit_code(), exit::IO);
    let text = err.to_string();
    assert!(
        text.contains("deployment group app/web targets no running instance")
            && text.contains("running instances with tag app=web")
            && text.contains("--no-preflight"),
        "{text}"
    );
    let seen = seen.lock().unwrap();
    assert!(
        seen[0].contains("Filter.1.Name=tag%3Aapp") && seen[0].contains("Filter.1.Value.1=web"),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_instance_and_the_role_let_the_deploy_go_on() {
    let (q, seen) = recording(|body| {
        if body.contains("Action=DescribeInstances") {
            instances(body, &["i-0abc"])
        } else {
            assert!(
                body.contains("Action=GetRole") && body.contains("RoleName=CodeDeployServiceRole"),
                "{body}"
            );
            role_found()
        }
    });
    let outcome = deploy_with(group_of(tagged_group()), q).await.unwrap();
    assert_eq!(outcome.status, Outcome::Succeeded);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

/// A tag set: an instance must be in every group (one of each group's tags).
#[tokio::test(flavor = "multi_thread")]
async fn a_tag_set_needs_one_instance_in_every_group() {
    let set = DeploymentGroupInfo::builder()
        .application_name("app")
        .deployment_group_name("web")
        .service_role_arn(ROLE)
        .ec2_tag_set(
            Ec2TagSet::builder()
                .ec2_tag_set_list(vec![tag("env", "prod")])
                .ec2_tag_set_list(vec![tag("role", "web")])
                .build(),
        )
        .build();
    // env=prod: i-1, i-2; role=web: i-3. No instance is in both.
    let answer = |body: &str| {
        if body.contains("Filter.1.Name=tag%3Aenv") {
            instances(body, &["i-1", "i-2"])
        } else if body.contains("Filter.1.Name=tag%3Arole") {
            instances(body, &["i-3"])
        } else {
            role_found()
        }
    };
    let (q, _) = recording(answer);
    let err = deploy_with(group_of(set.clone()), q).await.unwrap_err();
    assert!(
        err.to_string().contains("tag env=prod, and tag role=web"),
        "{err}"
    );
    // i-2 in both: it goes on.
    let (q, _) = recording(|body: &str| {
        if body.contains("Filter.1.Name=tag%3Aenv") {
            instances(body, &["i-1", "i-2"])
        } else if body.contains("Filter.1.Name=tag%3Arole") {
            instances(body, &["i-2"])
        } else {
            role_found()
        }
    });
    deploy_with(group_of(set), q).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_service_role_is_one_line_before_any_upload() {
    let (q, _) = recording(|body| {
        if body.contains("Action=DescribeInstances") {
            instances(body, &["i-0abc"])
        } else {
            (404, "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>The role with name CodeDeployServiceRole cannot be found.</Message></Error><RequestId>1d5e6f7a</RequestId></ErrorResponse>".to_string())
        }
    });
    let err = deploy_with(group_of(tagged_group()), q).await.unwrap_err();
    assert_eq!(err.exit_code(), exit::IO);
    assert!(
        err.to_string().contains("IAM role CodeDeployServiceRole")
            && err.to_string().contains("does not exist"),
        "{err}"
    );
}

/// DeploymentGroupDoesNotExistException (HTTP 400, the JSON protocol's `__type`): a usage
/// error naming the options.
#[tokio::test(flavor = "multi_thread")]
async fn a_group_that_does_not_exist_is_a_usage_error() {
    let missing = mock!(aws_sdk_codedeploy::Client::get_deployment_group).then_http_response(|| {
        HttpResponse::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(r#"{"__type":"DeploymentGroupDoesNotExistException","message":"No Deployment Group found for name: web"}"#),
        )
    });
    let err = deploy_with(missing, unexpected_query()).await.unwrap_err();
    assert_eq!(err.exit_code(), exit::USAGE);
    assert!(
        err.to_string()
            .contains("deployment group app/web does not exist")
            && err.to_string().contains("--deployment-group"),
        "{err}"
    );
}

/// UnauthorizedOperation (HTTP 403, EC2's error document): "could not check", a warning of
/// the run, which goes on.
#[tokio::test(flavor = "multi_thread")]
async fn a_denied_check_is_a_note_not_a_failure() {
    let (q, _) = recording(|body| {
        if body.contains("Action=DescribeInstances") {
            (403, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation. User: arn:aws:sts::123456789012:assumed-role/build/x is not authorized to perform: ec2:DescribeInstances because no identity-based policy allows the ec2:DescribeInstances action</Message></Error></Errors><RequestID>0f5e2a1c</RequestID></Response>".to_string())
        } else {
            role_found()
        }
    });
    let outcome = deploy_with(group_of(tagged_group()), q).await.unwrap();
    assert_eq!(outcome.status, Outcome::Succeeded);
    let warnings: Vec<String> = outcome
        .warnings
        .warnings()
        .map(ToString::to_string)
        .collect();
    assert!(
        warnings.iter().any(
            |w| w.contains("could not check the group's tagged instances")
                && w.contains("ec2:DescribeInstances")
        ),
        "{warnings:?}"
    );
}
