//! The command line, as the user types it. Every option can also come from an environment
//! variable (shown in `--help`), which is how CodeBuild passes its configuration.

use crate::app::report::OutputFormat;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (also: a run superseded by a newer one)
  2  usage error: a missing or malformed option
  3  invalid input: the application archive or the CodeDeploy files (every problem is listed)
  4  an AWS call or local I/O failed
  5  the deployment failed or was stopped
  6  the deployment group is busy (--if-busy fail)
  7  gave up waiting: the deployment is still running (its id is printed), the group
     stayed busy for --wait-timeout (--if-busy wait), or the deployment window opens after it
  8  rollback, promote or restart refused: nothing to deploy again, or its bundle is gone or
     changed
  9  deploy outside its deployment window or in a freeze (--if-outside-window fail)
  130, 143  interrupted by SIGINT, SIGTERM (a multipart upload is aborted first)
  141  the reader of stdout went away (| head) after the run succeeded";

const DEPLOY_HELP: &str = "\
Examples:
  # Local dry run: the bundle the pipeline would deploy, no AWS
  invisible-pipeline deploy --no-deploy --app-archive release.tar.gz --bundle-out bundle.tgz
  # What CodeBuild runs (the stack sets these variables)
  APP_ARCHIVE_PARAMETER=/app/release ARTIFACT_BUCKET=my-bundles \\
    CODEDEPLOY_APPLICATION=app CODEDEPLOY_DEPLOYMENT_GROUP=web invisible-pipeline deploy

Exit codes:
  0  success (also: a run superseded by a newer one)
  2  usage error: a missing or malformed option
  3  invalid input: the application archive or the CodeDeploy files (every problem is listed)
  4  an AWS call or local I/O failed
  5  the deployment failed or was stopped
  6  the deployment group is busy (--if-busy fail)
  7  gave up waiting: the deployment is still running (its id is printed), the group
     stayed busy for --wait-timeout (--if-busy wait), or the deployment window opens after it
  8  refused (CodeDeploy cannot suspend the Auto Scaling processes the group names)
  9  outside the deployment window or in a freeze (--if-outside-window fail)
  130, 143  interrupted by SIGINT, SIGTERM (a multipart upload is aborted first)
  141  the reader of stdout went away (| head) after the run succeeded";

const VALIDATE_HELP: &str = "\
Examples:
  invisible-pipeline validate
  invisible-pipeline validate --codedeploy-dir CodeDeploy_Files --app-archive release.tar.gz

Exit codes:
  0  no error (warnings are printed)
  2  usage error: a missing or malformed option
  3  invalid input: every problem is listed
  4  a file could not be read
  130, 143  interrupted by SIGINT, SIGTERM
  141  the reader of stdout went away (| head) after the run succeeded";

const READ_HELP: &str = "\
Examples:
  invisible-pipeline history --application app --deployment-group web --limit 10
  invisible-pipeline status --application app --deployment-group web --output json

Exit codes:
  0  success
  2  usage error: a missing or malformed option
  4  an AWS call failed
  130, 143  interrupted by SIGINT, SIGTERM
  141  the reader of stdout went away (| head) after the run succeeded";

const RESTART_HELP: &str = "\
CodeDeploy picks the revision (the group's last successful deployment's) and each instance
runs it again from its own copy, without downloading it: a restart of the application, with
the lifecycle hooks of an in-place deployment. That needs CodeDeploy agent 2.1.0 or later on
every instance (its release notes: it reuses the archive of the last deployment, and downloads
the revision again only when that copy is missing). RESTART is for EC2/on-premises in-place
groups only. The run refuses a group with no successful deployment before creating anything.

Examples:
  invisible-pipeline restart --application app --deployment-group web
  invisible-pipeline restart --application app --deployment-group web --no-wait --output json

Exit codes:
  0  success (also: superseded by a newer run)
  2  usage error: a missing or malformed option
  4  an AWS call failed
  5  the deployment failed or was stopped
  6  the deployment group is busy (--if-busy fail)
  7  gave up waiting (the deployment is still running, or the group stayed busy)
  8  refused: the group has no successful deployment to restart
  130, 143  interrupted by SIGINT, SIGTERM";

const REDEPLOY_HELP: &str = "\
Examples:
  invisible-pipeline rollback --application app --deployment-group web
  invisible-pipeline rollback --application app --deployment-group web --to d-ABCDEF123
  invisible-pipeline promote --application app --from-group staging --to-group prod

Exit codes:
  0  success (also: superseded by a newer run)
  2  usage error: a missing or malformed option
  4  an AWS call failed
  5  the deployment failed or was stopped
  6  the deployment group is busy (--if-busy fail)
  7  gave up waiting (the deployment is still running, or the group stayed busy)
  8  refused: nothing to deploy again, or its bundle is gone or changed
  130, 143  interrupted by SIGINT, SIGTERM
  141  the reader of stdout went away (| head) after the run succeeded";

