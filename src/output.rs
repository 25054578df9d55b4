//! What the user reads: the summary on stdout (text or JSON), problems on stderr.

use crate::cli::OutputFormat;
use crate::diag::Diagnostics;
use crate::error::Error;
use crate::revision::{BundleInfo, EntryCounts};
use serde::Serialize;
use std::path::PathBuf;

/// The result of a successful command.
#[derive(Debug, Serialize)]
#[serde(tag = "command", rename_all = "lowercase")]
pub enum Report {
    Deploy {
        status: &'static str,
        bundle: BundleInfo,
        warnings: Diagnostics,
    },
    #[serde(rename = "deploy")]
    Deployment(Box<crate::deploy::DeployOutcome>),
    Validate {
        status: &'static str,
        codedeploy_dir: PathBuf,
        app_archive: Option<PathBuf>,
        entries: EntryCounts,
        warnings: Diagnostics,
    },
    History {
        status: &'static str,
        application: String,
        deployment_group: String,
        deployments: Vec<crate::history::Entry>,
    },
    Rollback(Box<crate::rollback::RollbackOutcome>),
    Promote(Box<crate::promote::PromoteOutcome>),
    Status {
        status: &'static str,
        application: String,
        deployment_group: String,
        #[serde(flatten)]
        group: Box<crate::history::GroupStatus>,
    },
}

impl Report {
    fn warnings(&self) -> &Diagnostics {
        match self {
            Report::Deploy { warnings, .. } | Report::Validate { warnings, .. } => warnings,
            Report::Deployment(outcome) => &outcome.warnings,
            Report::History { .. }
            | Report::Status { .. }
            | Report::Rollback(_)
            | Report::Promote(_) => {
                static NONE: std::sync::OnceLock<Diagnostics> = std::sync::OnceLock::new();
                NONE.get_or_init(Diagnostics::default)
            }
        }
    }
}

pub fn print_report(report: &Report, format: OutputFormat) {
    for w in report.warnings().iter() {
        eprintln!("warning: {w}");
    }
    match format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(report).expect("reports serialize")
        ),
        OutputFormat::Text => print!("{}", text(report)),
    }
}

