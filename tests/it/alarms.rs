//! A deployment stopped by a CloudWatch alarm, answered as the API references show it:
//! GetDeployment's `status: Stopped` with `errorInformation.code` `ALARM_ACTIVE` and
//! `rollbackInfo` (CodeDeploy API reference, DeploymentInfo, ErrorInformation, RollbackInfo),
//! GetDeploymentGroup's `alarmConfiguration` (AlarmConfiguration), and CloudWatch's
//! DescribeAlarms in the Query protocol (`MetricAlarms/member`: `StateValue`, `StateReason`,
//! `StateUpdatedTimestamp`; an error is `ErrorResponse/Error/Code`). The run exits 5, names the alarm that fired with its
//! reason, and a DescribeAlarms it may not make is a note, never a second failure.

use crate::support::mocks::*;
use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
use aws_sdk_codedeploy::operation::get_deployment_group::GetDeploymentGroupOutput;
use aws_sdk_codedeploy::types::{
    Alarm, AlarmConfiguration, DeploymentGroupInfo, DeploymentStatus, ErrorCode, ErrorInformation,
    RollbackInfo,
};
use aws_smithy_mocks::{mock, Rule};
use invisible_pipeline::aws::query::QueryClient;
use invisible_pipeline::base::error::{exit, Error};
use invisible_pipeline::base::shutdown::Shutdown;
use invisible_pipeline::commands::deploy;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const REASON: &str = "Threshold Crossed: 1 out of the last 1 datapoints [12.0 (07/12/26 10:02:00)] was greater than the threshold (5.0) (minimum 1 datapoint for OK -> ALARM transition).";

/// The group watches two alarms.
fn watched_group() -> Rule {
    mock!(aws_sdk_codedeploy::Client::get_deployment_group).then_output(|| {
        GetDeploymentGroupOutput::builder()
            .deployment_group_info(
                DeploymentGroupInfo::builder()
                    .application_name("app")
                    .deployment_group_name("web")
                    .alarm_configuration(
                        AlarmConfiguration::builder()
                            .enabled(true)
                            .ignore_poll_alarm_failure(false)
                            .alarms(Alarm::builder().name("web-5xx").build())
                            .alarms(Alarm::builder().name("web-unhealthy").build())
                            .build(),
                    )
                    .build(),
            )
            .build()
    })
}

/// In progress, then stopped on an alarm and rolled back by CodeDeploy. The message is not
/// documented beyond the code; the tool never relies on it naming the alarm.
fn stopped_on_alarm() -> Rule {
    mock!(aws_sdk_codedeploy::Client::get_deployment)
        .sequence()
        .output(|| {
            GetDeploymentOutput::builder()
                .deployment_info(info("d-new", DeploymentStatus::InProgress))
                .build()
        })
        .output(|| {
            let mut stopped = info("d-new", DeploymentStatus::Stopped);
            stopped.error_information = Some(
                ErrorInformation::builder()
                    .code(ErrorCode::AlarmActive)
                    .message("One or more alarms have been activated according to the Amazon CloudWatch metrics you selected, and the affected deployments have been stopped.")
                    .build(),
            );
            stopped.rollback_info = Some(
                RollbackInfo::builder()
                    .rollback_deployment_id("d-RB")
                    .rollback_message("Automatic rollback triggered: an alarm was activated.")
                    .build(),
            );
            GetDeploymentOutput::builder()
                .deployment_info(stopped)
                .build()
        })
        .repeatedly()
        .build()
}