/// `--version`: the version, the commit it was built from and the target it runs on.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("INVISIBLE_PIPELINE_COMMIT"),
    ", ",
    env!("INVISIBLE_PIPELINE_TARGET"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "invisible-pipeline",
    version,
    long_version = LONG_VERSION,
    about = "Merge an application archive with CodeDeploy files into one validated revision bundle and deploy it to EC2",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,

    /// Say only warnings, errors and the summary: no progress
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        help_heading = "Messages"
    )]
    pub(crate) quiet: bool,

    /// Also say each part uploaded, and an AWS error's full chain (as RUST_LOG does)
    #[arg(
        short,
        long,
        visible_alias = "debug",
        global = true,
        help_heading = "Messages"
    )]
    pub(crate) verbose: bool,

    /// Color `error:` and `warning:`: auto (stderr is a terminal and NO_COLOR is not set),
    /// always, never
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = ColorWhen::Auto,
        value_name = "WHEN",
        help_heading = "Messages"
    )]
    pub(crate) color: ColorWhen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Build the revision bundle and deploy it (with --no-deploy: build it locally, no AWS)
    #[command(after_help = DEPLOY_HELP)]
    Deploy(Box<DeployArgs>),
    /// Check a CodeDeploy folder (and, given an archive, the merged bundle); writes nothing
    #[command(after_help = VALIDATE_HELP)]
    Validate(ValidateArgs),

    /// The deployment group's deployments, newest first: status, commit, build, bundle
    /// (read-only)
    #[command(after_help = READ_HELP)]
    History(HistoryArgs),

    /// What is live in the deployment group, what is running, and the last failure
    /// (read-only)
    #[command(after_help = READ_HELP)]
    Status(StatusArgs),

    /// Deploy again the revision of an earlier deployment (by default the newest success
    /// before the live one): the same S3 object version, never rebuilt
    Rollback(RollbackArgs),

    /// Deploy to a second group exactly the bundle that succeeded in a first one (staging to
    /// production), copied and checked when the second group is in another region
    #[command(after_help = REDEPLOY_HELP)]
    Promote(PromoteArgs),

    /// Run the group's last successful revision again from the copy on each instance, with no
    /// download (CreateDeployment deploymentMode RESTART; needs CodeDeploy agent 2.1.0 or
    /// later on every instance)
    #[command(after_help = RESTART_HELP)]
    Restart(RestartArgs),

    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) to stdout
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),

    /// Print the man page (roff) to stdout
    #[command(
        after_help = "Example:\n  invisible-pipeline man > /usr/local/share/man/man1/invisible-pipeline.1"
    )]
    Man,
}

const COMPLETIONS_HELP: &str = "\
Examples:
  invisible-pipeline completions bash > /etc/bash_completion.d/invisible-pipeline
  invisible-pipeline completions zsh > \"${fpath[1]}/_invisible-pipeline\"
  invisible-pipeline completions fish > ~/.config/fish/completions/invisible-pipeline.fish

The release archive ships them, made by this command, with the man page.";

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Writes the completion script for `shell`.
pub(crate) fn write_completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    clap_complete::generate(shell, &mut command(), "invisible-pipeline", out);
}

/// Writes the man page: the top command and, after it, each subcommand's.
pub(crate) fn write_man(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let top = command();
    clap_mangen::Man::new(top.clone()).render(out)?;
    for sub in top.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("invisible-pipeline-{}", sub.get_name());
        let page = sub.clone().name(name.clone()).bin_name(name);
        clap_mangen::Man::new(page).render(out)?;
    }
    Ok(())
}

/// The command-line definition, with environment values hidden from `--help`: the help text
/// is the same whatever the environment holds (CI's AWS variables, a user's profile).
pub(crate) fn command() -> clap::Command {
    fn hide(cmd: clap::Command) -> clap::Command {
        cmd.mut_args(|a| a.hide_env_values(true))
            .mut_subcommands(hide)
    }
    hide(<Cli as clap::CommandFactory>::command())
}

#[derive(Debug, Args)]
pub(crate) struct CommonArgs {
    /// Folder with appspec.yml and the lifecycle hook scripts [default: CodeDeploy_Files, in
    /// $CODEBUILD_SRC_DIR inside CodeBuild]
    #[arg(
        long = "codedeploy-dir",
        env = "CODEDEPLOY_FILES_DIR",
        value_name = "DIR"
    )]
    pub codedeploy_dir_arg: Option<PathBuf>,

    /// Summary format on stdout
    #[arg(long, env = "INVISIBLE_PIPELINE_OUTPUT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// The CodeDeploy agent the instances run: 1 (Ruby, 1.8), 2 (Rust, 2.x) or both; an input
    /// either agent in scope fails, or lands otherwise than written, is an error
    #[arg(
        long,
        env = "CODEDEPLOY_AGENT",
        value_enum,
        default_value_t = AgentArg::Both,
        help_heading = "Checks"
    )]
    pub agent: AgentArg,

    /// Also refuse what agent 2.x's opt-in hardening keys refuse
    /// (reject_path_traversal_in_bundle, reject_symlinks_in_bundle,
    /// reject_unsafe_permissions_in_bundle), for instances that turn them on
    #[arg(long, env = "STRICT_AGENT", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue, help_heading = "Checks")]
    pub strict_agent: bool,
}

