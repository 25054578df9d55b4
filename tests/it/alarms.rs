//! A deployment stopped by a CloudWatch alarm, answered as the API references show it:
//! GetDeployment's `status: Stopped` with `errorInformation.code` `ALARM_ACTIVE` and
//! `rollbackInfo` (CodeDeploy API reference, DeploymentInfo, ErrorInformation, RollbackInfo),
//! GetDeploymentGroup's `alarmConfiguration` (AlarmConfiguration), and CloudWatch's
//! DescribeAlarms (`MetricAlarms`: `StateValue`, `StateReason`, `StateUpdatedTimestamp`),
//! whose SDK speaks the rpcv2Cbor protocol with query-compatible error codes
//! (`x-amzn-query-error: Code;Fault`). The run exits 5, names the alarm that fired with its
//! reason, and a DescribeAlarms it may not make is a note, never a second failure.

use crate::support::mocks::*;
use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::types::{AlarmType, MetricAlarm, StateValue};
use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
use aws_sdk_codedeploy::operation::get_deployment_group::GetDeploymentGroupOutput;
use aws_sdk_codedeploy::types::{
    Alarm, AlarmConfiguration, DeploymentGroupInfo, DeploymentStatus, ErrorCode, ErrorInformation,
    RollbackInfo,
};
use aws_smithy_mocks::{mock, Rule};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::DateTime;
use invisible_pipeline::base::error::{exit, Error};
use invisible_pipeline::base::shutdown::Shutdown;
use invisible_pipeline::commands::deploy;

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

/// DescribeAlarms of both names, metric and composite: web-5xx fires, web-unhealthy is OK.
fn alarm_states() -> Rule {
    mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(|r| {
            r.alarm_names() == ["web-5xx", "web-unhealthy"]
                && r.alarm_types().contains(&AlarmType::MetricAlarm)
                && r.alarm_types().contains(&AlarmType::CompositeAlarm)
        })
        .then_output(|| {
            DescribeAlarmsOutput::builder()
                .metric_alarms(
                    MetricAlarm::builder()
                        .alarm_name("web-5xx")
                        .state_value(StateValue::Alarm)
                        .state_reason(REASON)
                        .state_updated_timestamp(DateTime::from_secs(1_765_101_720))
                        .build(),
                )
                .metric_alarms(
                    MetricAlarm::builder()
                        .alarm_name("web-unhealthy")
                        .state_value(StateValue::Ok)
                        .state_reason("Threshold Crossed: no datapoints were received.")
                        .build(),
                )
                .build()
        })
}

/// A CBOR text string (major type 3) of fewer than 65536 bytes.
fn cbor_text(text: &str) -> Vec<u8> {
    let n = text.len();
    let mut out = match n {
        0..=23 => vec![0x60 | n as u8],
        24..=255 => vec![0x78, n as u8],
        _ => vec![0x79, (n >> 8) as u8, n as u8],
    };
    out.extend_from_slice(text.as_bytes());
    out
}

/// CloudWatch's access denial in the rpcv2Cbor protocol: HTTP 400, a CBOR map with `__type`
/// and `message`, and the query-compatible code in `x-amzn-query-error`.
fn describe_alarms_denied() -> Rule {
    mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_http_response(|| {
        let mut body = vec![0xA2];
        body.extend(cbor_text("__type"));
        body.extend(cbor_text("com.amazonaws.cloudwatch#AccessDeniedException"));
        body.extend(cbor_text("message"));
        body.extend(cbor_text("User: arn:aws:sts::123456789012:assumed-role/build/x is not authorized to perform: cloudwatch:DescribeAlarms because no identity-based policy allows the cloudwatch:DescribeAlarms action"));
        let mut response = HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::from(body));
        response.headers_mut().insert("smithy-protocol", "rpc-v2-cbor");
        response.headers_mut().insert("content-type", "application/cbor");
        response.headers_mut().insert("x-amzn-query-error", "AccessDenied;Sender");
        response
    })
}

async fn deploy_stopped(cloudwatch: &[&Rule]) -> Error {
    let (_tmp, mut cfg) = setup();
    cfg.poll_interval = std::time::Duration::from_millis(1);
    let (group, get) = (watched_group(), stopped_on_alarm());
    let (c, _usual) = usual_deploy_with_alarms(&[&group, &get], &[], cloudwatch);
    deploy::run(&c, &cfg, &Shutdown::manual().1)
        .await
        .expect_err("a deployment stopped on an alarm fails the run")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_stopped_by_an_alarm_names_it_with_its_reason_and_exits_5() {
    let states = alarm_states();
    let err = deploy_stopped(&[&states]).await;
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
    assert_eq!(states.num_calls(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_describe_alarms_is_a_note_and_the_alarms_are_still_named() {
    let denied = describe_alarms_denied();
    let err = deploy_stopped(&[&denied]).await;
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
