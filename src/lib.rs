//! invisible-pipeline: turns an application archive and a `CodeDeploy_Files/` folder into one
//! CodeDeploy revision bundle that the real agent deploys, refusing before any AWS call what
//! the agent would fail on or silently get wrong, then deploys it and follows the deployment.
//!
//! Layers, lowest first: `base` → `bundle` → `rules` → `revision` → `aws` → `deployment` → `commands` → `app`.
//! Each folder is a layer, and a module imports only from its own layer or from one below
//! (`scripts/check-layers` holds every import to it in CI, and refuses a circle). [`base`]
//! is the errors, problems, cancellation and the terminal sink; [`bundle`] the archive
//! streams, paths and the bundle writer; [`rules`] the CodeDeploy agent's rules; [`revision`]
//! the pure entry point (check, then write); [`aws`] thin calls over the SDK clients;
//! [`deployment`] the engine that deploy, rollback and promote share; [`commands`] one file
//! per subcommand, none importing another; [`app`] the command line, the configuration it
//! resolves, and the report a user reads.

// The docs are for maintainers (`cargo doc --document-private-items`): public items may link to
// the crate-visible ones they rest on.
#![allow(rustdoc::private_intra_doc_links)]

pub mod app;
pub mod aws;
pub mod base;
pub mod bundle;
pub mod commands;
pub mod deployment;
pub mod revision;
pub(crate) mod rules;