/// `--agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AgentArg {
    #[value(name = "1")]
    V1,
    #[value(name = "2")]
    V2,
    Both,
}

#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// Local dry run: build and check the bundle and write it to --bundle-out; no AWS call
    #[arg(help_heading = "Archive", long, env = "NO_DEPLOY", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub no_deploy: bool,

    /// Application archive: a local path, or s3://bucket/key[?versionId=…]; overrides
    /// --app-archive-parameter. With --no-deploy, a local path
    #[arg(
        help_heading = "Archive",
        long,
        env = "APP_ARCHIVE",
        value_name = "PATH|S3URL"
    )]
    pub app_archive: Option<String>,

    /// SSM parameter whose value is the s3:// location of the application archive [this or
    /// --app-archive is needed for a deploy]
    #[arg(
        help_heading = "Archive",
        long,
        env = "APP_ARCHIVE_PARAMETER",
        value_name = "NAME"
    )]
    pub app_archive_parameter: Option<String>,

    /// Where --no-deploy writes the bundle (.tar or .tgz, the container of the app archive); a
    /// folder gets bundle.tgz or bundle.tar [default: the current folder]
    #[arg(
        help_heading = "Archive",
        long,
        env = "BUNDLE_OUT",
        value_name = "FILE"
    )]
    pub bundle_out: Option<PathBuf>,

    /// Modification time (Unix seconds) of the CodeDeploy entries in the bundle
    #[arg(
        help_heading = "Archive",
        long,
        env = "SOURCE_DATE_EPOCH",
        default_value_t = 0,
        value_name = "SECONDS"
    )]
    pub source_date_epoch: u64,

    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub aws: AwsDeployArgs,
}

