//! Parses the command line, runs it, prints the result once and maps errors to exit codes.

use invisible_pipeline::app::{cli, dispatch, report};
use invisible_pipeline::base::term;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
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
