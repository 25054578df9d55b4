//! Integration tests: one binary, a module per theme (after ripgrep and uv).

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