/// Options of a real deployment (ignored by --no-deploy).
#[derive(Debug, Args)]
pub(crate) struct AwsDeployArgs {
    /// Region of the step, the SSM parameter and the application archive
    #[arg(
        help_heading = "Target",
        long,
        env = "AWS_REGION",
        value_name = "REGION"
    )]
    pub region: Option<String>,

    /// Region of CodeDeploy and the artifact bucket, when it differs from --region
    #[arg(
        help_heading = "Target",
        long,
        env = "DEPLOY_REGION",
        value_name = "REGION"
    )]
    pub deploy_region: Option<String>,

    /// Bucket for revision bundles, in the deployment's region [needed for a deploy]
    #[arg(
        help_heading = "Target",
        long,
        env = "ARTIFACT_BUCKET",
        value_name = "BUCKET"
    )]
    pub artifact_bucket: Option<String>,

    /// Key prefix for bundles in the artifact bucket
    #[arg(
        help_heading = "Target",
        long,
        env = "ARTIFACT_PREFIX",
        default_value = "bundles",
        value_name = "PREFIX"
    )]
    pub artifact_prefix: String,

    /// KMS key (id, ARN or alias) for SSE-KMS on the bundle; without it no encryption header
    /// is sent and the bucket's default encryption (its key, its bucket key) applies
    #[arg(
        help_heading = "Target",
        long,
        env = "ARTIFACT_KMS_KEY_ID",
        value_name = "KEY"
    )]
    pub artifact_kms_key_id: Option<String>,

    /// CodeDeploy application [needed for a deploy]
    #[arg(
        help_heading = "Target",
        long,
        env = "CODEDEPLOY_APPLICATION",
        value_name = "NAME"
    )]
    pub application: Option<String>,

    /// CodeDeploy deployment group (EC2 instances chosen by tag) [needed for a deploy]
    #[arg(
        help_heading = "Target",
        long,
        env = "CODEDEPLOY_DEPLOYMENT_GROUP",
        value_name = "NAME"
    )]
    pub deployment_group: Option<String>,

    /// Branch environments: the group a branch's pushes deploy to, as BRANCH=GROUP or
    /// PREFIX*=GROUP (`release/*=web-staging`); the exact name wins, then the longest
    /// prefix; a branch that none names is validated only. $BRANCH_GROUPS: `;` between them
    #[arg(help_heading = "Target", long, env = "BRANCH_GROUPS", value_delimiter = ';', value_parser = crate::app::branches::parse_mapping, value_name = "PATTERN=GROUP")]
    pub branch_group: Vec<crate::app::branches::Mapping>,

    /// Deployment configuration; default: the group's
    #[arg(
        help_heading = "Target",
        long,
        env = "CODEDEPLOY_DEPLOYMENT_CONFIG",
        value_name = "NAME"
    )]
    pub deployment_config: Option<String>,

    /// What the agent does with files already at a destination and not from the previous
    /// revision; an appspec's file_exists_behavior wins over it. Deployment groups have no
    /// such setting: without it CodeDeploy's default, DISALLOW, applies
    #[arg(
        help_heading = "Target",
        long,
        env = "FILE_EXISTS_BEHAVIOR",
        value_enum,
        value_name = "BEHAVIOR"
    )]
    pub file_exists_behavior: Option<FileExistsBehavior>,

    /// Go on when the previous revision's ApplicationStop scripts fail
    #[arg(help_heading = "Target", long, env = "IGNORE_APPLICATION_STOP_FAILURES", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub ignore_application_stop_failures: bool,

    /// When another deployment is active in the group: wait for it, stop it, or fail (exit 6)
    #[arg(help_heading = "Waiting", long, env = "IF_BUSY", value_enum, default_value_t = crate::deployment::IfBusy::Wait)]
    pub if_busy: crate::deployment::IfBusy,

    /// How long to follow the deployment (and to wait for a busy group): 90s, 45m, 2h
    #[arg(help_heading = "Waiting", long, env = "WAIT_TIMEOUT", default_value = "60m", value_parser = parse_duration, value_name = "DURATION")]
    pub wait_timeout: Duration,

    /// Create the deployment and exit without following it
    #[arg(help_heading = "Waiting", long, env = "NO_WAIT", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub no_wait: bool,

    /// Time between two looks at the deployment
    #[arg(help_heading = "Waiting", long, env = "POLL_INTERVAL", default_value = "15s", value_parser = parse_duration, value_name = "DURATION")]
    pub poll_interval: Duration,

    /// Blue/green: follow to the deployment's end (succeeded), or only until traffic is on the
    /// replacement fleet (traffic; the original fleet's termination wait can last days)
    #[arg(help_heading = "Waiting", long, env = "WAIT_FOR", value_enum, default_value_t = crate::deployment::WaitFor::Succeeded)]
    pub wait_for: crate::deployment::WaitFor,

    /// Create the deployment only inside this window: DAYS HH:MM-HH:MM ZONE, e.g. 'Mon-Fri
    /// 09:00-16:00 Europe/Berlin' (an end at or before the start runs past midnight; 24:00 is
    /// an end); repeat for several, or separate them with ';'
    #[arg(
        help_heading = "Waiting",
        long,
        env = "DEPLOY_WINDOW",
        value_delimiter = ';',
        value_name = "WINDOW"
    )]
    pub deploy_window: Vec<crate::deployment::window::Window>,

    /// Never create the deployment on these days: YYYY-MM-DD[..YYYY-MM-DD] ZONE, both days
    /// included; repeat, or separate them with ';'
    #[arg(
        help_heading = "Waiting",
        long,
        env = "DEPLOY_FREEZE",
        value_delimiter = ';',
        value_name = "DAYS"
    )]
    pub freeze: Vec<crate::deployment::window::Freeze>,

    /// Outside the window or in a freeze: wait until it opens (within --wait-timeout, exit 7
    /// past it), or fail at once (exit 9)
    #[arg(help_heading = "Waiting", long, env = "IF_OUTSIDE_WINDOW", value_enum, default_value_t = crate::deployment::IfOutsideWindow::Wait)]
    pub if_outside_window: crate::deployment::IfOutsideWindow,

    /// Blue/green with a tag-chosen replacement fleet (green_fleet: discover_existing): the
    /// EC2 tag of the replacement instances, KEY=VALUE (repeat for several; an instance with
    /// any of them)
    #[arg(help_heading = "Target", long, env = "GREEN_FLEET_TAG", value_delimiter = ',', value_parser = parse_tag, value_name = "KEY=VALUE")]
    pub green_fleet_tag: Vec<(String, String)>,

    /// When the pipeline was triggered (ISO 8601), for the stale-run check; default: the
    /// commit time of the checkout, else now
    #[arg(
        help_heading = "Run",
        long,
        env = "PIPELINE_TRIGGER_TIME",
        value_name = "TIME"
    )]
    pub trigger_time: Option<String>,

    #[command(flatten)]
    pub notify: NotifyArgs,

    /// Skip the preflight: that the group exists, that its tags or Auto Scaling groups match a
    /// running instance (EC2, Auto Scaling) and that its service role exists (IAM), checked
    /// before anything is downloaded
    #[arg(help_heading = "Target", long, env = "NO_PREFLIGHT", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub no_preflight: bool,

    /// Source commit (CodeBuild sets it)
    #[arg(
        help_heading = "Run",
        long,
        env = "CODEBUILD_RESOLVED_SOURCE_VERSION",
        value_name = "COMMIT"
    )]
    pub commit: Option<String>,

    /// Branch of the trigger (the stack's triggers set it); default: the branch of a GitHub
    /// webhook ($CODEBUILD_WEBHOOK_HEAD_REF). Shown with the commit, and chooses the group
    /// with --branch-group
    #[arg(
        help_heading = "Run",
        long,
        env = "PIPELINE_BRANCH",
        value_name = "BRANCH"
    )]
    pub branch: Option<String>,

    /// Build id (CodeBuild sets it): the build's phases (BatchGetBuilds) start the summary's
    /// timeline
    #[arg(
        help_heading = "Run",
        long,
        env = "CODEBUILD_BUILD_ID",
        value_name = "ID"
    )]
    pub build_id: Option<String>,

    /// Build ARN (CodeBuild sets it): the build's console link in the summary
    #[arg(
        help_heading = "Run",
        long,
        env = "CODEBUILD_BUILD_ARN",
        value_name = "ARN"
    )]
    pub build_arn: Option<String>,

    /// File of KEY=value lines (DEPLOYMENT_ID, BUNDLE_LOCATION, BUNDLE_SHA256) for the
    /// buildspec to export, written once the deployment exists; keep it outside the checkout
    #[arg(
        help_heading = "Run",
        long,
        env = "INVISIBLE_PIPELINE_EXPORT_FILE",
        value_name = "FILE"
    )]
    pub export_file: Option<PathBuf>,

    /// Bundles from this size (MiB) on are uploaded in parts, in parallel (at most 5120: a
    /// single PUT takes 5 GiB)
    #[arg(help_heading = "Upload", long, env = "MULTIPART_THRESHOLD_MIB", default_value_t = 16, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=5120))]
    pub multipart_threshold_mib: u64,

    /// Smallest size of one upload part (MiB, 5 to 5120); larger when the bundle needs more
    /// than S3's 10,000 parts
    #[arg(help_heading = "Upload", long, env = "PART_SIZE_MIB", default_value_t = 8, value_name = "MIB", value_parser = clap::value_parser!(u64).range(5..=5120))]
    pub part_size_mib: u64,

    /// How the bundle goes up: copy the release's bytes inside S3 (UploadPartCopy, pinned to
    /// the downloaded version) and send only the rest, or send it all; auto copies when it can
    #[arg(help_heading = "Upload", long, env = "UPLOAD_MODE", value_enum, default_value_t = crate::deployment::UploadMode::Auto)]
    pub upload_mode: crate::deployment::UploadMode,

    /// Parts uploaded at once
    #[arg(help_heading = "Upload", long, env = "UPLOAD_CONCURRENCY", default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    pub upload_concurrency: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPER")]
