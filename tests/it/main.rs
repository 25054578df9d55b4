//! Integration tests: one binary, a module per theme (after ripgrep and uv).
// Tests report what they saw on stderr (shown on failure, or with --nocapture).
#![allow(clippy::print_stderr, clippy::print_stdout)]

mod aws_answers;
mod buildspec;
mod cli;
mod deploy_mocked;
mod emulator;
mod faultproxy;
mod faults;
mod fixtures;
mod history;
mod hostile;
mod merge;
mod promote;
mod rollback;
mod sample;
mod signals;
mod snapshots;
