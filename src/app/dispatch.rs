//! Runs one command: resolves the configuration the rest of the program sees (usage errors
//! name the option and its variable), then checks, builds and deploys.

use crate::app::checkout::CheckoutCommit;
use crate::app::cli::{
    Cli, Command, DeployArgs, HistoryArgs, InGroupArgs, PromoteArgs, RestartArgs, RollbackArgs,
    StatusArgs, ValidateArgs,
};
use crate::app::report::Report;
use crate::aws;
use crate::base::error::{Error, Result};
use crate::base::shutdown::Shutdown;
use crate::commands::deploy;
use crate::deployment::{self, ArchiveSource, DeployConfig};
use crate::revision;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use std::path::{Path, PathBuf};

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<Report> {
    let command = cli.command;
    // One cancellation mechanism for every command: a signal stops the work, which cleans
    // up (temporary bundle, multipart upload) on its way out.
    let shutdown = Shutdown::listen().map_err(|e| {
        Error::io(
            "cannot listen for signals on",
            Path::new("SIGINT/SIGTERM"),
            e,
        )
    })?;
    let result = match command {
        Command::Deploy(args) if args.no_deploy => {
            tokio::task::block_in_place(|| dry_run(*args, &shutdown))
        }
        Command::Deploy(args) => deploy(*args, &shutdown).await,
        Command::Validate(args) => tokio::task::block_in_place(|| validate(args, &shutdown)),
        Command::History(args) => history(args, &shutdown).await,
        Command::Status(args) => status(args, &shutdown).await,
        Command::Rollback(args) => rollback(args, &shutdown).await,
        Command::Restart(args) => restart(args, &shutdown).await,
        Command::Promote(args) => promote(args, &shutdown).await,
        Command::Completions(args) => {
            let mut script = Vec::new();
            crate::app::cli::write_completions(args.shell, &mut script);
            Ok(Report::Generated(script))
        }
        Command::Man => {
            let mut page = Vec::new();
            crate::app::cli::write_man(&mut page)
                .map(|()| Report::Generated(page))
                .map_err(|e| Error::io("cannot make the man page in", Path::new("memory"), e))
        }
    };
    // A signal wins over whatever error the interrupted work reported.
    match (result, shutdown.fired()) {
        (Err(_), Some(signal)) => Err(Error::Interrupted(signal)),
        (result, _) => result,
    }
}

fn required<T>(value: Option<T>, option: &str, env: &str) -> Result<T> {
    value.ok_or_else(|| Error::Usage(format!("{option} (or ${env}) is required")))
}

/// A mistyped S3 location is a usage error with the location it most likely meant, before
/// any AWS call or local open.
fn check_location_typo(text: &str, option: &str, env: &str) -> Result<()> {
    match crate::aws::s3url::did_you_mean(text) {
        Some(meant) => Err(Error::Usage(format!(
            "{option} (${env}) '{text}' is not an S3 location nor a local file: did you mean {meant}?"
        ))),
        None => Ok(()),
    }
}

/// A local application archive, which must exist (a usage error otherwise).
fn local_archive(text: &str, option: &str, env: &str, why_local: &str) -> Result<PathBuf> {
    check_location_typo(text, option, env)?;
    if text.starts_with("s3://") {
        return Err(Error::Usage(format!(
            "{option} (${env}) '{text}': {why_local}: give a local file"
        )));
    }
    let path = PathBuf::from(text);
    if !path.is_file() {
        return Err(Error::Usage(format!(
            "{option} (${env}) {}: no such file",
            path.display()
        )));
    }
    Ok(path)
}

