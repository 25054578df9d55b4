//! Following a deployment to its end, through transient failures and up to `--wait-timeout`.

use crate::aws::codedeploy as cdapi;
use crate::aws::Clients;
use crate::base::error::{Error, Result};
use crate::base::shutdown::Shutdown;
use crate::base::term::log;
use crate::deployment::config::DeployConfig;
use crate::deployment::group::persist;
use aws_sdk_codedeploy::types::{DeploymentInfo, DeploymentStatus};
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

/// Step: follow a deployment until it ends or `--wait-timeout` passes, through transient
/// failures; returns its final state.
pub(crate) async fn follow(
    clients: &Clients,
    cfg: &DeployConfig,
    id: &str,
    timeout: Duration,
    shutdown: &Shutdown,
) -> Result<DeploymentInfo> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut last = String::new();
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
            last = line;
        }
        if matches!(
            info.status(),
            Some(
                DeploymentStatus::Succeeded | DeploymentStatus::Failed | DeploymentStatus::Stopped
            )
        ) {
            return Ok(info);
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
