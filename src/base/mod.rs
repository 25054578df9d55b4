//! What every layer stands on: the error type and its exit codes, the problems a check
//! collects, cancellation and signals, a file read while it is written, and the terminal sink
//! for log lines and progress.

pub mod cancel;
pub(crate) mod diag;
pub mod error;
pub(crate) mod growing;
pub mod memory;
pub(crate) mod progress;
pub mod shutdown;
pub mod term;
