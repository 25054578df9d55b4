//! Parses the command line, runs it, prints the result once and maps errors to exit codes.

use invisible_pipeline::{output, run};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = invisible_pipeline::cli::parse();
    output::configure(cli.output_settings());
    let format = cli.output();
    let command = cli.command_name();
    match run::run(cli.command).await {
        Ok(report) => {
            output::print_report(&report, format);
            ExitCode::SUCCESS
        }
        Err(error) => {
            output::print_error(command, &error, format);
            ExitCode::from(error.exit_code())
        }
    }
}
