//! What the user reads: the summary on stdout (text or JSON), problems on stderr.

use crate::base::diag::Diagnostics;
use crate::base::error::{exit, Error};
use crate::base::term::{say_line, settings, warnings_shown};
use crate::revision::{BundleInfo, EntryCounts};
use serde::Serialize;
use std::io::{self, Write};
use std::path::PathBuf;

/// How the summary is written (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

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
    Deployment(Box<crate::commands::deploy::DeployOutcome>),
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
        deployments: Vec<crate::deployment::record::Entry>,
    },
    Rollback(Box<crate::commands::rollback::RollbackOutcome>),
    Restart(Box<crate::commands::restart::RestartOutcome>),
    Promote(Box<crate::commands::promote::PromoteOutcome>),
    Status {
        status: &'static str,
        application: String,
        deployment_group: String,
        #[serde(flatten)]
        group: Box<crate::deployment::record::GroupStatus>,
    },
    /// `completions`, `man`: the generated text, written as it is.
    #[serde(skip)]
    Generated(Vec<u8>),
}

impl Report {
    fn warnings(&self) -> &Diagnostics {
        match self {
            Report::Deploy { warnings, .. } | Report::Validate { warnings, .. } => warnings,
            Report::Deployment(outcome) => &outcome.warnings,
            Report::History { .. }
            | Report::Generated(_)
            | Report::Status { .. }
            | Report::Rollback(_)
            | Report::Restart(_)
            | Report::Promote(_) => {
                static NONE: std::sync::OnceLock<Diagnostics> = std::sync::OnceLock::new();
                NONE.get_or_init(Diagnostics::default)
            }
        }
    }
}

/// Every command's JSON: the same envelope. `status` is the command's (`ok`, `succeeded`,
/// `created`, `superseded`, `failed`, ...), `problems` its warnings or, on failure, what went
/// wrong, `result` what the command produced (`null` on failure).
#[derive(Serialize)]
struct Envelope {
    command: String,
    status: serde_json::Value,
    exit_code: u8,
    problems: serde_json::Value,
    result: serde_json::Value,
}

fn envelope(report: &Report) -> Envelope {
    let mut value = serde_json::to_value(report).expect("reports serialize");
    let object = value.as_object_mut().expect("a report is an object");
    let command = object
        .remove("command")
        .and_then(|c| c.as_str().map(str::to_string))
        .unwrap_or_default();
    let status = object
        .remove("status")
        .unwrap_or_else(|| serde_json::Value::from("ok"));
    let problems = object
        .remove("warnings")
        .unwrap_or_else(|| serde_json::Value::Array(Vec::new()));
    Envelope {
        command,
        status,
        exit_code: 0,
        problems,
        result: value,
    }
}