pub(crate) enum FileExistsBehavior {
    Disallow,
    Overwrite,
    Retain,
}

impl FileExistsBehavior {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FileExistsBehavior::Disallow => "DISALLOW",
            FileExistsBehavior::Overwrite => "OVERWRITE",
            FileExistsBehavior::Retain => "RETAIN",
        }
    }
}

/// Parses `90`, `90s`, `45m`, `2h`, `500ms`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration such as 90s, 45m or 2h"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("'{text}' is not a duration such as 90s, 45m or 2h")),
    }
}

/// `KEY=VALUE`, an EC2 tag.
fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("'{text}' is not an EC2 tag KEY=VALUE")),
    }
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// Also check this application archive and the bundle it makes with the folder
    #[arg(long, env = "APP_ARCHIVE", value_name = "PATH")]
    pub app_archive: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// The deployment group a command reads or deploys to.
#[derive(Debug, Args)]
pub(crate) struct GroupArgs {
    /// CodeDeploy application
    #[arg(long, env = "CODEDEPLOY_APPLICATION", value_name = "NAME")]
    pub application: String,

    /// CodeDeploy deployment group
    #[arg(long, env = "CODEDEPLOY_DEPLOYMENT_GROUP", value_name = "NAME")]
    pub deployment_group: String,
}

/// Where a command that talks to AWS runs.
#[derive(Debug, Args)]
pub(crate) struct RegionArgs {
    /// Region of the step (the default of --deploy-region)
    #[arg(long, env = "AWS_REGION", value_name = "REGION")]
    pub region: Option<String>,

    /// Region of CodeDeploy and the artifact bucket, when it differs from --region
    #[arg(long, env = "DEPLOY_REGION", value_name = "REGION")]
    pub deploy_region: Option<String>,
}

