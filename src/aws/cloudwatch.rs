//! CloudWatch: the state of the alarms a deployment was stopped by (DescribeAlarms, through
//! [`QueryClient`]: see there why not the SDK crate).

use super::query::{QueryClient, Service};
use crate::base::error::{AlarmSeen, Result};

/// The state, reason and time of each alarm of `names` that exists, metric and composite:
/// without `AlarmTypes`, DescribeAlarms returns metric alarms only (CloudWatch API reference,
/// DescribeAlarms). CodeDeploy takes at most 10 alarms per group, DescribeAlarms 100 names per
/// call: one call.
pub(crate) async fn alarm_states(q: &QueryClient, names: &[String]) -> Result<Vec<AlarmSeen>> {
    let mut params: Vec<(String, String)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("AlarmNames.member.{}", i + 1), n.clone()))
        .collect();
    params.push(("AlarmTypes.member.1".into(), "MetricAlarm".into()));
    params.push(("AlarmTypes.member.2".into(), "CompositeAlarm".into()));
    let params: Vec<(&str, String)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let answer = q
        .call(Service::CloudWatch, "DescribeAlarms", &params)
        .await?;
    // Each alarm is a `member` of MetricAlarms or CompositeAlarms; its fields follow its name.
    let mut seen: Vec<AlarmSeen> = Vec::new();
    for (path, value) in &answer.leaves {
        let Some(field) = ["MetricAlarms/member/", "CompositeAlarms/member/"]
            .iter()
            .find_map(|list| path.split_once(list).map(|(_, field)| field))
        else {
            continue;
        };
        match field {
            "AlarmName" => seen.push(AlarmSeen {
                name: value.clone(),
                state: None,
                reason: None,
                since: None,
            }),
            "StateValue" => {
                if let Some(a) = seen.last_mut() {
                    a.state = Some(value.clone());
                }
            }
            "StateReason" => {
                if let Some(a) = seen.last_mut() {
                    a.reason = Some(value.clone());
                }
            }
            "StateUpdatedTimestamp" => {
                if let Some(a) = seen.last_mut() {
                    a.since = Some(normalized_time(value));
                }
            }
            _ => {}
        }
    }
    Ok(seen)
}

/// CloudWatch's timestamps (`2026-12-07T10:02:00.123Z`) as the tool writes times
/// (`2026-12-07T10:02:00.123Z` stays; an offset is kept as given).
fn normalized_time(text: &str) -> String {
    use aws_smithy_types::date_time::{DateTime, Format};
    DateTime::from_str(text, Format::DateTime)
        .ok()
        .and_then(|t| t.fmt(Format::DateTime).ok())
        .unwrap_or_else(|| text.to_string())
}