/// Writes `bytes` to stdout: the one place the program writes there.
fn emit(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// Writes a JSON document and its newline to stdout.
fn emit_json(value: &impl Serialize) -> io::Result<()> {
    let mut text = serde_json::to_string_pretty(value).expect("reports serialize");
    text.push('\n');
    emit(text.as_bytes())
}

/// The exit code of a run whose outcome was `code`, once its summary was written: a closed
/// stdout (`| head`) ends a successful run quietly with 128 + SIGPIPE, as a shell expects of a
/// writer; any other failure to write it is said on stderr and is an I/O failure.
pub fn exit_code_after(written: io::Result<()>, code: u8) -> u8 {
    match written {
        Ok(()) => code,
        // A run that failed keeps its own code: its problems were said on stderr.
        Err(_) if code != 0 => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => exit::BROKEN_PIPE,
        Err(e) => {
            say_line(&format!(
                "invisible-pipeline: error: cannot write the summary to stdout: {e}"
            ));
            exit::IO
        }
    }
}

/// Prints the summary of a successful command on stdout (its warnings on stderr first).
pub fn print_report(report: &Report, format: OutputFormat) -> io::Result<()> {
    if let Report::Generated(bytes) = report {
        return emit(bytes);
    }
    if !warnings_shown() {
        for w in report.warnings().iter() {
            say_line(&w.for_terminal());
        }
    }
    match format {
        OutputFormat::Json => emit_json(&envelope(report)),
        OutputFormat::Text => emit(text(report).as_bytes()),
    }
}

/// The text summary of a report, as [`print_report`] writes it.
pub fn text(report: &Report) -> String {
    let warnings = report.warnings().warnings().count();
    match report {
        Report::Generated(_) => String::new(),
        Report::Deploy { status, bundle, .. } => dry_run_text(status, bundle, warnings),
        Report::Deployment(o) => deployment_text(o, warnings),
        Report::Validate {
            status,
            codedeploy_dir,
            app_archive,
            entries,
            ..
        } => validate_text(
            status,
            codedeploy_dir,
            app_archive.as_deref(),
            entries,
            warnings,
        ),
        Report::History {
            application,
            deployment_group,
            deployments,
            ..
        } => history_text(application, deployment_group, deployments),
        Report::Status { group, .. } => crate::deployment::record::status_text(group),
        Report::Promote(o) => promote_text(o),
        Report::Rollback(o) => rollback_text(o),
        Report::Restart(o) => restart_text(o),
    }
}

fn dry_run_text(status: &str, bundle: &BundleInfo, warnings: usize) -> String {
    format!(
        "status      {status}\nbundle      {}\ntype        {}\nsize        {} bytes\nsha256      {}\nentries     {} app, {} CodeDeploy, {} overridden\nmerge       {}\nwarnings    {warnings}\n",
        bundle.path.display(),
        bundle.bundle_type.as_str(),
        bundle.size_bytes,
        bundle.sha256,
        bundle.entries.app,
        bundle.entries.codedeploy,
        bundle.entries.overridden,
        bundle.merge_said(),
    )
}

fn deployment_text(o: &crate::commands::deploy::DeployOutcome, warnings: usize) -> String {
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
            o.bundle.merge_said(),
        );
    if let Some(newer) = &o.superseded_by {
        text.push_str(&format!("superseded  by deployment {newer}\n"));
    }
    text.push_str(&commit_lines(&o.commit, o.build.as_deref()));
    for (label, link) in [
        ("console", &o.console.deployment),
        ("build page", &o.console.build),
    ] {
        if let Some(link) = link {
            text.push_str(&format!("{label:<11} {link}\n"));
        }
    }
    let steps: Vec<String> = o
        .steps
        .iter()
        .map(|s| format!("{} {:.1}s", s.step, s.seconds))
        .collect();
    text.push_str(&format!("steps       {}\n", steps.join(", ")));
    text.push_str(&labelled(
        "timeline",
        &crate::deployment::timeline::lines(&o.timeline),
    ));
    text.push_str(&format!("warnings    {warnings}\n"));
    text
}

/// Lines under one label: the first beside it, the others indented under the first.
fn labelled(label: &str, lines: &[String]) -> String {
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        let label = if i == 0 { label } else { "" };
        text.push_str(&format!("{label:<11} {line}\n"));
    }
    text
}

/// The commit of a run, for people: id, then branch, author and subject when known.
fn commit_lines(c: &crate::deployment::CommitInfo, build: Option<&str>) -> String {
    let mut text = format!("commit      {}\n", c.id.as_deref().unwrap_or("-"));
    for (name, value) in [
        ("branch", &c.branch),
        ("author", &c.author),
        ("subject", &c.subject),
    ] {
        if let Some(value) = value {
            text.push_str(&format!("{name:<11} {value}\n"));
        }
    }
    text.push_str(&format!("build       {}\n", build.unwrap_or("-")));
    text
}

