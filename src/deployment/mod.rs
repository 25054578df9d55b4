//! The deployment engine that `deploy`, `rollback` and `promote` share: the description every
//! deployment made here carries, taking the group, placing the deployment exactly once,
//! following it, concluding it (the bundles a rollback needs are kept), and deploying again a
//! bundle already in S3.

pub mod conclude;
pub mod config;
pub mod description;
pub mod follow;
pub mod group;
pub mod place;
pub mod record;
pub mod redeploy;

pub use config::{bundle_key, ArchiveSource, DeployConfig, IfBusy, Outcome, StepTime, UploadMode};
pub use description::{
    description, description_noting, field_of, run_key, trigger_of, RunKey, DESCRIPTION_MAX,
};