/// Where a dry run writes its bundle, checked before any work: never the release itself,
/// never inside the CodeDeploy folder (the next bundle would sweep it in); a directory gets
/// `bundle.tgz` or `bundle.tar` once the container is known.
fn bundle_out_target(out: &Path, archive: &Path, codedeploy_dir: &Path) -> Result<PathBuf> {
    let usage = |m: String| {
        Err(Error::Usage(format!(
            "--bundle-out ($BUNDLE_OUT) {}: {m}",
            out.display()
        )))
    };
    let canonical = |p: &Path| std::fs::canonicalize(p).ok();
    if out.is_dir() {
        if canonical(out)
            .zip(canonical(codedeploy_dir))
            .is_some_and(|(o, c)| o.starts_with(&c))
        {
            return usage(
                "is inside the CodeDeploy folder, whose next bundle would sweep it in".into(),
            );
        }
        return Ok(out.to_path_buf());
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let Err(e) = std::fs::create_dir_all(&parent) {
        return usage(format!("cannot create its folder ({e})"));
    }
    let full = canonical(&parent).map(|p| p.join(out.file_name().unwrap_or_default()));
    if full.is_some() && full == canonical(archive) {
        return usage(
            "is the application archive itself; the bundle would replace the release".into(),
        );
    }
    if canonical(&parent)
        .zip(canonical(codedeploy_dir))
        .is_some_and(|(p, c)| p.starts_with(&c))
    {
        return usage(
            "is inside the CodeDeploy folder, whose next bundle would sweep it in".into(),
        );
    }
    Ok(out.to_path_buf())
}

fn dry_run(args: DeployArgs, shutdown: &Shutdown) -> Result<Report> {
    let app_archive = required(args.app_archive, "--app-archive", "APP_ARCHIVE")?;
    let app_archive = local_archive(
        &app_archive,
        "--app-archive",
        "APP_ARCHIVE",
        "--no-deploy makes no AWS call",
    )?;
    let bundle_out = args.bundle_out.unwrap_or_else(|| {
        crate::base::term::log(
            "no --bundle-out ($BUNDLE_OUT): the bundle goes in the current folder",
        );
        PathBuf::from(".")
    });
    let codedeploy_dir = args.common.codedeploy_dir();
    let target = bundle_out_target(&bundle_out, &app_archive, &codedeploy_dir)?;
    crate::base::term::log(format!(
        "checking {} with {}",
        app_archive.display(),
        codedeploy_dir.display()
    ));
    let mut checked = crate::base::progress::while_reading(
        format!("checking {}", app_archive.display()),
        &app_archive,
        shutdown.cancel(),
        || {
            revision::check(
                &codedeploy_dir,
                Some(&app_archive),
                args.common.rules(),
                shutdown.cancel(),
            )
        },
    )?;
    if checked.diags.has_errors() {
        return Err(Error::Invalid(checked.diags));
    }
    let bundle_type = checked
        .app
        .as_ref()
        .map(|a| crate::bundle::writer::BundleFormat::of(a.compression))
        .unwrap_or(crate::bundle::writer::BundleFormat::Tgz);
    let bundle_out = if target.is_dir() {
        target.join(format!("bundle.{}", bundle_type.as_str()))
    } else {
        target
    };
    let name = bundle_out.to_string_lossy().to_ascii_lowercase();
    let fits = match bundle_type {
        crate::bundle::writer::BundleFormat::Tgz => {
            name.ends_with(".tgz") || name.ends_with(".tar.gz")
        }
        crate::bundle::writer::BundleFormat::Tar => name.ends_with(".tar"),
    };
    if !fits {
        checked.diags.warn(
            format!("--bundle-out {}", bundle_out.display()),
            format!(
                "the bundle is a {} (the container of the release); name it .{} so that CodeDeploy's bundle type matches",
                bundle_type.as_str(),
                bundle_type.as_str()
            ),
        );
    }
    crate::base::term::log(format!("writing {}", bundle_out.display()));
    let bundle = revision::write_bundle(
        &checked,
        &bundle_out,
        args.source_date_epoch,
        revision::Durability::Synced,
        shutdown.cancel(),
    )?;
    Ok(Report::Deploy {
        status: "built",
        bundle,
        warnings: checked.diags,
    })
}

/// The trigger time: the pipeline's, else the checkout's commit time, else now.
fn trigger_time(given: Option<&str>, checkout: &CheckoutCommit) -> Result<DateTime> {
    if let Some(text) = given.filter(|t| !t.trim().is_empty()) {
        return DateTime::from_str(text.trim(), Format::DateTime).map_err(|_| {
            Error::Usage(format!(
                "--trigger-time ($PIPELINE_TRIGGER_TIME) '{text}' is not an ISO 8601 time such as 2026-11-26T06:00:00Z"
            ))
        });
    }
    Ok(match checkout.time {
        Some(secs) => DateTime::from_secs(secs),
        None => DateTime::from(std::time::SystemTime::now()),
    })
}

/// The branch of the run: `--branch`, else a GitHub webhook's.
fn run_branch(given: Option<String>) -> Option<String> {
    given
        .map(|b| b.trim().trim_start_matches("refs/heads/").to_string())
        .filter(|b| !b.is_empty())
        .or_else(|| {
            let head = std::env::var("CODEBUILD_WEBHOOK_HEAD_REF").ok()?;
            crate::app::branches::webhook_branch(&head).map(str::to_string)
        })
}

async fn deploy(args: DeployArgs, shutdown: &Shutdown) -> Result<Report> {
    let archive = archive_source(&args)?;
    let a = args.aws;
    let (Some(bucket), Some(application), Some(group)) =
        (a.artifact_bucket, a.application, a.deployment_group)
    else {
        unreachable!("reported as missing by archive_source")
    };
    let codedeploy_dir = args.common.codedeploy_dir();
    let commit = a.commit.filter(|c| !c.is_empty());
    let checkout = crate::app::checkout::read(&codedeploy_dir, commit.as_deref());
    let trigger_time = trigger_time(a.trigger_time.as_deref(), &checkout)?;
    let branch = run_branch(a.branch);
    // Branch environments: the branch's group; a branch no pattern names is validated only.
    let group = match (&branch, a.branch_group.is_empty()) {
        (Some(branch), false) => match crate::app::branches::group_for(&a.branch_group, branch) {
            Some(mapped) => mapped.to_string(),
            None => {
                crate::base::term::log(format!(
                    "branch {branch} is in no pattern of --branch-group ($BRANCH_GROUPS): its CodeDeploy files are validated, nothing is deployed"
                ));
                return validate(
                    ValidateArgs {
                        app_archive: None,
                        common: args.common,
                    },
                    shutdown,
                );
            }
        },
        _ => group,
    };
    // No default: a file in the checkout could be one a branch committed (the buildspec
    // reads this file, so its path comes from the project, outside the checkout).
    let export_file = a.export_file;
    let work_dir = tempfile::Builder::new()
        .prefix("invisible-pipeline-")
        .tempdir()
        .map_err(|e| {
            Error::io(
                "cannot create a temporary folder in",
                &std::env::temp_dir(),
                e,
            )
        })?;
    let config = DeployConfig {
        archive,
        rules: args.common.rules(),
        codedeploy_dir,
        bucket,
        prefix: a.artifact_prefix,
        kms_key_id: a.artifact_kms_key_id,
        application,
        group,
        deployment_config: a.deployment_config,
        file_exists_behavior: a.file_exists_behavior.map(|b| b.as_str().to_string()),
        ignore_application_stop_failures: a.ignore_application_stop_failures,
        if_busy: a.if_busy,
        wait_timeout: (!a.no_wait).then_some(a.wait_timeout),
        busy_timeout: a.wait_timeout,
        poll_interval: a.poll_interval,
        wait_for: a.wait_for,
        schedule: crate::deployment::window::Schedule {
            windows: a.deploy_window,
            freezes: a.freeze,
        },
        if_outside_window: a.if_outside_window,
        green_fleet_tags: a.green_fleet_tag,
        commit: crate::deployment::CommitInfo {
            id: commit,
            branch,
            author: checkout.author,
            subject: checkout.subject,
        },
        build_id: a.build_id.filter(|b| !b.is_empty()),
        build_arn: a.build_arn.filter(|b| !b.is_empty()),
        preflight: !a.no_preflight,
        ignore_alarms: false,
        trigger_time,
        mtime: args.source_date_epoch,
        upload: aws::s3::UploadSettings {
            multipart_threshold: a.multipart_threshold_mib << 20,
            part_size: a.part_size_mib << 20,
            concurrency: a.upload_concurrency as usize,
        },
        upload_mode: a.upload_mode,
        export_file,
        work_dir: work_dir.path().to_path_buf(),
    };
    let clients = aws::clients(a.region, a.deploy_region).await?;
    let result = deploy::run(&clients, &config, shutdown)
        .await
        .map(|o| Report::Deployment(Box::new(o)));
    told(
        "deploy",
        &config,
        &clients,
        a.notify.notify_topic.as_deref(),
        &result,
        shutdown,
    )
    .await;
    result
}

/// The outcome published to `--notify-topic`, when one is given: a run a signal cut short
/// is told as interrupted, as its exit code will say.
async fn told(
    command: &'static str,
    config: &DeployConfig,
    clients: &aws::Clients,
    topic: Option<&str>,
    result: &Result<Report>,
    shutdown: &Shutdown,
) {
    let interrupted = match (result, shutdown.fired()) {
        (Err(_), Some(signal)) => Some(Err(Error::Interrupted(signal))),
        _ => None,
    };
    let result = interrupted.as_ref().unwrap_or(result);
    let notice = crate::app::notify::Notice {
        command,
        application: &config.application,
        group: &config.group,
        region: &clients.deploy_region,
        commit: config.commit.clone(),
    };
    crate::app::notify::publish(topic, &notice, result).await;
}

/// Where the release comes from; every missing option of a deploy reported at once, each
/// with its variable: one run to learn them all.
fn archive_source(args: &DeployArgs) -> Result<ArchiveSource> {
    let a = &args.aws;
    if let Some(text) = &args.app_archive {
        check_location_typo(text, "--app-archive", "APP_ARCHIVE")?;
    }
    let mut missing = Vec::new();
    if args.app_archive.is_none() && args.app_archive_parameter.is_none() {
        missing.push(
            "--app-archive-parameter ($APP_ARCHIVE_PARAMETER) or --app-archive ($APP_ARCHIVE)",
        );
    }
    for (absent, what) in [
        (
            a.artifact_bucket.is_none(),
            "--artifact-bucket ($ARTIFACT_BUCKET)",
        ),
        (
            a.application.is_none(),
            "--application ($CODEDEPLOY_APPLICATION)",
        ),
        (
            a.deployment_group.is_none(),
            "--deployment-group ($CODEDEPLOY_DEPLOYMENT_GROUP)",
        ),
    ] {
        if absent {
            missing.push(what);
        }
    }
    if !missing.is_empty() {
        return Err(Error::Usage(format!(
            "a deploy needs {}: {} (or --no-deploy for a local dry run)",
            if missing.len() == 1 {
                "this option"
            } else {
                "these options"
            },
            missing.join(", ")
        )));
    }
    let archive = match (&args.app_archive, &args.app_archive_parameter) {
        (Some(url), _) if url.starts_with("s3://") => ArchiveSource::S3(
            url.parse()
                .map_err(|e| Error::Usage(format!("--app-archive ($APP_ARCHIVE): {e}")))?,
        ),
        (Some(path), _) => ArchiveSource::Local(PathBuf::from(path)),
        (None, Some(name)) => ArchiveSource::Parameter(name.clone()),
        (None, None) => unreachable!("reported as missing above"),
    };
    if let ArchiveSource::Local(path) = &archive {
        local_archive(
            &path.to_string_lossy(),
            "--app-archive",
            "APP_ARCHIVE",
            "a local path",
        )?;
    }
    Ok(archive)
}

fn validate(args: ValidateArgs, shutdown: &Shutdown) -> Result<Report> {
    let codedeploy_dir = args.common.codedeploy_dir();
    if let Some(path) = &args.app_archive {
        local_archive(
            &path.to_string_lossy(),
            "--app-archive",
            "APP_ARCHIVE",
            "validate reads local files only (download it first, or run deploy --no-deploy)",
        )?;
    }
    let check = || {
        revision::check(
            &codedeploy_dir,
            args.app_archive.as_deref(),
            args.common.rules(),
            shutdown.cancel(),
        )
    };
    let checked = match &args.app_archive {
        Some(archive) => crate::base::progress::while_reading(
            format!("checking {}", archive.display()),
            archive,
            shutdown.cancel(),
            check,
        ),
        None => check(),
    }?;
    if checked.diags.has_errors() {
        return Err(Error::Invalid(checked.diags));
    }
    Ok(Report::Validate {
        status: "valid",
        entries: revision::counts(&checked),
        codedeploy_dir,
        app_archive: args.app_archive,
        warnings: checked.diags,
    })
}

/// `history`: ListDeployments (every page), BatchGetDeployments (25 at a time), then a
/// HeadObject per bundle shown (and with `--timings`, ListDeploymentTargets and
/// BatchGetDeploymentTargets per deployment shown).
async fn history(args: HistoryArgs, shutdown: &Shutdown) -> Result<Report> {
    let since = args
        .since
        .as_deref()
        .map(|text| {
            DateTime::from_str(text, Format::DateTime).map_err(|_| {
                Error::Usage(format!(
                    "--since '{text}' is not an ISO 8601 time (e.g. 2026-11-01T00:00:00Z)"
                ))
            })
        })
        .transpose()?;
    let clients = aws::clients(args.regions.region, args.regions.deploy_region).await?;
    let deployments = crate::commands::history::run(
        &clients,
        &args.group.application,
        &args.group.deployment_group,
        args.limit as usize,
        since,
        args.timings,
        shutdown,
    )
    .await?;
    Ok(Report::History {
        status: "ok",
        application: args.group.application,
        deployment_group: args.group.deployment_group,
        deployments,
    })
}

/// The configuration of a run that deploys a bundle already in S3 (rollback, promote):
/// nothing is built or uploaded, and its trigger time is now.
struct Redeploy {
    application: String,
    group: String,
    bucket: String,
    prefix: String,
    kms_key_id: Option<String>,
    wait: crate::app::cli::WaitArgs,
    ignore_alarms: bool,
}

fn redeploy_config(r: Redeploy) -> DeployConfig {
    DeployConfig {
        archive: ArchiveSource::Local(PathBuf::new()),
        rules: crate::rules::Rules::default(),
        codedeploy_dir: PathBuf::new(),
        bucket: r.bucket,
        prefix: r.prefix,
        kms_key_id: r.kms_key_id,
        application: r.application,
        group: r.group,
        deployment_config: None,
        file_exists_behavior: None,
        ignore_application_stop_failures: false,
        if_busy: r.wait.if_busy,
        wait_timeout: (!r.wait.no_wait).then_some(r.wait.wait_timeout),
        busy_timeout: r.wait.wait_timeout,
        poll_interval: r.wait.poll_interval,
        wait_for: r.wait.wait_for,
        schedule: crate::deployment::window::Schedule::default(),
        if_outside_window: deployment::IfOutsideWindow::Wait,
        green_fleet_tags: Vec::new(),
        commit: crate::deployment::CommitInfo::default(),
        build_id: None,
        build_arn: None,
        preflight: false,
        ignore_alarms: r.ignore_alarms,
        trigger_time: DateTime::from(std::time::SystemTime::now()),
        mtime: 0,
        upload: aws::s3::UploadSettings::default(),
        upload_mode: deployment::UploadMode::Put,
        export_file: None,
        work_dir: std::env::temp_dir(),
    }
}

/// `promote`: clients for the first group's region and, when it differs, the second's.
async fn promote(args: PromoteArgs, shutdown: &Shutdown) -> Result<Report> {
    let source = aws::clients(args.regions.region.clone(), args.regions.deploy_region).await?;
    let target = match &args.to_region {
        Some(region) if *region != source.deploy_region => {
            if args.to_bucket.is_none() {
                return Err(Error::Usage(format!(
                    "--to-region {region} needs --to-bucket ($PROMOTE_TO_BUCKET): a bucket in {region} to copy the bundle to (CodeDeploy needs the revision in the instances' region)"
                )));
            }
            aws::clients(args.regions.region, Some(region.clone())).await?
        }
        _ => source.clone(),
    };
    let from = crate::commands::promote::Source {
        application: args.application.clone(),
        group: args.from_group,
        deployment: args.deployment,
    };
    let config = redeploy_config(Redeploy {
        application: args.to_application.unwrap_or(args.application),
        group: args.to_group,
        bucket: args.to_bucket.unwrap_or_default(),
        prefix: args.artifact_prefix,
        kms_key_id: args.to_kms_key_id,
        wait: args.wait,
        ignore_alarms: args.ignore_alarms,
    });
    let result = crate::commands::promote::run(&source, &target, &from, &config, shutdown)
        .await
        .map(|o| Report::Promote(Box::new(o)));
    told(
        "promote",
        &config,
        &target,
        args.notify.notify_topic.as_deref(),
        &result,
        shutdown,
    )
    .await;
    result
}

/// The configuration and clients of a run that deploys in one group what is already there.
async fn in_group(a: InGroupArgs, ignore_alarms: bool) -> Result<(DeployConfig, aws::Clients)> {
    let config = redeploy_config(Redeploy {
        application: a.group.application,
        group: a.group.deployment_group,
        bucket: String::new(),
        prefix: a.artifact_prefix,
        kms_key_id: None,
        wait: a.wait,
        ignore_alarms,
    });
    let clients = aws::clients(a.regions.region, a.regions.deploy_region).await?;
    Ok((config, clients))
}

/// `rollback`: see [`crate::commands::rollback`].
async fn rollback(args: RollbackArgs, shutdown: &Shutdown) -> Result<Report> {
    let topic = args.in_group.notify.notify_topic.clone();
    let (config, clients) = in_group(args.in_group, args.ignore_alarms).await?;
    let result = crate::commands::rollback::run(&clients, &config, args.to.as_deref(), shutdown)
        .await
        .map(|o| Report::Rollback(Box::new(o)));
    told(
        "rollback",
        &config,
        &clients,
        topic.as_deref(),
        &result,
        shutdown,
    )
    .await;
    result
}

/// `restart`: see [`crate::commands::restart`].
async fn restart(args: RestartArgs, shutdown: &Shutdown) -> Result<Report> {
    let topic = args.in_group.notify.notify_topic.clone();
    let (config, clients) = in_group(args.in_group, false).await?;
    let result = crate::commands::restart::run(&clients, &config, shutdown)
        .await
        .map(|o| Report::Restart(Box::new(o)));
    told(
        "restart",
        &config,
        &clients,
        topic.as_deref(),
        &result,
        shutdown,
    )
    .await;
    result
}

/// `status`: the newest successful, active and failed deployments of the group.
async fn status(args: StatusArgs, shutdown: &Shutdown) -> Result<Report> {
    let clients = aws::clients(args.regions.region, args.regions.deploy_region).await?;
    let status = crate::commands::status::run(
        &clients,
        &args.group.application,
        &args.group.deployment_group,
        shutdown,
    )
    .await?;
    Ok(Report::Status {
        status: "ok",
        application: args.group.application,
        deployment_group: args.group.deployment_group,
        group: Box::new(status),
    })
}