fn validate_text(
    status: &str,
    codedeploy_dir: &std::path::Path,
    app_archive: Option<&std::path::Path>,
    entries: &EntryCounts,
    warnings: usize,
) -> String {
    format!(
        "status      {status}\ncodedeploy  {}\napp archive {}\nentries     {} app, {} CodeDeploy, {} overridden\nwarnings    {warnings}\n",
        codedeploy_dir.display(),
        app_archive
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(not given)".into()),
        entries.app,
        entries.codedeploy,
        entries.overridden,
    )
}

fn history_text(
    application: &str,
    deployment_group: &str,
    deployments: &[crate::deployment::record::Entry],
) -> String {
    if deployments.is_empty() {
        return format!("no deployments in {application}/{deployment_group}\n");
    }
    let mut text = String::new();
    for entry in deployments {
        text.push_str(&crate::deployment::record::line(entry));
        text.push('\n');
        for line in entry
            .timings
            .iter()
            .flat_map(crate::deployment::timeline::timings_lines)
        {
            text.push_str(&format!("    {line}\n"));
        }
    }
    text
}

fn promote_text(o: &crate::commands::promote::PromoteOutcome) -> String {
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
    redeployed_lines(&mut text, &o.deployment_id, &o.superseded_by);
    text
}

fn rollback_text(o: &crate::commands::rollback::RollbackOutcome) -> String {
    let mut text = format!(
        "status      {}\nrollback of {}\nreplaced    {}\n",
        o.status.as_str(),
        o.rollback_of,
        o.replaced.as_deref().unwrap_or("-"),
    );
    revision_lines(
        &mut text,
        Some(&o.revision),
        &o.revision_version_id,
        &o.commit,
        &o.build,
    );
    redeployed_lines(&mut text, &o.deployment_id, &o.superseded_by);
    text
}

fn restart_text(o: &crate::commands::restart::RestartOutcome) -> String {
    let mut text = format!(
        "status      {}\nrestart of  {}\n",
        o.status.as_str(),
        o.restart_of
    );
    revision_lines(
        &mut text,
        o.revision.as_deref(),
        &o.revision_version_id,
        &o.commit,
        &o.build,
    );
    redeployed_lines(&mut text, &o.deployment_id, &o.superseded_by);
    text
}

/// The revision a rollback or restart deploys again, with its version, commit and build.
fn revision_lines(
    text: &mut String,
    revision: Option<&str>,
    version: &Option<String>,
    commit: &Option<String>,
    build: &Option<String>,
) {
    text.push_str(&format!(
        "revision    {}{}\ncommit      {}\nbuild       {}\n",
        revision.unwrap_or("-"),
        version
            .as_deref()
            .map(|v| format!(" (version {v})"))
            .unwrap_or_default(),
        commit.as_deref().unwrap_or("-"),
        build.as_deref().unwrap_or("-"),
    ));
}

/// The deployment a rollback or promotion created, and the newer one that superseded it.
fn redeployed_lines(
    text: &mut String,
    deployment_id: &Option<String>,
    superseded_by: &Option<String>,
) {
    if let Some(id) = deployment_id {
        text.push_str(&format!("deployment  {id}\n"));
    }
    if let Some(newer) = superseded_by {
        text.push_str(&format!("superseded  by deployment {newer}\n"));
    }
}

/// Prints a failure: every problem on stderr, one per line; with JSON output, also a
/// machine-readable record on stdout.
pub fn print_error(command: &str, error: &Error, format: OutputFormat) -> io::Result<()> {
    let problems = match error {
        Error::Invalid(diags) => {
            for d in diags.iter() {
                say_line(&d.for_terminal());
            }
            say_line(&format!("invisible-pipeline: {error}; nothing was written"));
            Some(diags)
        }
        _ => {
            let mut message = format!("invisible-pipeline: error: {error}");
            // AWS errors are one line of ours; the SDK's chain (long, with headers) only
            // for those who ask for it.
            let chain = !matches!(error, Error::Aws { .. })
                || settings().verbose
                || std::env::var_os("RUST_LOG").is_some();
            let mut source = std::error::Error::source(error).filter(|_| chain);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            say_line(&message);
            None
        }
    };
    if format == OutputFormat::Json {
        let problems = match problems {
            Some(diags) => serde_json::to_value(diags).expect("diagnostics serialize"),
            None => serde_json::json!([{
                "severity": "error",
                "location": error_location(error),
                "message": error.to_string(),
            }]),
        };
        let result = failure_result(error);
        let report = Envelope {
            command: command.to_string(),
            status: serde_json::Value::from("failed"),
            exit_code: error.exit_code(),
            problems,
            result,
        };
        emit_json(&report)?;
    }
    Ok(())
}

