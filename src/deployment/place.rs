//! Placing the deployment: CreateDeployment exactly once, even when its answer is lost.

use crate::aws::codedeploy::{self as cdapi, Created, NewDeployment};
use crate::aws::Clients;
use crate::base::error::Error;
use crate::base::shutdown::Shutdown;
use crate::base::term::log;
use crate::deployment::config::{DeployConfig, IfBusy, IfOutsideWindow};
use crate::deployment::group::{newer_run, take_group, Group};
use crate::deployment::window::Verdict;
use aws_smithy_types::DateTime;
use std::time::{Duration, Instant};

/// What became of an uploaded bundle.
pub(crate) enum Placed {
    Created(String),
    /// CreateDeployment's answer was lost, but the deployment exists: it is this run's.
    Adopted(String),
    /// A newer trigger's deployment: the id.
    Superseded(String),
}

/// How often CreateDeployment is sent again after an answer that said nothing was created.
const CREATE_ATTEMPTS: usize = 5;

/// Why no deployment was placed, and whether one of this bundle may exist all the same (a
/// look after an unanswered CreateDeployment failed): then its bundle must stay.
pub(crate) struct NotPlaced {
    pub(crate) error: Error,
    pub(crate) maybe_created: bool,
}

/// Step: create the deployment, exactly once. CreateDeployment is sent without the SDK's
/// retries and without racing a signal (one bounded call: its answer must be known); after
/// any failure the group is searched for a deployment of exactly this bundle and description
/// (a lost answer) before anything else is decided. When another deployment takes the group
/// between the look and the call, waits again by `--if-busy`, never for this run's own.
pub(crate) async fn place(
    clients: &Clients,
    cfg: &DeployConfig,
    new: &NewDeployment,
    shutdown: &Shutdown,
) -> Result<Placed, NotPlaced> {
    // Just before the first call, less a margin for the clock of the machine.
    let since = DateTime::from(std::time::SystemTime::now() - Duration::from_secs(300));
    // A newer run may have deployed while this one uploaded.
    let deadline = Instant::now() + cfg.budget();
    let newer = newer_run(clients, cfg, deadline, shutdown)
        .await
        .map_err(|e| fail(e, false))?;
    if let Some(newer) = newer {
        return Ok(Placed::Superseded(newer));
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        if let Some(signal) = shutdown.fired() {
            return Err(fail(Error::Interrupted(signal), false));
        }
        // The window is judged at the moment of CreateDeployment (a wait for the group may
        // have run past its end). Never a hold for a rollback, restart or promotion.
        if !new.restart {
            hold_for_window(cfg, deadline, shutdown)
                .await
                .map_err(|e| fail(e, false))?;
        }
        let err = match cdapi::create(&clients.codedeploy, new).await {
            Ok(Created::Id(id)) => return Ok(Placed::Created(id)),
            Ok(Created::GroupBusy) => {
                match when_busy(clients, cfg, new, since, deadline, shutdown).await? {
                    Some(placed) => return Ok(placed),
                    None => continue,
                }
            }
            Err(err) => err,
        };
        let pause = cfg
            .poll_interval
            .clamp(Duration::from_millis(1), Duration::from_secs(2));
        match created_after_all(clients, new, since, &err, pause).await {
            Ok(Some(id)) => return Ok(Placed::Adopted(id)),
            Ok(None) => {}
            Err(()) => return Err(fail(err, true)),
        }
        if err.is_transient() && attempt < CREATE_ATTEMPTS {
            log(format!(
                "CreateDeployment failed ({err}) and no deployment of it shows; sending it again"
            ));
            if let Err(e) = shutdown.sleep(pause * 2).await {
                return Err(fail(e, false));
            }
            continue;
        }
        // Every look came back without it: taken as not created.
        return Err(fail(err, false));
    }
}

