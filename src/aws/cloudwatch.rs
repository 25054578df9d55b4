//! CloudWatch: the state of the alarms a deployment was stopped by (DescribeAlarms).

use super::sdk_error;
use crate::base::error::{AlarmSeen, Result};
use aws_sdk_cloudwatch::types::AlarmType;
use aws_smithy_types::date_time::Format;

/// The state, reason and time of each alarm of `names` that exists (metric and composite:
/// without `AlarmTypes`, DescribeAlarms returns metric alarms only, API reference,
/// DescribeAlarms). CodeDeploy takes at most 10 alarms per group, DescribeAlarms 100 names
/// per call: one call.
pub(crate) async fn alarm_states(
    cw: &aws_sdk_cloudwatch::Client,
    names: &[String],
) -> Result<Vec<AlarmSeen>> {
    let out = cw
        .describe_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .alarm_types(AlarmType::MetricAlarm)
        .alarm_types(AlarmType::CompositeAlarm)
        .send()
        .await
        .map_err(|err| {
            sdk_error(
                "CloudWatch",
                "DescribeAlarms",
                "cannot read the state of the deployment group's alarms",
                err,
            )
        })?;
    let seen = |name: Option<&str>,
                state: Option<&aws_sdk_cloudwatch::types::StateValue>,
                reason: Option<&str>,
                since: Option<&aws_smithy_types::DateTime>| {
        Some(AlarmSeen {
            name: name?.to_string(),
            state: state.map(|s| s.as_str().to_string()),
            reason: reason.map(str::to_string),
            since: since.and_then(|t| t.fmt(Format::DateTime).ok()),
        })
    };
    let metric = out.metric_alarms().iter().filter_map(|a| {
        seen(
            a.alarm_name(),
            a.state_value(),
            a.state_reason(),
            a.state_updated_timestamp(),
        )
    });
    let composite = out.composite_alarms().iter().filter_map(|a| {
        seen(
            a.alarm_name(),
            a.state_value(),
            a.state_reason(),
            a.state_updated_timestamp(),
        )
    });
    Ok(metric.chain(composite).collect())
}
