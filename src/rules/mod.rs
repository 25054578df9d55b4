//! The CodeDeploy agents' rules: the AppSpec file as each agent's YAML loader reads it, and
//! what either agent fails on or silently gets wrong in it and in the hook scripts.

pub(crate) mod agents;
pub(crate) mod appspec;
pub(crate) mod hardening;
pub(crate) mod scripts;
pub(crate) mod yaml;

pub use agents::{Agents, Rules};
