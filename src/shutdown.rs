//! SIGINT and SIGTERM, as sent when a build or CI job is cancelled: long steps race against
//! them so that they can clean up (abort a multipart upload) before the process exits.

use tokio::sync::watch;

/// A handle that resolves once a termination signal has arrived.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<Option<&'static str>>,
}

impl Shutdown {
    /// Starts listening for SIGINT and SIGTERM.
    pub fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        let (tx, rx) = watch::channel(None);
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            let _ = tx.send(Some(name));
        });
        Ok(Shutdown { rx })
    }

    /// A handle that never fires, and one to fire by hand (for tests).
    pub fn manual() -> (watch::Sender<Option<&'static str>>, Self) {
        let (tx, rx) = watch::channel(None);
        (tx, Shutdown { rx })
    }

    /// Resolves with the signal's name once one has arrived; never, otherwise.
    pub async fn wait(&self) -> &'static str {
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
}
