//! The two CodeDeploy agents a bundle must land the same on: the Ruby agent 1.8 and the Rust
//! agent 2.x (`docs/AGENT-RULES.md`). A rule of one agent applies when that agent is in scope
//! (`--agent`); an input either agent in scope fails, or on which one lands something other
//! than it says, is an error.

use crate::base::diag::AgentRule;

/// The agents the fleet runs (`--agent 1|2|both`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Agents {
    /// The Ruby agent 1.8.
    V1,
    /// The Rust agent 2.x.
    V2,
    /// Both, side by side: the default.
    #[default]
    Both,
}

impl Agents {
    pub(crate) fn v1(self) -> bool {
        matches!(self, Agents::V1 | Agents::Both)
    }

    pub(crate) fn v2(self) -> bool {
        matches!(self, Agents::V2 | Agents::Both)
    }

    /// Whether a rule of `agent` applies.
    pub(crate) fn covers(self, agent: AgentRule) -> bool {
        match agent {
            AgentRule::V1 => self.v1(),
            AgentRule::V2 => self.v2(),
            AgentRule::Both => true,
        }
    }
}

/// What the checks hold a revision to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rules {
    pub agents: Agents,
    /// Also the 2.x agent's opt-in hardening keys (`reject_path_traversal_in_bundle`,
    /// `reject_symlinks_in_bundle`, `reject_unsafe_permissions_in_bundle`): a bundle they
    /// refuse is an error (`--strict-agent`).
    pub strict: bool,
}
