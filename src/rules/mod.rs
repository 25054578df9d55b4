//! The CodeDeploy agent's rules: the AppSpec file as the agent's YAML loader reads it, and
//! what the agent fails on or silently gets wrong in it and in the hook scripts.

pub(crate) mod appspec;
pub(crate) mod scripts;
pub(crate) mod yaml;
