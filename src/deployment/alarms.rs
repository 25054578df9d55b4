//! A deployment stopped by CloudWatch alarms (errorInformation code `ALARM_ACTIVE`, API
//! reference, ErrorInformation): which alarms, in which state and why. CodeDeploy's message
//! does not reliably name the alarm, so the names come from the deployment's alarm
//! configuration (its override, else the group's), and their state from DescribeAlarms.
//! What cannot be read is a note, never a second failure.

use crate::aws::cloudwatch::alarm_states;
use crate::aws::codedeploy::{alarm_names, group_alarms};
use crate::aws::Clients;
use crate::base::error::AlarmSeen;
use crate::deployment::config::DeployConfig;
use aws_sdk_codedeploy::types::{DeploymentInfo, ErrorCode};

/// True when CodeDeploy stopped the deployment because an alarm fired.
pub(crate) fn stopped_on_alarm(info: &DeploymentInfo) -> bool {
    info.error_information().and_then(|e| e.code()) == Some(&ErrorCode::AlarmActive)
}

/// The alarms that stopped `info`, and notes on what could not be read.
pub(crate) async fn alarms_that_stopped(
    clients: &Clients,
    cfg: &DeployConfig,
    info: &DeploymentInfo,
) -> (Vec<AlarmSeen>, Vec<String>) {
    let mut notes = Vec::new();
    let names = match info.override_alarm_configuration().filter(|c| c.enabled()) {
        Some(config) => alarm_names(config),
        None => match group_alarms(&clients.codedeploy, &cfg.application, &cfg.group).await {
            Ok(names) => names,
            Err(err) => {
                notes.push(format!(
                    "could not read the group's alarm configuration: {err}"
                ));
                Vec::new()
            }
        },
    };
    if names.is_empty() {
        return (Vec::new(), notes);
    }
    let message = info
        .error_information()
        .and_then(|e| e.message())
        .unwrap_or_default();
    match alarm_states(&clients.query, &names).await {
        Ok(states) => {
            for name in &names {
                if !states.iter().any(|s| &s.name == name) {
                    notes.push(format!(
                        "alarm {name} of the group does not exist in CloudWatch in {}: CodeDeploy stops a deployment whose alarms it cannot read (ignorePollAlarmFailure false)",
                        clients.deploy_region
                    ));
                }
            }
            (firing(states, message), notes)
        }
        Err(err) => {
            notes.push(format!("could not check the alarms' state: {err}"));
            let unread = names
                .into_iter()
                .map(|name| AlarmSeen {
                    name,
                    state: None,
                    reason: None,
                    since: None,
                })
                .collect();
            (firing(unread, message), notes)
        }
    }
}

/// The alarms to name: those in ALARM or named by CodeDeploy's message; when none is (the
/// alarm has since recovered), all of them, with the state they are in now.
fn firing(alarms: Vec<AlarmSeen>, message: &str) -> Vec<AlarmSeen> {
    let fired: Vec<AlarmSeen> = alarms
        .iter()
        .filter(|a| a.state.as_deref() == Some("ALARM") || mentions(message, &a.name))
        .cloned()
        .collect();
    if fired.is_empty() {
        alarms
    } else {
        fired
    }
}

/// Whether `message` names `alarm` as a whole word (not inside a longer name).
fn mentions(message: &str, alarm: &str) -> bool {
    let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || "-_/".contains(c)));
    message.match_indices(alarm).any(|(at, _)| {
        boundary(message[..at].chars().next_back())
            && boundary(message[at + alarm.len()..].chars().next())
    })
}

/// The status words of the error: "was stopped by CloudWatch alarm web-5xx".
pub(crate) fn stopped_by(alarms: &[AlarmSeen]) -> String {
    match alarms {
        [] => "was stopped by a CloudWatch alarm of its group".to_string(),
        [one] => format!("was stopped by CloudWatch alarm {}", one.name),
        many => format!(
            "was stopped by CloudWatch alarms {}",
            many.iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// One line per alarm: `alarm web-5xx: ALARM since …: <reason>`.
pub(crate) fn alarm_lines(alarms: &[AlarmSeen]) -> Vec<String> {
    alarms
        .iter()
        .map(|a| {
            let state = match (&a.state, &a.since) {
                (Some(state), Some(since)) => format!("{state} since {since}"),
                (Some(state), None) => state.clone(),
                (None, _) => "state not read".to_string(),
            };
            match &a.reason {
                Some(reason) => format!("alarm {}: {state}: {reason}", a.name),
                None => format!("alarm {}: {state}", a.name),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(name: &str, state: &str) -> AlarmSeen {
        AlarmSeen {
            name: name.into(),
            state: Some(state.into()),
            reason: None,
            since: None,
        }
    }

    #[test]
    fn the_firing_alarms_are_named_else_all_with_their_state_now() {
        let both = vec![alarm("web-5xx", "ALARM"), alarm("web-unhealthy", "OK")];
        assert_eq!(firing(both.clone(), ""), vec![alarm("web-5xx", "ALARM")]);
        let recovered = vec![alarm("web-5xx", "OK"), alarm("web-unhealthy", "OK")];
        assert_eq!(firing(recovered.clone(), ""), recovered);
        // Named by CodeDeploy's message, though it recovered since.
        assert_eq!(
            firing(recovered, "Activated alarms: web-unhealthy."),
            vec![alarm("web-unhealthy", "OK")]
        );
    }

    #[test]
    fn a_name_inside_a_longer_name_is_not_a_mention() {
        assert!(mentions("alarms: web-5xx, db", "web-5xx"));
        assert!(!mentions("alarms: web-5xx-canary", "web-5xx"));
        assert!(!mentions("alarms: my-web-5xx", "web-5xx"));
    }

    #[test]
    fn the_status_names_the_alarms() {
        assert_eq!(
            stopped_by(&[alarm("a", "ALARM")]),
            "was stopped by CloudWatch alarm a"
        );
        assert_eq!(
            stopped_by(&[alarm("a", "ALARM"), alarm("b", "ALARM")]),
            "was stopped by CloudWatch alarms a, b"
        );
        let mut a = alarm("web-5xx", "ALARM");
        a.since = Some("2026-12-07T10:00:00Z".into());
        a.reason = Some("Threshold Crossed".into());
        assert_eq!(
            alarm_lines(&[a]),
            ["alarm web-5xx: ALARM since 2026-12-07T10:00:00Z: Threshold Crossed"]
        );
    }
}
