//! invisible-pipeline: turns an application archive and a `CodeDeploy_Files/` folder into one
//! CodeDeploy revision bundle that the real agent deploys, refusing before any AWS call what
//! the agent would fail on or silently get wrong.
//!
//! Pure modules ([`paths`], [`tarstream`], [`scan`], [`tree`], [`appspec`], [`scripts`],
//! [`bundle`]) work on files and streams only; [`revision`] puts them together; [`run`]
//! executes a command; [`output`] prints.

pub mod appspec;
pub mod aws;
pub mod bundle;
pub mod cancel;
pub mod cdfiles;
pub mod cli;
pub mod deploy;
pub mod diag;
pub mod error;
pub mod growing;
pub mod gzsplice;
pub mod history;
pub mod output;
pub mod paths;
pub mod progress;
pub mod promote;
pub mod revision;
pub mod rollback;
pub mod run;
pub mod s3url;
pub mod scan;
pub mod scripts;
pub mod shutdown;
pub mod tarstream;
pub mod tree;
pub mod yaml;

pub use error::{Error, Result};
