//! Following a deployment to its end (or, blue/green with `--wait-for traffic`, until traffic
//! is on the replacement fleet), through transient failures and up to `--wait-timeout`.

use crate::aws::codedeploy as cdapi;
use crate::aws::Clients;
use crate::base::error::{Error, Result};
use crate::base::shutdown::Shutdown;
use crate::base::term::log;
use crate::deployment::config::{DeployConfig, WaitFor};
use crate::deployment::group::persist;
use crate::deployment::phase::{self, Phase};
use aws_sdk_codedeploy::types::DeploymentInfo;
use std::time::{Duration, Instant};

fn overview_line(info: &DeploymentInfo) -> String {
    let status = info.status().map(|s| s.as_str()).unwrap_or("?");
    match info.deployment_overview() {
        Some(o) => format!(
            "deployment {}: {status}; instances pending {}, in progress {}, succeeded {}, failed {}, skipped {}",
            info.deployment_id().unwrap_or("?"),
            o.pending,
            o.in_progress,
            o.succeeded,
            o.failed,
            o.skipped
        ),
        None => format!("deployment {}: {status}", info.deployment_id().unwrap_or("?")),
    }
}

/// What a blue/green deployment's new phase means, said once when it is reached.
fn phase_news(info: &DeploymentInfo, phase: Phase, wait_for: WaitFor) -> Option<String> {
    let id = info.deployment_id().unwrap_or("?");
    match phase {
        Phase::AwaitingReroute => Some(format!(
            "deployment {id} is Ready: the replacement (green) fleet has the revision and waits for traffic to be rerouted by hand (the group's traffic_reroute: stop); reroute with `aws deploy continue-deployment --deployment-id {id} --deployment-wait-type READY_WAIT`, else CodeDeploy stops it when the group's wait ends"
        )),
        Phase::TrafficMoved => {
            let wait = info
                .blue_green_deployment_configuration()
                .and_then(|c| c.terminate_blue_instances_on_deployment_success())
                .map(|t| t.termination_wait_time_in_minutes())
                .unwrap_or_default();
            Some(match wait_for {
                WaitFor::Traffic => format!("deployment {id}: traffic is on the replacement (green) fleet; the original (blue) fleet is terminated after {wait} minute(s)"),
                WaitFor::Succeeded => format!("deployment {id}: traffic is on the replacement (green) fleet; following on through the original (blue) fleet's {wait}-minute termination wait (--wait-for traffic ends here)"),
            })
        }
        Phase::Running | Phase::Ended => None,
    }
}

/// A followed deployment's last state, and where it stands.
pub(crate) struct Followed {
    pub info: DeploymentInfo,
    pub phase: Phase,
}

/// Step: follow a deployment until it ends, or (blue/green, `--wait-for traffic`) until traffic
/// is on the replacement fleet, or until `--wait-timeout` passes, through transient failures;
/// returns its last state. `Ready` (waiting for a manual reroute) is never an end.
pub(crate) async fn follow(
    clients: &Clients,
    cfg: &DeployConfig,
    id: &str,
    timeout: Duration,
    shutdown: &Shutdown,
) -> Result<Followed> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut last = String::new();
    let mut last_phase = Phase::Running;
    let mut green_serves = false;
    loop {
        let got = persist(
            &format!("reading deployment {id}"),
            deadline,
            cfg.poll_interval,
            shutdown,
            || cdapi::get(&clients.codedeploy, id),
        )
        .await;
        let info = match got {
            Ok(info) => info,
            Err(Error::Interrupted(signal)) => {
                log(format!(
                    "{signal}: no longer following deployment {id}; it goes on"
                ));
                return Err(Error::Interrupted(signal));
            }
            Err(err) if err.is_transient() => {
                log(format!("cannot read deployment {id}: {err}"));
                return Err(Error::WaitTimeout {
                    deployment_id: id.to_string(),
                    waited_secs: started.elapsed().as_secs(),
                });
            }
            Err(err) => return Err(err),
        };
        let line = overview_line(&info);
        if line != last {
            log(&line);
            if phase::is_blue_green(&info) {
                // Best effort: the fleets' progress, when CodeDeploy shows the instances.
                if let Ok(targets) = cdapi::instance_targets(&clients.codedeploy, id).await {
                    log(format!("  {}", phase::fleets(&targets).said()));
                    green_serves = phase::green_serves(&targets);
                }
            }
            last = line;
        }
        let now = match phase::phase(&info) {
            Phase::Running if green_serves => Phase::TrafficMoved,
            now => now,
        };
        if now != last_phase {
            if let Some(news) = phase_news(&info, now, cfg.wait_for) {
                log(news);
            }
            last_phase = now;
        }
        match (now, cfg.wait_for) {
            (Phase::Ended, _) | (Phase::TrafficMoved, WaitFor::Traffic) => {
                return Ok(Followed { info, phase: now })
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(Error::WaitTimeout {
                deployment_id: id.to_string(),
                waited_secs: started.elapsed().as_secs(),
            });
        }
        if let Err(Error::Interrupted(signal)) = shutdown.sleep(cfg.poll_interval).await {
            log(format!(
                "{signal}: no longer following deployment {id}; it goes on"
            ));
            return Err(Error::Interrupted(signal));
        }
    }
}
