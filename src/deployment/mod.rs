//! The deployment engine that `deploy`, `rollback` and `promote` share: the description every
//! deployment made here carries, taking the group, placing the deployment exactly once,
//! following it, concluding it (the bundles a rollback needs are kept), and deploying again a
//! bundle already in S3.

pub(crate) mod alarms;
pub(crate) mod conclude;
pub(crate) mod config;
pub mod console;
pub(crate) mod description;
pub(crate) mod drain;
pub(crate) mod follow;
pub(crate) mod group;
pub(crate) mod phase;
pub(crate) mod place;
pub(crate) mod preflight;
pub mod record;
pub(crate) mod redeploy;
pub mod timeline;
pub mod window;

pub use config::{
    bundle_key, ArchiveSource, DeployConfig, IfBusy, IfOutsideWindow, Outcome, StepTime,
    UploadMode, WaitFor,
};
pub use description::{description, description_noting, CommitInfo};
pub(crate) use description::{field_of, run_key};
