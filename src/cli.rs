//! The command line, as the user types it. Every option can also come from an environment
//! variable (shown in `--help`), which is how CodeBuild passes its configuration.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (also: a run superseded by a newer one)
  2  usage error: a missing or malformed option
  3  invalid input: the application archive or the CodeDeploy files (every problem is listed)
  4  an AWS call or local I/O failed
  5  the deployment failed or was stopped
  6  the deployment group is busy (--if-busy fail)
  7  gave up waiting; the deployment is still running (its id is printed)";

#[derive(Debug, Parser)]
#[command(
    name = "invisible-pipeline",
    version,
    about = "Merge an application archive with CodeDeploy files into one validated revision bundle and deploy it to EC2",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the revision bundle and deploy it (with --no-deploy: build it locally, no AWS)
    #[command(after_help = EXIT_CODES)]
    Deploy(DeployArgs),
    /// Check a CodeDeploy folder (and, given an archive, the merged bundle); writes nothing
    #[command(after_help = EXIT_CODES)]
    Validate(ValidateArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Folder with appspec.yml and the lifecycle hook scripts
    #[arg(
        long,
        env = "CODEDEPLOY_FILES_DIR",
        default_value = "CodeDeploy_Files",
        value_name = "DIR"
    )]
    pub codedeploy_dir: PathBuf,

    /// Summary format on stdout
    #[arg(long, env = "INVISIBLE_PIPELINE_OUTPUT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Local dry run: build and check the bundle and write it to --bundle-out; no AWS call
    #[arg(long, env = "NO_DEPLOY", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub no_deploy: bool,

    /// Application archive (.tar or gzip-compressed tar, recognised by its bytes)
    #[arg(long, env = "APP_ARCHIVE", value_name = "PATH")]
    pub app_archive: Option<PathBuf>,

    /// Where --no-deploy writes the bundle (.tar or .tgz, the container of the app archive)
    #[arg(long, env = "BUNDLE_OUT", value_name = "FILE")]
    pub bundle_out: Option<PathBuf>,

    /// Modification time (Unix seconds) of the CodeDeploy entries in the bundle
    #[arg(
        long,
        env = "SOURCE_DATE_EPOCH",
        default_value_t = 0,
        value_name = "SECONDS"
    )]
    pub source_date_epoch: u64,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Also check this application archive and the bundle it makes with the folder
    #[arg(long, env = "APP_ARCHIVE", value_name = "PATH")]
    pub app_archive: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

impl Cli {
    pub fn output(&self) -> OutputFormat {
        match &self.command {
            Command::Deploy(a) => a.common.output,
            Command::Validate(a) => a.common.output,
        }
    }
}