/// Waits until the deployment window is open (`--deploy-window`, `--freeze`), by
/// `--if-outside-window`: fails at once (exit 9), or waits, saying until when, and gives up
/// (exit 7) when the window opens after `deadline`.
pub(crate) async fn hold_for_window(
    cfg: &DeployConfig,
    deadline: Instant,
    shutdown: &Shutdown,
) -> Result<(), Error> {
    let mut said = false;
    loop {
        let now = jiff::Timestamp::now();
        let Verdict::Closed { opens, why } = cfg.schedule.at(now) else {
            if said {
                log("the deployment window is open");
            }
            return Ok(());
        };
        let wait = opens.and_then(|o| std::time::Duration::try_from(o.duration_since(now)).ok());
        let within = wait.is_some_and(|w| Instant::now() + w <= deadline);
        if cfg.if_outside_window == IfOutsideWindow::Fail || !within {
            return Err(Error::OutsideWindow {
                why,
                opens: opens.map(|o| o.to_string()),
                gave_up: cfg.if_outside_window == IfOutsideWindow::Wait,
            });
        }
        if !said {
            log(format!(
                "{why}: waiting until it opens at {} (--if-outside-window wait)",
                opens.map(|o| o.to_string()).unwrap_or_default()
            ));
            said = true;
        }
        let step = wait
            .unwrap_or_default()
            .clamp(Duration::from_millis(10), Duration::from_secs(60));
        shutdown.sleep(step).await?;
    }
}

fn fail(error: Error, maybe_created: bool) -> NotPlaced {
    NotPlaced {
        error,
        maybe_created,
    }
}

/// CreateDeployment found the group busy: fail by `--if-busy fail`, adopt this run's own
/// deployment (an earlier attempt whose answer was lost), or wait for the group again by
/// `--if-busy`. `None`: send CreateDeployment again.
async fn when_busy(
    clients: &Clients,
    cfg: &DeployConfig,
    new: &NewDeployment,
    since: DateTime,
    deadline: Instant,
    shutdown: &Shutdown,
) -> Result<Option<Placed>, NotPlaced> {
    if cfg.if_busy == IfBusy::Fail {
        return Err(fail(
            Error::Busy {
                group: cfg.group_name(),
                deployment_id: "started by someone else just now".into(),
            },
            false,
        ));
    }
    // Maybe ours, from an earlier attempt whose answer was lost.
    match cdapi::find_created(&clients.codedeploy, new, since).await {
        Ok(Some(id)) => return Ok(Some(Placed::Adopted(id))),
        Ok(None) => {}
        Err(e) => return Err(fail(e, false)),
    }
    log("another deployment holds the group; looking at it");
    match take_group(clients, cfg, Some(new), shutdown).await {
        Ok(Group::Ours(id)) => Ok(Some(Placed::Adopted(id))),
        Ok(Group::Superseded(newer)) => Ok(Some(Placed::Superseded(newer))),
        Ok(Group::Free) if Instant::now() < deadline => {
            // Busy, yet no deployment shows: CodeDeploy's lists lag; look again.
            match shutdown.sleep(cfg.poll_interval).await {
                Ok(()) => Ok(None),
                Err(e) => Err(fail(e, false)),
            }
        }
        Ok(Group::Free) => Err(fail(
            Error::BusyTimeout {
                group: cfg.group_name(),
                deployment_id: "one that never showed in ListDeployments".into(),
                waited_secs: cfg.budget().as_secs(),
            },
            false,
        )),
        Err(e) => Err(fail(e, false)),
    }
}

/// After a failed CreateDeployment: whether it created the deployment all the same.
/// ListDeployments may lag behind a deployment just created: after an ambiguous failure,
/// look twice, `pause` apart. `Err`: cannot tell (said).
async fn created_after_all(
    clients: &Clients,
    new: &NewDeployment,
    since: DateTime,
    err: &Error,
    mut pause: Duration,
) -> Result<Option<String>, ()> {
    let looks = if err.is_transient() { 2 } else { 1 };
    for look in 1..=looks {
        match cdapi::find_created(&clients.codedeploy, new, since).await {
            Ok(Some(id)) => {
                log(format!(
                    "CreateDeployment failed ({err}), but deployment {id} of this bundle exists: following it"
                ));
                return Ok(Some(id));
            }
            Ok(None) if look < looks => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Ok(None) => {}
            Err(look_err) => {
                log(format!(
                    "cannot tell whether CreateDeployment created a deployment: {look_err}"
                ));
                return Err(());
            }
        }
    }
    Ok(None)
}
