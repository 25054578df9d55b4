//! Taking the deployment group: CodeDeploy runs one deployment at a time per group, so a run
//! waits, stops the active one or fails (`--if-busy`), and gives way to a newer trigger's run.

use crate::aws::codedeploy::{self as cdapi, NewDeployment, ACTIVE};
use crate::aws::Clients;
use crate::base::error::{Error, Result};
use crate::base::shutdown::Shutdown;
use crate::base::term::log;
use crate::deployment::config::{DeployConfig, IfBusy};
use crate::deployment::description::run_key;
use aws_sdk_codedeploy::types::DeploymentInfo;
use std::time::{Duration, Instant};

/// Runs an AWS call again after a transient failure (throttling, 5xx, a lost connection),
/// backing off, until `deadline`: one bad answer must not end an hour of following while the
/// deployment goes on. Other failures and signals end it at once.
pub(crate) async fn persist<T, F, Fut>(
    what: &str,
    deadline: Instant,
    first_pause: Duration,
    shutdown: &Shutdown,
    mut call: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut pause = first_pause.max(Duration::from_millis(1));
    loop {
        match shutdown.guard(call()).await {
            Err(err) if err.is_transient() && Instant::now() < deadline => {
                log(format!(
                    "{what}: {err}; trying again in {:.1} s",
                    pause.as_secs_f64()
                ));
                shutdown.sleep(pause).await?;
                pause = (pause * 2).min(Duration::from_secs(60));
            }
            other => return other,
        }
    }
}

/// A newer run's deployment in the group, if any: one made here whose run key is greater.
pub(crate) async fn newer_deployment(
    clients: &Clients,
    cfg: &DeployConfig,
) -> Result<Option<DeploymentInfo>> {
    // A deployment for a later trigger was created after that trigger, so after ours.
    let ids = cdapi::list(
        &clients.codedeploy,
        &cfg.application,
        &cfg.group,
        &[],
        Some(cfg.trigger_time),
    )
    .await?;
    if ids.is_empty() {
        return Ok(None);
    }
    let ours = cfg.run_key();
    let infos = cdapi::details(&clients.codedeploy, &ids).await?;
    Ok(infos
        .into_iter()
        .filter_map(|info| {
            let key = info.description().and_then(run_key)?;
            (key > ours).then_some((key, info))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, info)| info))
}

/// What `take_group` found.
pub(crate) enum Group {
    /// No deployment holds it.
    Free,
    /// A newer run's deployment: this run is superseded.
    Superseded(String),
    /// The deployment that holds it is this run's own (a CreateDeployment whose answer was
    /// lost): never to be waited for, stopped, or created again.
    Ours(String),
}

/// The id of a newer run's deployment in the group, if any, looked for through transient
/// failures until `deadline`.
pub(crate) async fn newer_run(
    clients: &Clients,
    cfg: &DeployConfig,
    deadline: Instant,
    shutdown: &Shutdown,
) -> Result<Option<String>> {
    let newer = persist(
        "looking for newer runs",
        deadline,
        cfg.poll_interval,
        shutdown,
        || newer_deployment(clients, cfg),
    )
    .await?;
    Ok(newer.map(|info| info.deployment_id().unwrap_or("?").to_string()))
}

/// Step: wait until the group is free, by the `--if-busy` policy (CodeDeploy runs one
/// deployment at a time per group). Returns the id of a newer run's deployment when this run
/// is superseded.
pub(crate) async fn take_group(
    clients: &Clients,
    cfg: &DeployConfig,
    ours: Option<&NewDeployment>,
    shutdown: &Shutdown,
) -> Result<Group> {
    let started = Instant::now();
    let deadline = started + cfg.budget();
    let mut stopped: Vec<String> = Vec::new();
    loop {
        if let Some(newer) = newer_run(clients, cfg, deadline, shutdown).await? {
            return Ok(Group::Superseded(newer));
        }
        let active = persist(
            "looking at the group",
            deadline,
            cfg.poll_interval,
            shutdown,
            || {
                cdapi::list(
                    &clients.codedeploy,
                    &cfg.application,
                    &cfg.group,
                    &ACTIVE,
                    None,
                )
            },
        )
        .await?;
        let Some(first) = active.first() else {
            return Ok(Group::Free);
        };
        if let Some(new) = ours {
            let found = persist(
                "looking at the group",
                deadline,
                cfg.poll_interval,
                shutdown,
                || cdapi::find_among(&clients.codedeploy, new, &active),
            )
            .await?;
            if let Some(id) = found {
                return Ok(Group::Ours(id));
            }
        }
        let elapsed = started.elapsed().as_secs();
        give_way(clients, cfg, &active, &mut stopped, elapsed, shutdown).await?;
        if Instant::now() >= deadline {
            return Err(Error::BusyTimeout {
                group: cfg.group_name(),
                deployment_id: first.clone(),
                waited_secs: elapsed,
            });
        }
        shutdown.sleep(cfg.poll_interval).await?;
    }
}

/// What `--if-busy` does while `active` hold the group: fail (exit 6), stop them (each once),
/// or say that the run waits.
async fn give_way(
    clients: &Clients,
    cfg: &DeployConfig,
    active: &[String],
    stopped: &mut Vec<String>,
    elapsed: u64,
    shutdown: &Shutdown,
) -> Result<()> {
    let first = &active[0];
    match cfg.if_busy {
        IfBusy::Fail => {
            return Err(Error::Busy {
                group: cfg.group_name(),
                deployment_id: first.clone(),
            })
        }
        IfBusy::StopActive => {
            for id in active {
                if !stopped.contains(id) {
                    log(format!(
                        "stopping active deployment {id} (--if-busy stop-active)"
                    ));
                    shutdown.guard(cdapi::stop(&clients.codedeploy, id)).await?;
                    stopped.push(id.clone());
                }
            }
        }
        IfBusy::Wait => log(format!(
            "deployment group {} is busy with {first}; waiting for it to end ({elapsed} s so far)",
            cfg.group_name()
        )),
    }
    Ok(())
}
