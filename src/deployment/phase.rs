//! Where a deployment stands, read from what CodeDeploy answers. In place, a deployment runs
//! until it ends. Blue/green, it also stops at two places that are neither success nor
//! failure: `Ready`, the replacement (green) fleet installed and waiting for a manual reroute
//! (the group's `actionOnTimeout: STOP_DEPLOYMENT`; ContinueDeployment `READY_WAIT` reroutes,
//! else it is Stopped after the wait), and, once traffic is on the green fleet, the wait before
//! the original (blue) fleet is terminated, while the deployment is still `InProgress`
//! (DeploymentInfo.instanceTerminationWaitTimeStarted: "'true' as soon as the termination wait
//! period starts"; API reference, DeploymentInfo and DeploymentReadyOption,
//! <https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_DeploymentInfo.html>).

use aws_sdk_codedeploy::types::{
    DeploymentInfo, DeploymentStatus, DeploymentType, InstanceTarget, TargetLabel, TargetStatus,
};
use serde::Serialize;

/// Where a deployment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not ended, traffic not moved (every in-place deployment until it ends).
    Running,
    /// Blue/green, `Ready`: the green fleet has the revision and waits for traffic to be
    /// rerouted by hand.
    AwaitingReroute,
    /// Blue/green: traffic is on the green fleet; the blue fleet waits to be terminated.
    TrafficMoved,
    /// Succeeded, Failed or Stopped.
    Ended,
}

/// True for a deployment of a blue/green group.
pub(crate) fn is_blue_green(info: &DeploymentInfo) -> bool {
    info.deployment_style()
        .and_then(|s| s.deployment_type())
        .is_some_and(|t| *t == DeploymentType::BlueGreen)
}

/// Where `info` stands.
pub(crate) fn phase(info: &DeploymentInfo) -> Phase {
    match info.status() {
        Some(
            DeploymentStatus::Succeeded | DeploymentStatus::Failed | DeploymentStatus::Stopped,
        ) => Phase::Ended,
        Some(DeploymentStatus::Ready) => Phase::AwaitingReroute,
        _ if is_blue_green(info) && info.instance_termination_wait_time_started() => {
            Phase::TrafficMoved
        }
        _ => Phase::Running,
    }
}

/// True when the replacement (green) fleet takes the traffic by its instances' events: every
/// green instance's `AllowTraffic` succeeded ("internet traffic is allowed to access
/// instances after a deployment": user guide, AppSpec hooks). A second signal beside
/// `instanceTerminationWaitTimeStarted`, which a KEEP_ALIVE group never sets, and which users
/// report late (aws/containers-roadmap#269).
pub(crate) fn green_serves(targets: &[InstanceTarget]) -> bool {
    let mut greens = targets
        .iter()
        .filter(|t| t.instance_label() == Some(&TargetLabel::Green))
        .peekable();
    greens.peek().is_some()
        && greens.all(|t| {
            t.lifecycle_events().iter().any(|e| {
                e.lifecycle_event_name() == Some("AllowTraffic")
                    && e.status()
                        == Some(&aws_sdk_codedeploy::types::LifecycleEventStatus::Succeeded)
            })
        })
}

