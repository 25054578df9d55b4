//! One file per subcommand. A command never imports another: what two commands share lives
//! in [`crate::deployment`] or below.

pub mod deploy;
pub mod history;
pub mod promote;
pub mod restart;
pub mod rollback;
pub mod status;
