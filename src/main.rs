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
    match dispatch::run(cli).await {
        Ok(report) => {
            report::print_report(&report, format);
            ExitCode::SUCCESS
        }
        Err(error) => {
            report::print_error(command, &error, format);
            ExitCode::from(error.exit_code())
        }
    }
}
