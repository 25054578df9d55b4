//! Snapshots of what people read: `--help`, the text summary, the JSON envelope (insta). A
//! change to any of them shows as a diff to review (`cargo insta review`, or
//! `INSTA_UPDATE=always cargo test` and a look at the diff); CI never rewrites them.
//!
//! The binary's environment is emptied but for PATH, so that neither CI's AWS variables nor a
//! developer's profile can change a snapshot; temporary paths and hashes are filtered.

use crate::support::fixtures::*;
use assert_cmd::Command;
use std::fs;
use std::path::Path;

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("invisible-pipeline").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("COLUMNS", "100");
    cmd
}

fn stdout_of(cmd: &mut Command) -> String {
    String::from_utf8(cmd.output().unwrap().stdout).unwrap()
}

/// Settings that replace `dir` (a temporary folder) with `[TMP]`, and SHA-256 values.
fn filtered(dir: &Path) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&dir.display().to_string()), "[TMP]");
    settings.add_filter(r"[0-9a-f]{64}", "[SHA256]");
    settings.add_filter(r"\.invisible-pipeline-[A-Za-z0-9]+", "[PARTIAL]");
    settings
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[test]
fn help_of_every_command() {
    insta::assert_snapshot!("help", stdout_of(bin().arg("--help")));
    for command in [
        "deploy",
        "validate",
        "history",
        "status",
        "rollback",
        "promote",
        "restart",
        "completions",
    ] {
        insta::assert_snapshot!(
            format!("help_{command}"),
            stdout_of(bin().args([command, "--help"]))
        );
    }
}

/// The help text is the same whatever the environment holds: values are never shown.
#[test]
fn help_never_shows_environment_values() {
    let clean = stdout_of(bin().args(["deploy", "--help"]));
    let with_env = stdout_of(
        bin()
            .args(["deploy", "--help"])
            .env("AWS_REGION", "ap-southeast-7")
            .env("ARTIFACT_BUCKET", "secret-bucket-name"),
    );
    assert_eq!(clean, with_env);
    assert!(!with_env.contains("secret-bucket-name"));
}

fn sample(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let archive = dir.join("app.tar.gz");
    fs::write(&archive, app_tar().end().gz()).unwrap();
    (archive, codedeploy_dir(dir))
}

#[test]
fn dry_run_summary_in_text_and_json() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, cd) = sample(tmp.path());
    let run = |format: &str| {
        stdout_of(
            bin()
                .args(["deploy", "--no-deploy", "--output", format, "--app-archive"])
                .arg(&archive)
                .arg("--codedeploy-dir")
                .arg(&cd)
                .arg("--bundle-out")
                .arg(tmp.path().join("bundle.tgz")),
        )
    };
    filtered(tmp.path()).bind(|| {
        insta::assert_snapshot!("dry_run_text", run("text"));
        insta::assert_snapshot!("dry_run_json", run("json"));
    });
}

#[test]
fn validate_failure_in_json() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    fs::write(
        cd.join("appspec.yml"),
        APPSPEC.replace("BeforeInstall", "BeforeInstal"),
    )
    .unwrap();
    let out = stdout_of(
        bin()
            .args(["validate", "--output", "json", "--codedeploy-dir"])
            .arg(&cd),
    );
    filtered(tmp.path()).bind(|| insta::assert_snapshot!("validate_failure_json", out));
}

#[test]
fn usage_error_in_json() {
    let out = stdout_of(bin().args(["deploy", "--output", "json", "--no-deploy"]));
    insta::assert_snapshot!("usage_error_json", out);
}