fn text(report: &Report) -> String {
    let warnings = report.warnings().warnings().count();
    match report {
        Report::Deploy { status, bundle, .. } => format!(
            "status      {status}\nbundle      {}\ntype        {}\nsize        {} bytes\nsha256      {}\nentries     {} app, {} CodeDeploy, {} overridden\nmerge       {}\nwarnings    {warnings}\n",
            bundle.path.display(),
            bundle.bundle_type.as_str(),
            bundle.size_bytes,
            bundle.sha256,
            bundle.entries.app,
            bundle.entries.codedeploy,
            bundle.entries.overridden,
            match bundle.merge {
                crate::bundle::MergeMode::Append => "append (the release's bytes kept, CodeDeploy files after them)",
                crate::bundle::MergeMode::Override => "override (the release's bytes kept, CodeDeploy files after them replace release entries)",
                crate::bundle::MergeMode::ReEncode => "re-encode (a hard link to a replaced path: the stream rewritten, CodeDeploy files replace release entries)",
            },
        ),
        Report::Deployment(o) => {
            let mut text = format!(
                "status      {}\ndeployment  {}\nfinal       {}\nrevision    {}\napp archive {}\ntype        {}\nsize        {} bytes\nsha256      {}\nentries     {} app, {} CodeDeploy, {} overridden\nmerge       {}\n",
                o.status.as_str(),
                o.deployment_id.as_deref().unwrap_or("-"),
                o.final_status.as_deref().unwrap_or("-"),
                o.revision.as_deref().unwrap_or("-"),
                o.app_archive,
                o.bundle.bundle_type.as_str(),
                o.bundle.size_bytes,
                o.bundle.sha256,
                o.bundle.entries.app,
                o.bundle.entries.codedeploy,
                o.bundle.entries.overridden,
                o.bundle.merge.as_str(),
            );
            if let Some(newer) = &o.superseded_by {
                text.push_str(&format!("superseded  by deployment {newer}\n"));
            }
            let steps: Vec<String> = o.steps.iter().map(|s| format!("{} {:.1}s", s.step, s.seconds)).collect();
            text.push_str(&format!("steps       {}\nwarnings    {warnings}\n", steps.join(", ")));
            text
        }
        Report::Validate {
            status,
            codedeploy_dir,
            app_archive,
            entries,
            ..
        } => format!(
            "status      {status}\ncodedeploy  {}\napp archive {}\nentries     {} app, {} CodeDeploy, {} overridden\nwarnings    {warnings}\n",
            codedeploy_dir.display(),
            app_archive
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(not given)".into()),
            entries.app,
            entries.codedeploy,
            entries.overridden,
        ),
        Report::History {
            application,
            deployment_group,
            deployments,
            ..
        } => {
            if deployments.is_empty() {
                return format!("no deployments in {application}/{deployment_group}\n");
            }
            let mut text = String::new();
            for entry in deployments {
                text.push_str(&crate::history::line(entry));
                text.push('\n');
            }
            text
        }
        Report::Status { group, .. } => crate::history::status_text(group),
        Report::Promote(o) => {
            let mut text = format!(
                "status      {}\npromoted    {} -> {}/{}\nrevision    {}{}{}\nsha256      {}\ncommit      {}\nbuild       {}\n",
                o.status.as_str(),
                o.promoted_from,
                o.to_application,
                o.to_group,
                o.revision,
                o.revision_version_id
                    .as_deref()
                    .map(|v| format!(" (version {v})"))
                    .unwrap_or_default(),
                if o.copied { " (copied, checked)" } else { "" },
                o.sha256.as_deref().unwrap_or("-"),
                o.commit.as_deref().unwrap_or("-"),
                o.build.as_deref().unwrap_or("-"),
            );
            if let Some(id) = &o.deployment_id {
                text.push_str(&format!("deployment  {id}\n"));
            }
            if let Some(newer) = &o.superseded_by {
                text.push_str(&format!("superseded  by deployment {newer}\n"));
            }
            text
        }
        Report::Rollback(o) => {
            let mut text = format!(
                "status      {}\nrollback of {}\nreplaced    {}\nrevision    {}{}\ncommit      {}\nbuild       {}\n",
                o.status.as_str(),
                o.rollback_of,
                o.replaced.as_deref().unwrap_or("-"),
                o.revision,
                o.revision_version_id
                    .as_deref()
                    .map(|v| format!(" (version {v})"))
                    .unwrap_or_default(),
                o.commit.as_deref().unwrap_or("-"),
                o.build.as_deref().unwrap_or("-"),
            );
            if let Some(id) = &o.deployment_id {
                text.push_str(&format!("deployment  {id}\n"));
            }
            if let Some(newer) = &o.superseded_by {
                text.push_str(&format!("superseded  by deployment {newer}\n"));
            }
            text
        }
    }
}

#[derive(Serialize)]
struct ErrorReport<'a> {
    status: &'static str,
    exit_code: u8,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    problems: Option<&'a Diagnostics>,
}

/// Prints a failure: every problem on stderr, one per line; with JSON output, also a
/// machine-readable record on stdout.
pub fn print_error(error: &Error, format: OutputFormat) {
    let problems = match error {
        Error::Invalid(diags) => {
            for d in diags.iter() {
                let tag = match d.severity {
                    crate::diag::Severity::Error => "error",
                    crate::diag::Severity::Warning => "warning",
                };
                eprintln!("{tag}: {d}");
            }
            eprintln!("invisible-pipeline: {error}; nothing was written");
            Some(diags)
        }
        _ => {
            let mut message = format!("invisible-pipeline: error: {error}");
            // AWS errors are one line of ours; the SDK's chain (long, with headers) only
            // for those who ask for it.
            let chain =
                !matches!(error, Error::Aws { .. }) || std::env::var_os("RUST_LOG").is_some();
            let mut source = std::error::Error::source(error).filter(|_| chain);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            None
        }
    };
    if format == OutputFormat::Json {
        let report = ErrorReport {
            status: "failed",
            exit_code: error.exit_code(),
            message: error.to_string(),
            problems,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("reports serialize")
        );
    }
}
