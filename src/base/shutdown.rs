//! SIGINT and SIGTERM, as sent when a build or CI job is cancelled. One mechanism for every
//! command: async steps race against [`Shutdown::wait`] (and make no call after it fires but
//! their cleanup); synchronous work checks the [`Cancel`] token through its readers and
//! writers. A second signal ends the process at once.

use crate::base::cancel::Cancel;
use crate::base::error::{Error, Result};
use std::future::Future;
use tokio::sync::watch;

/// A handle that resolves once a termination signal has arrived.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<Option<&'static str>>,
    cancel: Cancel,
}

/// Fires a [`Shutdown`] by hand, as a signal would (tests, and the signal listener).
pub struct Trigger {
    tx: watch::Sender<Option<&'static str>>,
    cancel: Cancel,
}

impl Trigger {
    pub fn fire(&self, name: &'static str) {
        self.cancel.fire(name);
        let _ = self.tx.send(Some(name));
    }
}

/// The exit code for a signal: 128 + its number.
pub(crate) fn exit_code(name: &str) -> i32 {
    if name == "SIGINT" {
        130
    } else {
        143
    }
}

impl Shutdown {
    /// Starts listening for SIGINT and SIGTERM. The first fires the handle; the second ends
    /// the process at once, for a user who does not want to wait for the cleanup.
    pub(crate) fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        let (trigger, shutdown) = Self::manual();
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            let mut first = true;
            loop {
                let name = tokio::select! {
                    _ = int.recv() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                };
                if first {
                    crate::base::term::log(format!(
                        "{name}: cleaning up (send it again to exit at once)"
                    ));
                    trigger.fire(name);
                    first = false;
                } else {
                    crate::base::term::log(format!(
                        "{name} again: exiting now, without cleaning up"
                    ));
                    std::process::exit(exit_code(name));
                }
            }
        });
        Ok(shutdown)
    }

    /// A handle fired only by its [`Trigger`].
    pub fn manual() -> (Trigger, Self) {
        let (tx, rx) = watch::channel(None);
        let cancel = Cancel::new();
        (
            Trigger {
                tx,
                cancel: cancel.clone(),
            },
            Shutdown { rx, cancel },
        )
    }

    /// The token synchronous work checks.
    pub(crate) fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    /// The signal's name, once one has arrived.
    pub(crate) fn fired(&self) -> Option<&'static str> {
        *self.rx.borrow()
    }

    /// Resolves with the signal's name once one has arrived; never, otherwise.
    pub(crate) async fn wait(&self) -> &'static str {
        let mut rx = self.rx.clone();
        loop {
            if let Some(name) = *rx.borrow_and_update() {
                return name;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Runs `work` unless a signal has arrived or arrives first: every AWS call goes through
    /// here, so that none starts after a signal and none delays the exit.
    pub(crate) async fn guard<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        if let Some(name) = self.fired() {
            return Err(Error::Interrupted(name));
        }
        tokio::select! {
            // A signal that has arrived wins over work that could still finish.
            biased;
            name = self.wait() => Err(Error::Interrupted(name)),
            result = work => result,
        }
    }

    /// Sleeps, unless a signal arrives first.
    pub(crate) async fn sleep(&self, duration: std::time::Duration) -> Result<()> {
        self.guard(async {
            tokio::time::sleep(duration).await;
            Ok(())
        })
        .await
    }
}