/// The `result` of a failure's JSON envelope: a deployment that exists (it failed, or the run
/// gave up waiting for it or for the group) by its id, for the next step of a script, with the
/// alarms that stopped it.
fn failure_result(error: &Error) -> serde_json::Value {
    match error {
        Error::DeploymentFailed {
            deployment_id,
            alarms,
            ..
        } if !alarms.is_empty() => {
            serde_json::json!({ "deployment_id": deployment_id, "stopped_by_alarms": alarms })
        }
        Error::Busy { deployment_id, .. }
        | Error::BusyTimeout { deployment_id, .. }
        | Error::DeploymentFailed { deployment_id, .. }
        | Error::WaitTimeout { deployment_id, .. } => {
            serde_json::json!({ "deployment_id": deployment_id })
        }
        _ => serde_json::Value::Null,
    }
}

/// The JSON envelope of a failure that is not an [`Error`] (a command-line error that clap
/// found).
pub(crate) fn print_failure_json(
    command: &str,
    exit_code: u8,
    location: &str,
    message: &str,
) -> io::Result<()> {
    let report = Envelope {
        command: command.to_string(),
        status: serde_json::Value::from("failed"),
        exit_code,
        problems: serde_json::json!([{
            "severity": "error",
            "location": location,
            "message": message,
        }]),
        result: serde_json::Value::Null,
    };
    emit_json(&report)
}

/// What a failure is about, for the `location` of its problem: the AWS operation, the file,
/// or the command line.
fn error_location(error: &Error) -> String {
    match error {
        Error::Aws { operation, .. } => (*operation).to_string(),
        Error::Io { path, .. } => path.display().to_string(),
        Error::Usage(_) => "command line".to_string(),
        Error::Busy { deployment_id, .. }
        | Error::BusyTimeout { deployment_id, .. }
        | Error::DeploymentFailed { deployment_id, .. }
        | Error::WaitTimeout { deployment_id, .. } => format!("deployment {deployment_id}"),
        Error::Refused(_) => "revision".to_string(),
        Error::OutsideWindow { .. } => "deployment window".to_string(),
        Error::Interrupted(signal) => (*signal).to_string(),
        Error::Invalid(_) => "input".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::error::AlarmSeen;

    #[test]
    fn a_stop_by_alarms_names_them_in_the_json_result() {
        let err = Error::DeploymentFailed {
            deployment_id: "d-7Q2X".into(),
            status: "was stopped by CloudWatch alarm web-5xx".into(),
            details: Vec::new(),
            alarms: vec![AlarmSeen {
                name: "web-5xx".into(),
                state: Some("ALARM".into()),
                reason: Some("Threshold Crossed".into()),
                since: Some("2026-12-07T10:02:00Z".into()),
            }],
        };
        assert_eq!(
            failure_result(&err),
            serde_json::json!({
                "deployment_id": "d-7Q2X",
                "stopped_by_alarms": [{
                    "name": "web-5xx",
                    "state": "ALARM",
                    "reason": "Threshold Crossed",
                    "since": "2026-12-07T10:02:00Z"
                }]
            })
        );
        let plain = Error::DeploymentFailed {
            deployment_id: "d-1".into(),
            status: "failed".into(),
            details: Vec::new(),
            alarms: Vec::new(),
        };
        assert_eq!(
            failure_result(&plain),
            serde_json::json!({ "deployment_id": "d-1" })
        );
    }
}