/// How a command that creates a deployment waits: for a busy group, and for the deployment.
#[derive(Debug, Args)]
pub(crate) struct WaitArgs {
    /// When another deployment is active in the group: wait for it, stop it, or fail (exit 6)
    #[arg(long, env = "IF_BUSY", value_enum, default_value_t = crate::deployment::IfBusy::Wait)]
    pub if_busy: crate::deployment::IfBusy,

    /// How long to follow the deployment (and to wait for a busy group): 90s, 45m, 2h
    #[arg(long, env = "WAIT_TIMEOUT", default_value = "60m", value_parser = parse_duration, value_name = "DURATION")]
    pub wait_timeout: Duration,

    /// Create the deployment and exit without following it
    #[arg(long, env = "NO_WAIT", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub no_wait: bool,

    /// Time between two looks at the deployment
    #[arg(long, env = "POLL_INTERVAL", default_value = "15s", value_parser = parse_duration, value_name = "DURATION")]
    pub poll_interval: Duration,

    /// Blue/green: follow to the deployment's end (succeeded), or only until traffic is on the
    /// replacement fleet (traffic; the original fleet's termination wait can last days)
    #[arg(long, env = "WAIT_FOR", value_enum, default_value_t = crate::deployment::WaitFor::Succeeded)]
    pub wait_for: crate::deployment::WaitFor,
}

/// Who hears of the outcome.
#[derive(Debug, Args)]
pub(crate) struct NotifyArgs {
    /// SNS topic ARN that receives the outcome at the end of the run: subject APP/GROUP
    /// COMMAND STATUS COMMIT, a body for people (a failed publish is a warning)
    #[arg(long, env = "NOTIFY_TOPIC_ARN", value_name = "TOPIC_ARN")]
    pub notify_topic: Option<String>,
}

/// The summary's format.
#[derive(Debug, Args)]
pub(crate) struct OutputArgs {
    /// Summary format on stdout
    #[arg(long, env = "INVISIBLE_PIPELINE_OUTPUT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    #[command(flatten)]
    pub group: GroupArgs,

    /// Show at most this many deployments
    #[arg(long, env = "HISTORY_LIMIT", default_value_t = 20, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,

    /// Only deployments created at or after this time (ISO 8601, e.g. 2026-11-01T00:00:00Z)
    #[arg(long, env = "HISTORY_SINCE", value_name = "TIME")]
    pub since: Option<String>,

    /// Also when each deployment was created and completed, its first lifecycle event, its last
    /// instance done, and each instance's events (ListDeploymentTargets,
    /// BatchGetDeploymentTargets)
    #[arg(long, env = "HISTORY_TIMINGS", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub timings: bool,

    #[command(flatten)]
    pub regions: RegionArgs,

    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub group: GroupArgs,

    #[command(flatten)]
    pub regions: RegionArgs,

    #[command(flatten)]
    pub out: OutputArgs,
}

/// A command that creates a deployment in one group from a revision already there
/// (`rollback`, `restart`).
#[derive(Debug, Args)]
pub(crate) struct InGroupArgs {
    #[command(flatten)]
    pub group: GroupArgs,

    /// Key prefix of the bundles this tool manages (their tags keep rollback targets)
    #[arg(
        long,
        env = "ARTIFACT_PREFIX",
        default_value = "bundles",
        value_name = "PREFIX"
    )]
    pub artifact_prefix: String,

    #[command(flatten)]
    pub notify: NotifyArgs,

    #[command(flatten)]
    pub wait: WaitArgs,

    #[command(flatten)]
    pub regions: RegionArgs,

    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    /// The deployment whose revision to deploy again; default: the newest successful
    /// deployment whose revision differs from the live one's
    #[arg(long, env = "ROLLBACK_TO", value_name = "DEPLOYMENT_ID")]
    pub to: Option<String>,

    /// Deploy with the group's CloudWatch alarms off (CreateDeployment's
    /// overrideAlarmConfiguration; needs codedeploy:UpdateDeploymentGroup): for a revision
    /// known to be good while an alarm of the bad one still fires. Noted in the description
    #[arg(long, env = "IGNORE_ALARMS", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub ignore_alarms: bool,

    #[command(flatten)]
    pub in_group: InGroupArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RestartArgs {
    #[command(flatten)]
    pub in_group: InGroupArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PromoteArgs {
    /// CodeDeploy application of the first group
    #[arg(long, env = "CODEDEPLOY_APPLICATION", value_name = "NAME")]
    pub application: String,

    /// The group whose success is promoted (e.g. staging)
    #[arg(long, env = "PROMOTE_FROM_GROUP", value_name = "GROUP")]
    pub from_group: String,

    /// The group it is deployed to (e.g. prod)
    #[arg(long, env = "PROMOTE_TO_GROUP", value_name = "GROUP")]
    pub to_group: String,

    /// The deployment of --from-group to promote; default: its newest success
    #[arg(long, env = "PROMOTE_DEPLOYMENT", value_name = "DEPLOYMENT_ID")]
    pub deployment: Option<String>,

    /// Deploy with --to-group's CloudWatch alarms off (overrideAlarmConfiguration; needs
    /// codedeploy:UpdateDeploymentGroup), noted in the description
    #[arg(long, env = "IGNORE_ALARMS", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub ignore_alarms: bool,

    /// CodeDeploy application of --to-group; default: --application
    #[arg(long, env = "PROMOTE_TO_APPLICATION", value_name = "NAME")]
    pub to_application: Option<String>,

    /// Region of --to-group, when it differs from the first group's: the bundle is copied
    /// to --to-bucket there and checked by its SHA-256
    #[arg(long, env = "PROMOTE_TO_REGION", value_name = "REGION")]
    pub to_region: Option<String>,

    /// Bucket in --to-region that receives the copy
    #[arg(long, env = "PROMOTE_TO_BUCKET", value_name = "BUCKET")]
    pub to_bucket: Option<String>,

    /// KMS key for SSE-KMS on the copy; default: the bucket's default encryption
    #[arg(long, env = "PROMOTE_TO_KMS_KEY_ID", value_name = "KEY")]
    pub to_kms_key_id: Option<String>,

    /// Key prefix of the bundles this tool manages (their tags keep rollback targets)
    #[arg(
        long,
        env = "ARTIFACT_PREFIX",
        default_value = "bundles",
        value_name = "PREFIX"
    )]
    pub artifact_prefix: String,

    #[command(flatten)]
    pub notify: NotifyArgs,

    #[command(flatten)]
    pub wait: WaitArgs,

    #[command(flatten)]
    pub regions: RegionArgs,

    #[command(flatten)]
    pub out: OutputArgs,
}

