//! The load balancer's share of every deployment's time: behind target groups, an in-place
//! deployment takes each instance out of the load balancer (BlockTraffic) and waits for the
//! target group's deregistration delay, 300 s unless changed (API reference,
//! TargetGroupAttribute `deregistration_delay.timeout_seconds`; user guide, "Integrating
//! CodeDeploy with Elastic Load Balancing"). `deploy` and `status` say so; a read they are not
//! allowed, or that fails, is a note, never a failure.

use crate::aws::{codedeploy as cdapi, elb, Clients};
use crate::base::shutdown::Shutdown;

/// Elastic Load Balancing's default deregistration delay.
pub(crate) const DEFAULT_DELAY_SECS: u64 = 300;

/// Something to say about the group's load balancer: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DrainNote {
    pub location: String,
    pub message: String,
}

/// The target groups whose deregistration delay is the default or longer.
pub(crate) fn slow(delays: &[(String, u64)]) -> Vec<DrainNote> {
    delays
        .iter()
        .filter(|(_, secs)| *secs >= DEFAULT_DELAY_SECS)
        .map(|(name, secs)| DrainNote {
            location: format!("target group {name}"),
            message: format!(
                "deregistration delay {secs} s{}: each instance waits it out at BlockTraffic in every deployment; set deregistration_delay.timeout_seconds to what a request needs to finish (30 s, say)",
                if *secs == DEFAULT_DELAY_SECS { " (the default)" } else { "" }
            ),
        })
        .collect()
}

/// The notes on the group's target groups: the slow ones, or why they could not be read.
pub(crate) async fn notes(
    clients: &Clients,
    application: &str,
    group: &str,
    shutdown: &Shutdown,
) -> Vec<DrainNote> {
    let read = async {
        let groups = cdapi::group_target_groups(&clients.codedeploy, application, group).await?;
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        elb::deregistration_delays(&clients.elb, &groups).await
    };
    match shutdown.guard(read).await {
        Ok(delays) => slow(&delays),
        Err(err) => vec![DrainNote {
            location: format!("deployment group {application}/{group}"),
            message: format!("cannot read its target groups' deregistration delay: {err}"),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_delay_and_longer_are_said() {
        let notes = slow(&[
            ("web".into(), 300),
            ("api".into(), 30),
            ("slow".into(), 900),
        ]);
        assert_eq!(notes.len(), 2);
        assert_eq!(notes[0].location, "target group web");
        assert!(notes[0]
            .message
            .starts_with("deregistration delay 300 s (the default)"));
        assert!(notes[1].message.starts_with("deregistration delay 900 s:"));
    }
}
