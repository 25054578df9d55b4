//! Integration tests: one binary, a module per theme (after ripgrep and uv).
//!
//! Where each kind of test lives: the pure merge and the agent's rules through the library
//! (`merge`, `hostile`, `sample`); the command line through the real binary (`cli`,
//! `snapshots`, `signals`, `buildspec`); AWS's answers, failures included, scripted with
//! aws-smithy-mocks over the real SDK clients (`aws_answers`, `deploy_mocked`, `history`,
//! `rollback`, `promote`, `restart`, `timeline`); and end-to-end smoke tests of the binary against an emulator on
//! loopback (`emulator`, `faults`, the latter through the fault proxy). The smoke tests are
//! `#[ignore]`d in a bare `cargo test` because they need the emulator that `scripts/test`
//! starts (it runs them with `--include-ignored`, where a missing endpoint fails them). What
//! the themes share is in `support/`, which holds no tests.
// Tests report what they saw on stderr (shown on failure, or with --nocapture).
#![allow(clippy::print_stderr, clippy::print_stdout)]

mod support;

mod alarms;
mod aws_answers;
mod blue_green;
mod buildspec;
mod cli;
mod deploy_mocked;
mod emulator;
mod faults;
mod history;
mod hostile;
mod load_balancer;
mod merge;
mod preflight;
mod promote;
mod restart;
mod rollback;
mod sample;
mod signals;
mod snapshots;
mod timeline;
mod window;