impl CommonArgs {
    /// What the checks hold the revision to.
    pub(crate) fn rules(&self) -> crate::rules::Rules {
        use crate::rules::Agents;
        crate::rules::Rules {
            agents: match self.agent {
                AgentArg::V1 => Agents::V1,
                AgentArg::V2 => Agents::V2,
                AgentArg::Both => Agents::Both,
            },
            strict: self.strict_agent,
        }
    }

    /// The CodeDeploy folder: as given, else `CodeDeploy_Files` in CodeBuild's checkout
    /// (`$CODEBUILD_SRC_DIR`), else in the current folder.
    pub(crate) fn codedeploy_dir(&self) -> PathBuf {
        const DEFAULT: &str = "CodeDeploy_Files";
        match (
            &self.codedeploy_dir_arg,
            std::env::var_os("CODEBUILD_SRC_DIR"),
        ) {
            (Some(dir), _) => dir.clone(),
            (None, Some(src)) => PathBuf::from(src).join(DEFAULT),
            (None, None) => PathBuf::from(DEFAULT),
        }
    }
}

impl Cli {
    /// The subcommand's name, as the JSON envelope gives it.
    pub fn command_name(&self) -> &'static str {
        match &self.command {
            Command::Deploy(_) => "deploy",
            Command::Validate(_) => "validate",
            Command::History(_) => "history",
            Command::Status(_) => "status",
            Command::Rollback(_) => "rollback",
            Command::Promote(_) => "promote",
            Command::Restart(_) => "restart",
            Command::Completions(_) => "completions",
            Command::Man => "man",
        }
    }

    pub fn output(&self) -> OutputFormat {
        match &self.command {
            Command::Deploy(a) => a.common.output,
            Command::Validate(a) => a.common.output,
            Command::History(a) => a.out.output,
            Command::Status(a) => a.out.output,
            Command::Rollback(a) => a.in_group.out.output,
            Command::Promote(a) => a.out.output,
            Command::Restart(a) => a.in_group.out.output,
            Command::Completions(_) | Command::Man => OutputFormat::Text,
        }
    }

    /// How messages are written: `-q`, `-v`, `--color` (`auto` reads `NO_COLOR` and `TERM`);
    /// a progress bar only where stderr is a terminal.
    pub fn output_settings(&self) -> crate::base::term::Settings {
        use std::io::IsTerminal;
        let terminal = std::io::stderr().is_terminal();
        let color = match self.color {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => crate::base::term::color_auto(
                terminal,
                std::env::var("NO_COLOR").ok().as_deref(),
                std::env::var("TERM").ok().as_deref(),
            ),
        };
        crate::base::term::Settings {
            quiet: self.quiet,
            verbose: self.verbose,
            color,
            bar: terminal,
        }
    }
}

/// Where an invalid value came from, when it was an environment variable: the option's long
/// form, the variable and its value.
struct FromEnv {
    long: String,
    var: String,
    value: String,
}