/// The instances of one fleet, by their status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FleetProgress {
    pub pending: usize,
    pub in_progress: usize,
    pub ready: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl FleetProgress {
    fn total(&self) -> usize {
        self.pending + self.in_progress + self.ready + self.succeeded + self.failed + self.skipped
    }

    fn said(&self) -> String {
        let parts: Vec<String> = [
            (self.pending, "pending"),
            (self.in_progress, "in progress"),
            (self.ready, "ready"),
            (self.succeeded, "succeeded"),
            (self.failed, "failed"),
            (self.skipped, "skipped"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

/// A blue/green deployment's instances: the original (blue) and the replacement (green) fleet
/// (BatchGetDeploymentTargets, `instanceTarget.instanceLabel`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Fleets {
    pub blue: FleetProgress,
    pub green: FleetProgress,
}

/// Counts `targets` by fleet and status.
pub(crate) fn fleets(targets: &[InstanceTarget]) -> Fleets {
    let mut fleets = Fleets::default();
    for target in targets {
        let fleet = match target.instance_label() {
            Some(TargetLabel::Blue) => &mut fleets.blue,
            Some(TargetLabel::Green) => &mut fleets.green,
            _ => continue,
        };
        let count = match target.status() {
            Some(TargetStatus::Pending) => &mut fleet.pending,
            Some(TargetStatus::InProgress) => &mut fleet.in_progress,
            Some(TargetStatus::Ready) => &mut fleet.ready,
            Some(TargetStatus::Succeeded) => &mut fleet.succeeded,
            Some(TargetStatus::Failed) => &mut fleet.failed,
            Some(TargetStatus::Skipped) => &mut fleet.skipped,
            _ => &mut fleet.pending,
        };
        *count += 1;
    }
    fleets
}

impl Fleets {
    /// `green fleet (replacement): 2 succeeded, 1 in progress; blue fleet (original): 3 succeeded`.
    pub(crate) fn said(&self) -> String {
        format!(
            "green fleet (replacement, {}): {}; blue fleet (original, {}): {}",
            self.green.total(),
            self.green.said(),
            self.blue.total(),
            self.blue.said()
        )
    }
}

/// Which fleet of a blue/green group takes the traffic now, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Serving {
    /// `green` (the replacement fleet of `deployment_id`) or `blue` (its original fleet).
    pub fleet: &'static str,
    pub deployment_id: String,
    pub why: &'static str,
    /// The fleet's instances, as that deployment lists them.
    pub instances: Vec<String>,
}

/// The fleet that serves a blue/green group: a running deployment's original (blue) fleet
/// until traffic moved, then its replacement (green) fleet; with none running, the live
/// deployment's green fleet. `None` for an in-place group.
pub(crate) fn serving(
    live: Option<&DeploymentInfo>,
    running: &[DeploymentInfo],
) -> Option<Serving> {
    let of = |info: &DeploymentInfo, fleet, why| Serving {
        fleet,
        deployment_id: info.deployment_id().unwrap_or("?").to_string(),
        why,
        instances: Vec::new(),
    };
    if let Some(run) = running.iter().find(|r| is_blue_green(r)) {
        return Some(match phase(run) {
            Phase::TrafficMoved => of(
                run,
                "green",
                "traffic moved; the original fleet waits to be terminated",
            ),
            Phase::AwaitingReroute => of(
                run,
                "blue",
                "the replacement fleet is ready and waits for a manual reroute",
            ),
            _ => of(run, "blue", "the replacement fleet is being deployed"),
        });
    }
    live.filter(|l| is_blue_green(l))
        .map(|l| of(l, "green", "the replacement fleet of the live deployment"))
}

/// The instances of `fleet` (`blue` or `green`) among `targets`.
pub(crate) fn fleet_instances(targets: &[InstanceTarget], fleet: &str) -> Vec<String> {
    let label = if fleet == "green" {
        TargetLabel::Green
    } else {
        TargetLabel::Blue
    };
    targets
        .iter()
        .filter(|t| t.instance_label() == Some(&label))
        .filter_map(|t| t.target_id().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codedeploy::types::{DeploymentOption, DeploymentStyle};

    fn blue_green(status: DeploymentStatus, waiting: bool) -> DeploymentInfo {
        DeploymentInfo::builder()
            .status(status)
            .deployment_style(
                DeploymentStyle::builder()
                    .deployment_type(DeploymentType::BlueGreen)
                    .deployment_option(DeploymentOption::WithTrafficControl)
                    .build(),
            )
            .instance_termination_wait_time_started(waiting)
            .build()
    }

    #[test]
    fn ready_is_not_success_and_the_termination_wait_is_not_failure() {
        use DeploymentStatus::*;
        assert_eq!(phase(&blue_green(InProgress, false)), Phase::Running);
        assert_eq!(phase(&blue_green(Ready, false)), Phase::AwaitingReroute);
        assert_eq!(phase(&blue_green(InProgress, true)), Phase::TrafficMoved);
        assert_eq!(phase(&blue_green(Succeeded, true)), Phase::Ended);
        assert_eq!(phase(&blue_green(Stopped, false)), Phase::Ended);
        // In place: the flag means nothing.
        let in_place = DeploymentInfo::builder()
            .status(InProgress)
            .instance_termination_wait_time_started(true)
            .build();
        assert_eq!(phase(&in_place), Phase::Running);
    }

    #[test]
    fn the_serving_fleet_follows_the_reroute() {
        use DeploymentStatus::*;
        let with_id = |mut info: DeploymentInfo, id: &str| {
            info.deployment_id = Some(id.into());
            info
        };
        let live = with_id(blue_green(Succeeded, true), "d-live");
        let fleet = |running: &[DeploymentInfo]| {
            serving(Some(&live), running).map(|s| (s.fleet, s.deployment_id))
        };
        assert_eq!(fleet(&[]), Some(("green", "d-live".into())));
        let installing = with_id(blue_green(InProgress, false), "d-new");
        assert_eq!(fleet(&[installing]), Some(("blue", "d-new".into())));
        let ready = with_id(blue_green(Ready, false), "d-new");
        assert_eq!(fleet(&[ready]), Some(("blue", "d-new".into())));
        let moved = with_id(blue_green(InProgress, true), "d-new");
        assert_eq!(fleet(&[moved]), Some(("green", "d-new".into())));
        let in_place = DeploymentInfo::builder().status(Succeeded).build();
        assert_eq!(serving(Some(&in_place), &[]), None);
    }

    #[test]
    fn green_serves_once_every_green_instance_allowed_traffic() {
        use aws_sdk_codedeploy::types::{LifecycleEvent, LifecycleEventStatus};
        let green = |status| {
            InstanceTarget::builder()
                .instance_label(TargetLabel::Green)
                .lifecycle_events(
                    LifecycleEvent::builder()
                        .lifecycle_event_name("AllowTraffic")
                        .status(status)
                        .build(),
                )
                .build()
        };
        assert!(!green_serves(&[]));
        assert!(green_serves(&[green(LifecycleEventStatus::Succeeded)]));
        assert!(!green_serves(&[
            green(LifecycleEventStatus::Succeeded),
            green(LifecycleEventStatus::InProgress)
        ]));
    }

    #[test]
    fn instances_are_counted_by_fleet() {
        let target = |label, status| {
            InstanceTarget::builder()
                .instance_label(label)
                .status(status)
                .build()
        };
        let f = fleets(&[
            target(TargetLabel::Green, TargetStatus::Succeeded),
            target(TargetLabel::Green, TargetStatus::InProgress),
            target(TargetLabel::Blue, TargetStatus::Succeeded),
            target(TargetLabel::Blue, TargetStatus::Succeeded),
        ]);
        assert_eq!(f.green.succeeded, 1);
        assert_eq!(f.green.in_progress, 1);
        assert_eq!(f.blue.succeeded, 2);
        assert_eq!(
            f.said(),
            "green fleet (replacement, 2): 1 in progress, 1 succeeded; blue fleet (original, 2): 2 succeeded"
        );
    }
}
