//! Parses the command line, runs it, prints the result once and maps errors to exit codes.

use invisible_pipeline::app::{cli, dispatch, report};
use invisible_pipeline::base::{memory, term};
use std::process::ExitCode;

fn main() -> ExitCode {
    // Before the runtime's threads exist.
    memory::tune_allocator();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts");
    runtime.block_on(run())
}

async fn run() -> ExitCode {
    let cli = cli::parse();
    term::configure(cli.output_settings());
    let format = cli.output();
    let command = cli.command_name();
    let (written, code) = match dispatch::run(cli).await {
        Ok(report) => (report::print_report(&report, format), 0),
        Err(error) => (
            report::print_error(command, &error, format),
            error.exit_code(),
        ),
    };
    ExitCode::from(report::exit_code_after(written, code))
}
