//! What every layer stands on: the error type and its exit codes, the problems a check
//! collects, cancellation and signals, a file read while it is written, and the terminal sink
//! for log lines and progress.

pub mod cancel;
pub mod diag;
pub mod error;
pub mod growing;
pub mod progress;
pub mod shutdown;
pub mod term;