fn from_env(err: &clap::Error, argv: &[std::ffi::OsString]) -> Option<FromEnv> {
    use clap::error::{ContextKind, ContextValue};
    use clap::CommandFactory;
    let ContextValue::String(arg) = err.get(ContextKind::InvalidArg)? else {
        return None;
    };
    let ContextValue::String(value) = err.get(ContextKind::InvalidValue)? else {
        return None;
    };
    let long = arg
        .split_whitespace()
        .next()?
        .trim_start_matches("--")
        .to_string();
    let command = Cli::command();
    let var = command
        .get_subcommands()
        .flat_map(|c| c.get_arguments())
        .find(|a| a.get_long() == Some(long.as_str()))?
        .get_env()?
        .to_string_lossy()
        .into_owned();
    let given = argv.iter().any(|a| {
        let a = a.to_string_lossy();
        a == format!("--{long}") || a.starts_with(&format!("--{long}="))
    });
    let set = std::env::var_os(&var).is_some_and(|v| v.to_string_lossy() == *value);
    (!given && set).then(|| FromEnv {
        long,
        var,
        value: value.clone(),
    })
}

/// The options only a real deployment reads (`AwsDeployArgs`).
fn deploy_only(long: &str) -> bool {
    let args = AwsDeployArgs::augment_args(clap::Command::new("deploy"));
    let found = args.get_arguments().any(|a| a.get_long() == Some(long));
    found
}

fn dry_run(argv: &[std::ffi::OsString]) -> bool {
    argv.iter().any(|a| a == "--no-deploy")
        || std::env::var("NO_DEPLOY").is_ok_and(|v| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on" | "y"
            )
        })
}

/// Whether this command line asks for JSON (`--output json`, or the variable).
fn wants_json(argv: &[std::ffi::OsString]) -> bool {
    let args: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    args.windows(2)
        .any(|w| w[0] == "--output" && w[1] == "json")
        || args.iter().any(|a| a == "--output=json")
        || (!args.iter().any(|a| a.starts_with("--output"))
            && std::env::var("INVISIBLE_PIPELINE_OUTPUT").is_ok_and(|v| v == "json"))
}

/// Ends the run on a command-line error: clap's text, and with `--output json` the JSON
/// envelope on stdout as every other failure gives it.
fn usage_error(err: clap::Error, argv: &[std::ffi::OsString]) -> ! {
    use clap::error::ErrorKind;
    let shown = matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if shown || !wants_json(argv) {
        // Help and version on a closed stdout (`--help | head -1`) end as every summary does.
        match err.print() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe && err.exit_code() == 0 => {
                std::process::exit(crate::base::error::exit::BROKEN_PIPE.into())
            }
            _ => std::process::exit(err.exit_code()),
        }
    }
    let command = argv
        .get(1)
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| {
            [
                "deploy", "validate", "history", "status", "rollback", "promote",
            ]
            .contains(&a.as_str())
        })
        .unwrap_or_else(|| "invisible-pipeline".into());
    let text = err.to_string();
    let message = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string();
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
    // Exit 2 whether or not stdout still reads: the command line was wrong either way.
    let _ = crate::app::report::print_failure_json(&command, 2, "command line", &message);
    std::process::exit(2)
}

/// Parses the command line. An invalid value from an environment variable is reported with
/// the variable's name (the option alone would not tell where it came from), and one of an
/// option that does not apply to the run (a deploy option in a `--no-deploy` dry run) is
/// ignored with a warning rather than failing a run that never reads it.
pub fn parse() -> Cli {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut warnings = Vec::new();
    loop {
        let parsed = command()
            .try_get_matches_from(&argv)
            .and_then(|mut matches| {
                <Cli as clap::FromArgMatches>::from_arg_matches_mut(&mut matches)
            });
        let err = match parsed {
            Ok(cli) => {
                for w in warnings {
                    crate::base::term::log(format!("warning: {w}"));
                }
                return cli;
            }
            Err(err) => err,
        };
        let Some(source) = from_env(&err, &argv) else {
            usage_error(err, &argv)
        };
        if dry_run(&argv) && deploy_only(&source.long) && warnings.len() < 100 {
            warnings.push(format!(
                "ignoring ${}={}: --{} does not apply to a --no-deploy dry run",
                source.var, source.value, source.long
            ));
            std::env::remove_var(&source.var);
            continue;
        }
        let text = err.to_string();
        let first = text.lines().next().unwrap_or_default();
        let quoted = format!("for '--{}", source.long);
        let line = match first.split_once(&quoted) {
            Some((head, tail)) => format!(
                "{head}in ${} (the environment variable for '--{}{tail}",
                source.var, source.long
            )
            .replacen("':", "'):", 1),
            None => format!("{first} (from ${})", source.var),
        };
        crate::base::term::log(format!("{line}\n\nFor more information, try '--help'."));
        std::process::exit(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("45m"), Ok(Duration::from_secs(2700)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
