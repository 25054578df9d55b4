//! Runs one command: resolves the configuration the rest of the program sees, then checks,
//! builds and (in a later step) deploys.

use crate::cli::{Command, DeployArgs, ValidateArgs};
use crate::error::{Error, Result};
use crate::output::Report;
use crate::revision;

/// Runs a parsed command line.
pub async fn run(command: Command) -> Result<Report> {
    match command {
        Command::Deploy(args) => deploy(args),
        Command::Validate(args) => validate(args),
    }
}

fn required<T>(value: Option<T>, option: &str, env: &str) -> Result<T> {
    value.ok_or_else(|| Error::Usage(format!("{option} (or ${env}) is required")))
}

fn deploy(args: DeployArgs) -> Result<Report> {
    if !args.no_deploy {
        return Err(Error::Usage(
            "deploying to AWS is not available in this version yet: add --no-deploy \
             (or NO_DEPLOY=true) to build and check the bundle locally"
                .into(),
        ));
    }
    let app_archive = required(args.app_archive, "--app-archive", "APP_ARCHIVE")?;
    let bundle_out = required(args.bundle_out, "--bundle-out", "BUNDLE_OUT")?;
    eprintln!(
        "checking {} with {}",
        app_archive.display(),
        args.common.codedeploy_dir.display()
    );
    let checked = revision::check(&args.common.codedeploy_dir, Some(&app_archive))?;
    if checked.diags.has_errors() {
        return Err(Error::Invalid(checked.diags));
    }
    eprintln!("writing {}", bundle_out.display());
    let bundle = revision::write_bundle(&checked, &bundle_out, args.source_date_epoch)?;
    Ok(Report::Deploy {
        status: "built",
        bundle,
        warnings: checked.diags,
    })
}

fn validate(args: ValidateArgs) -> Result<Report> {
    let checked = revision::check(&args.common.codedeploy_dir, args.app_archive.as_deref())?;
    if checked.diags.has_errors() {
        return Err(Error::Invalid(checked.diags));
    }
    Ok(Report::Validate {
        status: "valid",
        entries: revision::counts(&checked),
        codedeploy_dir: args.common.codedeploy_dir,
        app_archive: args.app_archive,
        warnings: checked.diags,
    })
}