/// DescribeAlarms of both names, metric and composite (the Query protocol's form and XML, as
/// the CloudWatch API reference shows them): web-5xx fires, web-unhealthy is OK.
fn alarm_states(body: &str) -> (u16, String) {
    assert!(
        body.contains("Action=DescribeAlarms")
            && body.contains("AlarmNames.member.1=web-5xx")
            && body.contains("AlarmNames.member.2=web-unhealthy")
            && body.contains("AlarmTypes.member.1=MetricAlarm")
            && body.contains("AlarmTypes.member.2=CompositeAlarm"),
        "{body}"
    );
    let reason = REASON.replace('>', "&gt;");
    (
        200,
        format!(
            "<DescribeAlarmsResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><DescribeAlarmsResult>\
<MetricAlarms>\
<member><AlarmName>web-5xx</AlarmName><AlarmArn>arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-5xx</AlarmArn><StateValue>ALARM</StateValue><StateReason>{reason}</StateReason><StateUpdatedTimestamp>2025-12-07T10:02:00.000Z</StateUpdatedTimestamp><MetricName>HTTPCode_Target_5XX_Count</MetricName><Dimensions><member><Name>TargetGroup</Name><Value>targetgroup/web-tg/50dc6c495c0c9188</Value></member></Dimensions></member>\
<member><AlarmName>web-unhealthy</AlarmName><StateValue>OK</StateValue><StateReason>Threshold Crossed: no datapoints were received.</StateReason><StateUpdatedTimestamp>2025-12-06T08:00:00.000Z</StateUpdatedTimestamp></member>\
</MetricAlarms><CompositeAlarms/></DescribeAlarmsResult><ResponseMetadata><RequestId>c1d2e3f4</RequestId></ResponseMetadata></DescribeAlarmsResponse>"
        ),
    )
}

/// CloudWatch's access denial in the Query protocol: HTTP 403, `ErrorResponse/Error`.
fn describe_alarms_denied(_: &str) -> (u16, String) {
    (
        403,
        "<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:sts::123456789012:assumed-role/build/x is not authorized to perform: cloudwatch:DescribeAlarms because no identity-based policy allows the cloudwatch:DescribeAlarms action</Message></Error><RequestId>a1b2c3d4</RequestId></ErrorResponse>".to_string(),
    )
}

async fn deploy_stopped(
    cloudwatch: impl Fn(&str) -> (u16, String) + Send + Sync + 'static,
) -> (Error, usize) {
    let (_tmp, mut cfg) = setup();
    cfg.poll_interval = std::time::Duration::from_millis(1);
    let (group, get) = (watched_group(), stopped_on_alarm());
    let (mut c, _usual) = usual_deploy(&[&group, &get], &[]);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    c.query = QueryClient::answering(
        move |body| {
            counted.fetch_add(1, Ordering::SeqCst);
            cloudwatch(body)
        },
        "us-east-1",
    );
    let err = deploy::run(&c, &cfg, &Shutdown::manual().1)
        .await
        .expect_err("a deployment stopped on an alarm fails the run");
    (err, calls.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_stopped_by_an_alarm_names_it_with_its_reason_and_exits_5() {
    let (err, calls) = deploy_stopped(alarm_states).await;
    assert_eq!(err.exit_code(), exit::DEPLOYMENT_FAILED);
    let Error::DeploymentFailed {
        ref status,
        ref alarms,
        ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(status, "was stopped by CloudWatch alarm web-5xx");
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert_eq!(alarms[0].state.as_deref(), Some("ALARM"));
    assert_eq!(alarms[0].since.as_deref(), Some("2025-12-07T10:02:00Z"));
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "alarm web-5xx: ALARM since 2025-12-07T10:02:00Z: {REASON}"
        )),
        "{text}"
    );
    assert!(text.contains("rolled back by deployment d-RB"), "{text}");
    assert!(text.contains("--ignore-alarms"), "{text}");
    assert!(
        !text.contains("web-unhealthy"),
        "the alarm that did not fire is not blamed: {text}"
    );
    assert_eq!(calls, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_describe_alarms_is_a_note_and_the_alarms_are_still_named() {
    let (err, _) = deploy_stopped(describe_alarms_denied).await;
    assert_eq!(err.exit_code(), exit::DEPLOYMENT_FAILED);
    let text = err.to_string();
    assert!(
        text.contains("was stopped by CloudWatch alarms web-5xx, web-unhealthy"),
        "{text}"
    );
    assert!(text.contains("alarm web-5xx: state not read"), "{text}");
    assert!(
        text.contains("note: could not check the alarms' state")
            && text.contains("cloudwatch:DescribeAlarms"),
        "{text}"
    );
}
