//! The library's error type and the exit codes it maps to.

use crate::base::diag::Diagnostics;
use std::io;
use std::path::{Path, PathBuf};

/// Process exit codes, documented in the README and in `--help`.
pub mod exit {
    // 0: success, also a run superseded by a newer one.
    /// Command-line usage error: a missing or malformed option.
    pub const USAGE: u8 = 2;
    /// Invalid input: the application archive or the CodeDeploy files.
    pub const INVALID_INPUT: u8 = 3;
    /// An AWS call or a local I/O operation failed.
    pub const IO: u8 = 4;
    /// The deployment failed or was stopped.
    pub const DEPLOYMENT_FAILED: u8 = 5;
    /// The deployment group is busy with another deployment (`--if-busy fail`).
    pub const GROUP_BUSY: u8 = 6;
    /// Gave up waiting: for the deployment (still running), or for a busy group.
    pub const WAIT_TIMEOUT: u8 = 7;
    /// Refused: nothing to roll back to, or the bundle to deploy again is gone or changed.
    pub const REFUSED: u8 = 8;
    /// Outside the deployment window, or in a freeze (`--if-outside-window fail`).
    pub const OUTSIDE_WINDOW: u8 = 9;
    /// Interrupted by SIGINT (128 + 2), after cleaning up.
    pub const INTERRUPTED_INT: u8 = 130;
    /// Interrupted by SIGTERM (128 + 15), after cleaning up.
    pub const INTERRUPTED_TERM: u8 = 143;
    /// Stdout was closed before the summary was written (`| head`): 128 + SIGPIPE, the status
    /// a shell gives a writer that a closed pipe ended.
    pub const BROKEN_PIPE: u8 = 141;
}

/// A CloudWatch alarm of a deployment stopped by alarms: its name, and its state and reason
/// when DescribeAlarms could be read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AlarmSeen {
    pub name: String,
    pub state: Option<String>,
    pub reason: Option<String>,
    /// When it entered that state (ISO 8601).
    pub since: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line, or the environment standing in for it, is wrong.
    #[error("{0}")]
    Usage(String),

    /// The inputs were checked and at least one problem is an error.
    #[error("{} problem(s) in the input", .0.errors().count())]
    Invalid(Diagnostics),

    /// An AWS call failed; the message names the resource and what to check, the SDK's
    /// error stays the source (shown with `RUST_LOG` set).
    #[error("{action}: {message}")]
    Aws {
        /// The API operation, e.g. `CreateDeployment`.
        operation: &'static str,
        action: String,
        message: String,
        /// Throttling, a 5xx, a timeout or a broken connection: worth another try later.
        transient: bool,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// Another deployment is active in the group and `--if-busy fail` was asked for.
    #[error("deployment group {group} is busy with deployment {deployment_id} (--if-busy fail); nothing was deployed")]
    Busy {
        group: String,
        deployment_id: String,
    },

    /// `--if-busy wait` waited for the group as long as `--wait-timeout` allows.
    #[error("gave up waiting after {waited_secs} s: deployment group {group} is still busy with deployment {deployment_id} (--if-busy wait); nothing was deployed")]
    BusyTimeout {
        group: String,
        deployment_id: String,
        waited_secs: u64,
    },

    /// The deployment ended Failed or Stopped (by CloudWatch alarms, when `alarms` is not
    /// empty).
    #[error("deployment {deployment_id} {status}{}", details.iter().map(|d| format!("\n  {d}")).collect::<String>())]
    DeploymentFailed {
        deployment_id: String,
        status: String,
        details: Vec<String>,
        alarms: Vec<AlarmSeen>,
    },

    /// The deployment did not end within `--wait-timeout`.
    #[error("gave up waiting after {waited_secs} s; deployment {deployment_id} is still running")]
    WaitTimeout {
        deployment_id: String,
        waited_secs: u64,
    },

    /// A deploy outside its deployment window or in a freeze: `--if-outside-window fail` (exit
    /// 9), or a wait for the window longer than `--wait-timeout` allows (exit 7).
    #[error("{why}{}; nothing was deployed", match opens { Some(o) => format!(" (it opens at {o})"), None => " (it opens no time in the next 15 days)".to_string() })]
    OutsideWindow {
        why: String,
        opens: Option<String>,
        gave_up: bool,
    },

    /// A rollback (or promotion) that cannot be done as asked: nothing to go back to, or its
    /// bundle is gone or changed.
    #[error("{0}")]
    Refused(String),

    /// SIGINT or SIGTERM arrived; everything half-made was cleaned up.
    #[error("interrupted by {0}; nothing half-made was left behind")]
    Interrupted(&'static str),

    /// A local file could not be read or written.
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// A failed read or write of `path`; one that a signal cut off is [`Error::Interrupted`].
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        if let Some(signal) = crate::base::cancel::cancelled_in(&source) {
            return Error::Interrupted(signal);
        }
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// An AWS failure without an SDK error beneath it.
    pub(crate) fn aws(
        operation: &'static str,
        action: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Aws {
            operation,
            action: action.into(),
            message: message.into(),
            transient: false,
            source: None,
        }
    }

    /// True for a failed AWS call that may succeed when tried again later.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Aws {
                transient: true,
                ..
            }
        )
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Invalid(_) => exit::INVALID_INPUT,
            Error::Io { .. } | Error::Aws { .. } => exit::IO,
            Error::Busy { .. } => exit::GROUP_BUSY,
            Error::DeploymentFailed { .. } => exit::DEPLOYMENT_FAILED,
            Error::WaitTimeout { .. } | Error::BusyTimeout { .. } => exit::WAIT_TIMEOUT,
            Error::Refused(_) => exit::REFUSED,
            Error::OutsideWindow { gave_up: true, .. } => exit::WAIT_TIMEOUT,
            Error::OutsideWindow { gave_up: false, .. } => exit::OUTSIDE_WINDOW,
            Error::Interrupted("SIGINT") => exit::INTERRUPTED_INT,
            Error::Interrupted(_) => exit::INTERRUPTED_TERM,
        }
    }
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
