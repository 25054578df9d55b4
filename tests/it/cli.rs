//! The command line: options and their environment variables, exit codes, output formats.

use crate::support::fixtures::*;
use assert_cmd::Command;
use sha2::{Digest, Sha256};
use std::fs;

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("invisible-pipeline").unwrap();
    for var in [
        "APP_ARCHIVE",
        "BUNDLE_OUT",
        "CODEDEPLOY_FILES_DIR",
        "CODEBUILD_SRC_DIR",
        "NO_DEPLOY",
        "INVISIBLE_PIPELINE_OUTPUT",
        "SOURCE_DATE_EPOCH",
        // The smoke tests' per-service endpoints (scripts/test) would win over the dead
        // endpoints some tests here name.
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_SSM",
        "AWS_ENDPOINT_URL_KMS",
        "AWS_ENDPOINT_URL_CODEDEPLOY",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Lower-case hex, as the summary prints a SHA-256.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

#[test]
fn deploy_names_every_missing_option_at_once() {
    let a = bin()
        .args(["deploy", "--app-archive", "x.tgz"])
        .assert()
        .code(2);
    assert!(
        stderr(&a).contains("a deploy needs these options: --artifact-bucket ($ARTIFACT_BUCKET), --application ($CODEDEPLOY_APPLICATION), --deployment-group ($CODEDEPLOY_DEPLOYMENT_GROUP)"),
        "{}",
        stderr(&a)
    );
    let a = bin().args(["deploy"]).assert().code(2);
    assert!(
        stderr(&a).contains("--app-archive-parameter ($APP_ARCHIVE_PARAMETER) or --app-archive ($APP_ARCHIVE), --artifact-bucket"),
        "{}",
        stderr(&a)
    );
    let a = bin()
        .args([
            "deploy",
            "--app-archive",
            "s3://Bad_Bucket/x.tgz",
            "--artifact-bucket",
            "b",
            "--application",
            "a",
            "--deployment-group",
            "g",
        ])
        .assert()
        .code(2);
    assert!(
        stderr(&a).contains("not a valid S3 bucket name"),
        "{}",
        stderr(&a)
    );
    let a = bin()
        .args([
            "deploy",
            "--no-deploy",
            "--app-archive",
            "s3://releases/x.tgz",
            "--bundle-out",
            "b.tgz",
        ])
        .assert()
        .code(2);
    assert!(
        stderr(&a).contains("--no-deploy makes no AWS call"),
        "{}",
        stderr(&a)
    );
}

#[test]
fn missing_options_name_option_and_variable() {
    let a = bin()
        .args(["deploy", "--no-deploy", "--bundle-out", "b.tgz"])
        .assert()
        .code(2);
    assert!(
        stderr(&a).contains("--app-archive (or $APP_ARCHIVE) is required"),
        "{}",
        stderr(&a)
    );
    let tmp = tempfile::tempdir().unwrap();
    let a = bin()
        .current_dir(tmp.path())
        .args(["validate"])
        .assert()
        .code(2);
    assert!(
        stderr(&a).contains("CODEDEPLOY_FILES_DIR"),
        "{}",
        stderr(&a)
    );
    bin().args(["deploy", "--output", "yaml"]).assert().code(2);
}

#[test]
fn everything_from_the_environment_with_json_output() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let app = tmp.path().join("release.tar.gz");
    fs::write(&app, app_tar().end().gz()).unwrap();
    let out = tmp.path().join("bundle.tgz");
    let a = bin()
        .env("NO_DEPLOY", "true")
        .env("APP_ARCHIVE", &app)
        .env("CODEDEPLOY_FILES_DIR", &cd)
        .env("BUNDLE_OUT", &out)
        .env("INVISIBLE_PIPELINE_OUTPUT", "json")
        .arg("deploy")
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let bytes = fs::read(&out).unwrap();
    assert_eq!(json["command"], "deploy");
    assert_eq!(
        json["result"]["bundle"]["sha256"],
        hex(&Sha256::digest(&bytes))
    );
    assert_eq!(json["result"]["bundle"]["size_bytes"], bytes.len());
    assert_eq!(json["result"]["bundle"]["bundle_type"], "tgz");
    assert_eq!(json["result"]["bundle"]["merge"], "append");
    assert_eq!(json["result"]["bundle"]["entries"]["app"], 6);
    assert_eq!(json["result"]["bundle"]["entries"]["codedeploy"], 7);
    assert_eq!(json["problems"], serde_json::json!([]));
}

#[test]
fn text_summary_names_path_and_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let app = tmp.path().join("release.tar");
    fs::write(
        &app,
        app_tar()
            .file("scripts/start.sh", b"old", 0o755)
            .end()
            .bytes(),
    )
    .unwrap();
    let out = tmp.path().join("bundle.tar");
    let a = bin()
        .args(["deploy", "--no-deploy", "--app-archive"])
        .arg(&app)
        .arg("--codedeploy-dir")
        .arg(&cd)
        .arg("--bundle-out")
        .arg(&out)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    let hash = hex(&Sha256::digest(fs::read(&out).unwrap()));
    assert!(stdout.contains(&format!("sha256      {hash}")), "{stdout}");
    assert!(stdout.contains("type        tar"), "{stdout}");
    assert!(stdout.contains("merge       override"), "{stdout}");
    assert!(stdout.contains("1 overridden"), "{stdout}");
    assert!(stderr(&a).contains("warning: CodeDeploy_Files/scripts/start.sh: replaces the file"));
}

#[test]
fn invalid_input_in_json_lists_every_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    fs::write(
        cd.join("appspec.yml"),
        "version: 0.0\nos: linux\nhooks:\n  AfterInstal:\n    - location: scripts/start.sh\n",
    )
    .unwrap();
    let a = bin()
        .args(["validate", "--output", "json", "--codedeploy-dir"])
        .arg(&cd)
        .assert()
        .code(3);
    let json: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(json["command"], "validate");
    assert_eq!(json["status"], "failed");
    assert_eq!(json["result"], serde_json::Value::Null);
    assert_eq!(json["exit_code"], 3);
    assert_eq!(
        json["problems"][0]["location"],
        "CodeDeploy_Files/appspec.yml: hooks.AfterInstal"
    );
    assert!(json["problems"][0]["message"]
        .as_str()
        .unwrap()
        .contains("did you mean AfterInstall?"));
    // Structured too, and on stderr in the form problem matchers read.
    assert_eq!(json["problems"][0]["file"], "CodeDeploy_Files/appspec.yml");
    assert_eq!(json["problems"][0]["path"], "hooks.AfterInstal");
    assert!(json["problems"][0]["line"].as_u64().is_some());
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    let line = json["problems"][0]["line"].as_u64().unwrap();
    assert!(
        err.contains(&format!(
            "CodeDeploy_Files/appspec.yml:{line}: error: hooks.AfterInstal: unknown lifecycle event"
        )),
        "{err}"
    );
}

#[test]
fn a_missing_or_mistyped_archive_is_a_usage_error_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let out = tmp.path().join("b.tgz");
    let dry_run = |archive: &str| {
        let mut cmd = bin();
        cmd.args([
            "deploy",
            "--no-deploy",
            "--app-archive",
            archive,
            "--bundle-out",
        ])
        .arg(&out)
        .arg("--codedeploy-dir")
        .arg(&cd);
        cmd
    };
    let a = dry_run("/nonexistent/app.tgz").assert().code(2);
    assert!(
        stderr(&a).contains("--app-archive ($APP_ARCHIVE) /nonexistent/app.tgz: no such file"),
        "{}",
        stderr(&a)
    );
    for (typo, meant) in [
        ("S3://releases/app.tgz", "s3://releases/app.tgz"),
        ("s3:/releases/app.tgz", "s3://releases/app.tgz"),
        (
            "https://releases.s3.ap-southeast-7.amazonaws.com/app.tgz",
            "s3://releases/app.tgz",
        ),
    ] {
        let a = dry_run(typo).assert().code(2);
        assert!(
            stderr(&a).contains(&format!("did you mean {meant}?")),
            "{}",
            stderr(&a)
        );
        // A real deploy says so too, before any AWS call (no region is set here).
        let a = bin()
            .args(["deploy", "--app-archive", typo])
            .env_remove("AWS_REGION")
            .assert()
            .code(2);
        assert!(
            stderr(&a).contains(&format!("did you mean {meant}?")),
            "{}",
            stderr(&a)
        );
    }
    let a = bin()
        .args([
            "validate",
            "--app-archive",
            "s3://releases/app.tgz",
            "--codedeploy-dir",
        ])
        .arg(&cd)
        .assert()
        .code(2);
    assert!(
        stderr(&a).contains("validate reads local files only"),
        "{}",
        stderr(&a)
    );
    assert!(!out.exists());
}

/// --bundle-out never replaces the release nor lands in the CodeDeploy folder; a directory
/// gets bundle.tgz; the file gets the usual umask-derived mode; a mismatched extension warns.
#[test]
fn bundle_out_is_guarded() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let app = tmp.path().join("app.tgz");
    let release = app_tar().end().gz();
    fs::write(&app, &release).unwrap();
    let dry_run = |out: &std::path::Path| {
        let mut cmd = bin();
        cmd.args(["deploy", "--no-deploy", "--app-archive"])
            .arg(&app)
            .arg("--bundle-out")
            .arg(out)
            .arg("--codedeploy-dir")
            .arg(&cd);
        cmd
    };
    let a = dry_run(&app).assert().code(2);
    assert!(
        stderr(&a).contains("is the application archive itself"),
        "{}",
        stderr(&a)
    );
    assert_eq!(fs::read(&app).unwrap(), release);
    let a = dry_run(&cd.join("bundle.tgz")).assert().code(2);
    assert!(
        stderr(&a).contains("inside the CodeDeploy folder"),
        "{}",
        stderr(&a)
    );
    assert!(!cd.join("bundle.tgz").exists());

    let dir = tmp.path().join("out");
    fs::create_dir(&dir).unwrap();
    dry_run(&dir).assert().code(0);
    let written = dir.join("bundle.tgz");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&written).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o644, "umask 022 gives 0644");

    let a = dry_run(&tmp.path().join("bundle.zip")).assert().code(0);
    assert!(stderr(&a).contains("name it .tgz"), "{}", stderr(&a));
}

#[test]
fn appspec_yaml_instead_of_yml() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    fs::rename(cd.join("appspec.yml"), cd.join("appspec.yaml")).unwrap();
    let a = bin()
        .args(["validate", "--codedeploy-dir"])
        .arg(&cd)
        .assert()
        .code(3);
    assert!(
        stderr(&a).contains("only appspec.yaml was found"),
        "{}",
        stderr(&a)
    );
}

#[test]
fn validate_with_archive_checks_the_merge_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let app = tmp.path().join("app.tgz");
    fs::write(
        &app,
        Tar::new().file("web/index.html", b"x", 0o644).end().gz(),
    )
    .unwrap();
    let before: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let a = bin()
        .args(["validate", "--codedeploy-dir"])
        .arg(&cd)
        .arg("--app-archive")
        .arg(&app)
        .assert()
        .code(3);
    assert!(
        stderr(&a).contains("files[0].source: 'site' is not in the bundle"),
        "{}",
        stderr(&a)
    );
    let after: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn help_documents_exit_codes_and_variables() {
    let a = bin().args(["deploy", "--help"]).assert().success();
    // Wrapped to the terminal width: compare with white space folded.
    let help = String::from_utf8_lossy(&a.get_output().stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for needle in [
        "[env: APP_ARCHIVE]",
        "[env: CODEDEPLOY_FILES_DIR]",
        "[env: BUNDLE_OUT]",
        "3 invalid input",
        "7 gave up waiting",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}

#[test]
fn inside_codebuild_the_folder_defaults_to_the_checkout() {
    let tmp = tempfile::tempdir().unwrap();
    codedeploy_dir(tmp.path());
    let elsewhere = tempfile::tempdir().unwrap();
    let a = bin()
        .current_dir(elsewhere.path())
        .env("CODEBUILD_SRC_DIR", tmp.path())
        .args(["validate", "--output", "json"])
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(
        json["result"]["codedeploy_dir"],
        tmp.path().join("CodeDeploy_Files").display().to_string()
    );
}

/// S3 takes parts of at most 5 GiB and single PUTs of at most 5 GiB
/// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
#[test]
fn upload_sizes_beyond_s3_limits_are_usage_errors() {
    for (option, value) in [
        ("--part-size-mib", "5121"),
        ("--part-size-mib", "4"),
        ("--multipart-threshold-mib", "6000"),
    ] {
        let a = bin()
            .args(["deploy", "--app-archive", "x.tgz", option, value])
            .assert()
            .code(2);
        assert!(stderr(&a).contains(option), "{}", stderr(&a));
    }
}

/// What the real agent accepts but fails on at run time, through the binary: warnings, exit 0.
#[test]
fn validate_warns_of_version_0_and_a_runas_without_login_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let appspec = APPSPEC.replacen("version: 0.0", "version: 0", 1).replacen(
        "      timeout: 300\n",
        "      timeout: 300\n      runas: nobody\n",
        1,
    );
    fs::write(cd.join("appspec.yml"), appspec).unwrap();
    let a = bin()
        .args(["validate", "--codedeploy-dir"])
        .arg(&cd)
        .assert()
        .code(0);
    let err = stderr(&a);
    assert!(err.contains("write version: 0.0"), "{err}");
    assert!(err.contains("'nobody' has no login shell"), "{err}");
}

/// `--agent` narrows the rules to the fleet's agent: a hook script without a shebang line
/// fails agent 2.x ("Exec format error") and runs under agent 1.8 (through /bin/sh); a quoted
/// timeout is the other way round. Each message names its agent, in text and JSON.
#[test]
fn agent_scope_decides_what_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let appspec = APPSPEC.replacen("timeout: 300", "timeout: \"300\"", 1);
    fs::write(cd.join("appspec.yml"), appspec).unwrap();
    let hook = cd.join("scripts/install.sh");
    let body = fs::read_to_string(&hook).unwrap();
    let without_shebang: String = body.lines().skip(1).map(|l| format!("{l}\n")).collect();
    fs::write(&hook, without_shebang).unwrap();
    let run = |agent: Option<&str>, env: Option<&str>| {
        let mut cmd = bin();
        cmd.args(["validate", "--output", "json", "--codedeploy-dir"])
            .arg(&cd);
        if let Some(agent) = agent {
            cmd.args(["--agent", agent]);
        }
        if let Some(env) = env {
            cmd.env("CODEDEPLOY_AGENT", env);
        } else {
            cmd.env_remove("CODEDEPLOY_AGENT");
        }
        let out = cmd.output().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            out.status.code(),
            json,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Both agents (the default): both problems are errors, each naming agent 2.x.
    let (code, json, err) = run(None, None);
    assert_eq!(code, Some(3), "{err}");
    let problems = json["problems"].as_array().unwrap();
    let errors: Vec<_> = problems
        .iter()
        .filter(|p| p["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 2, "{json}");
    assert!(errors.iter().all(|e| e["agent"] == "2.x"), "{json}");
    assert!(
        err.contains("Exec format error") && err.contains("[agent 2.x]"),
        "{err}"
    );
    // Agent 1.8 alone: both run; the missing shebang is a warning.
    for (agent, env) in [(Some("1"), None), (None, Some("1"))] {
        let (code, json, err) = run(agent, env);
        assert_eq!(code, Some(0), "{err}");
        assert!(err.contains("agent 1.8 runs it with /bin/sh"), "{err}");
        let problems = json["problems"].as_array().unwrap();
        assert!(
            problems.iter().all(|p| p["severity"] == "warning")
                && problems.iter().any(|w| w["agent"] == "1.8"),
            "{json}"
        );
    }
    // Agent 2.x alone: as with both.
    assert_eq!(run(Some("2"), None).0, Some(3));
    let a = bin().args(["validate", "--agent", "3"]).assert().code(2);
    assert!(
        stderr(&a).contains("possible values: 1, 2, both"),
        "{}",
        stderr(&a)
    );
}

/// `--green-fleet-tag` takes KEY=VALUE; anything else is a usage error naming the option.
#[test]
fn a_green_fleet_tag_without_a_key_is_a_usage_error() {
    let a = bin()
        .args(["deploy", "--green-fleet-tag", "green"])
        .assert()
        .code(2);
    let err = stderr(&a);
    assert!(
        err.contains("--green-fleet-tag") && err.contains("'green' is not an EC2 tag KEY=VALUE"),
        "{err}"
    );
}

/// `--strict-agent`: what agent 2.x's hardening keys refuse is an error before the deploy.
#[test]
fn strict_agent_refuses_what_the_hardening_keys_refuse() {
    let tmp = tempfile::tempdir().unwrap();
    // The fixture's scripts/common.sh is a symlink.
    let cd = codedeploy_dir(tmp.path());
    bin()
        .args(["validate", "--codedeploy-dir"])
        .arg(&cd)
        .assert()
        .code(0);
    let a = bin()
        .args(["validate", "--strict-agent", "--codedeploy-dir"])
        .arg(&cd)
        .assert()
        .code(3);
    let err = stderr(&a);
    assert!(
        err.contains("scripts/common.sh: is a symlink; instances with reject_symlinks_in_bundle: true refuse the bundle")
            && err.contains("[agent 2.x]"),
        "{err}"
    );
}

#[test]
fn a_missing_appspec_names_the_folder_given_and_the_case() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let named = tmp.path().join("deploy-files");
    fs::rename(&cd, &named).unwrap();
    fs::rename(named.join("appspec.yml"), named.join("AppSpec.yml")).unwrap();
    let a = bin()
        .args(["validate", "--codedeploy-dir"])
        .arg(&named)
        .assert()
        .code(3);
    assert!(
        stderr(&a).contains("AppSpec.yml was found, but names are case-sensitive"),
        "{}",
        stderr(&a)
    );
    fs::remove_file(named.join("AppSpec.yml")).unwrap();
    let a = bin()
        .args(["validate", "--codedeploy-dir"])
        .arg(&named)
        .assert()
        .code(3);
    assert!(
        stderr(&a).contains(&format!("add {}", named.join("appspec.yml").display())),
        "{}",
        stderr(&a)
    );
}

/// `--version` names the commit and the target, for a build log to say what ran.
#[test]
fn version_names_commit_and_target() {
    let out = bin().arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.starts_with(&format!(
            "invisible-pipeline {} (commit ",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    assert!(text.contains("-linux-"), "{text}");
}

/// Every command answers `--output json` with the same envelope, also when it fails before
/// any work (a usage error) and for the read-only commands.
#[test]
fn json_output_is_one_envelope_for_every_command_and_outcome() {
    let a = bin()
        .args([
            "history",
            "--application",
            "app",
            "--deployment-group",
            "web",
            "--since",
            "yesterday",
            "--output",
            "json",
        ])
        .assert()
        .code(2);
    let json: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(json["command"], "history");
    assert_eq!(json["status"], "failed");
    assert_eq!(json["exit_code"], 2);
    assert_eq!(json["result"], serde_json::Value::Null);
    assert_eq!(json["problems"][0]["severity"], "error");
    assert!(json["problems"][0]["message"]
        .as_str()
        .unwrap()
        .contains("--since 'yesterday'"));
    let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["command", "exit_code", "problems", "result", "status"]
    );
}

/// A bad value in an environment variable names the variable; one of an option a dry run
/// never reads does not break the dry run.
#[test]
fn environment_values_name_their_variable_and_unused_ones_do_not_break_a_dry_run() {
    let a = bin()
        .env("NO_DEPLOY", "maybe")
        .args(["deploy"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        stderr.contains("invalid value 'maybe' in $NO_DEPLOY"),
        "{stderr}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("app.tar.gz");
    fs::write(&archive, app_tar().end().gz()).unwrap();
    let cd = codedeploy_dir(tmp.path());
    let dry = || {
        let mut cmd = bin();
        cmd.env("WAIT_TIMEOUT", "soon")
            .args(["deploy", "--app-archive"])
            .arg(&archive)
            .arg("--codedeploy-dir")
            .arg(&cd)
            .arg("--bundle-out")
            .arg(tmp.path().join("bundle.tgz"));
        cmd
    };
    let a = dry().arg("--no-deploy").assert().success();
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        stderr.contains("ignoring $WAIT_TIMEOUT=soon: --wait-timeout does not apply"),
        "{stderr}"
    );
    // A real deploy reads it: the same value is an error there, naming the variable.
    let a = dry().assert().code(2);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(stderr.contains("in $WAIT_TIMEOUT"), "{stderr}");
}

/// Without credentials the error is one line with what to do, not the SDK's list of every
/// provider it tried (shown with RUST_LOG).
#[test]
fn missing_credentials_are_one_line_with_the_fix() {
    let a = bin()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("RUST_LOG")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_REGION", "ap-southeast-1")
        // Never reached: the request is not signed without credentials.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .args([
            "status",
            "--application",
            "app",
            "--deployment-group",
            "web",
        ])
        .assert()
        .code(4);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no AWS credentials: set AWS_PROFILE"),
        "{stderr}"
    );
}

/// `-q` leaves warnings, errors and the summary; the progress lines go.
#[test]
fn quiet_keeps_warnings_and_the_summary_only() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("app.tar.gz");
    fs::write(&archive, app_tar().end().gz()).unwrap();
    let cd = codedeploy_dir(tmp.path());
    // version: 0 is accepted by the agent, with a warning.
    fs::write(
        cd.join("appspec.yml"),
        APPSPEC.replace("version: 0.0", "version: 0"),
    )
    .unwrap();
    let run = |quiet: bool| {
        let mut cmd = bin();
        cmd.args(["deploy", "--no-deploy", "--app-archive"])
            .arg(&archive)
            .arg("--codedeploy-dir")
            .arg(&cd)
            .arg("--bundle-out")
            .arg(tmp.path().join("bundle.tgz"));
        if quiet {
            cmd.arg("-q");
        }
        let a = cmd.assert().success();
        let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
        (out, stderr(&a))
    };
    let (out, err) = run(false);
    assert!(
        err.contains("checking ") && err.contains("version"),
        "{err}"
    );
    let (quiet_out, quiet_err) = run(true);
    assert_eq!(out, quiet_out, "the summary stays");
    assert!(!quiet_err.contains("checking "), "{quiet_err}");
    assert!(
        quiet_err.contains("warning:") && quiet_err.contains("version: 0.0"),
        "{quiet_err}"
    );
}

/// `--color always` paints the labels; `never`, and `auto` off a terminal or with NO_COLOR,
/// do not.
#[test]
fn color_paints_error_labels_only_when_asked_or_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    fs::write(
        cd.join("appspec.yml"),
        APPSPEC.replace("BeforeInstall", "BeforeInstal"),
    )
    .unwrap();
    let run = |color: &str, no_color: bool| {
        let mut cmd = bin();
        cmd.args(["validate", "--color", color, "--codedeploy-dir"])
            .arg(&cd);
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        stderr(&cmd.assert().code(3))
    };
    let painted = run("always", false);
    assert!(
        painted.contains("\x1b[1;31merror:\x1b[0m BeforeInstal")
            || painted.contains("\x1b[1;31merror:\x1b[0m hooks.BeforeInstal"),
        "{painted:?}"
    );
    for (color, no_color) in [("never", false), ("auto", false), ("auto", true)] {
        let plain = run(color, no_color);
        assert!(!plain.contains('\x1b'), "{color} {no_color}: {plain:?}");
        assert!(plain.contains("error: hooks.BeforeInstal"), "{plain}");
    }
}

/// Completions and the man page are made from the command-line definition: every command is
/// in them.
#[test]
fn completions_and_man_page_cover_every_command() {
    let bash = bin().args(["completions", "bash"]).assert().success();
    let bash = String::from_utf8_lossy(&bash.get_output().stdout).into_owned();
    for word in [
        "rollback",
        "promote",
        "--upload-mode",
        "--app-archive-parameter",
    ] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    let zsh = bin().args(["completions", "zsh"]).assert().success();
    assert!(
        String::from_utf8_lossy(&zsh.get_output().stdout).contains("#compdef invisible-pipeline")
    );
    let man = bin().arg("man").assert().success();
    let man = String::from_utf8_lossy(&man.get_output().stdout).into_owned();
    assert!(
        man.starts_with(".ie") || man.contains(".TH invisible-pipeline"),
        "{}",
        &man[..200.min(man.len())]
    );
    for page in [
        "invisible-pipeline-deploy",
        "invisible-pipeline-rollback",
        "invisible-pipeline-promote",
    ] {
        assert!(man.contains(&format!(".TH {page}")), "man lacks {page}");
    }
}

/// An AWS error is one line; `-v` (or `--debug`) adds the SDK's chain for those who want it.
#[test]
fn verbose_shows_the_full_chain_of_an_aws_error() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let mut cmd = bin();
        cmd.args([
            "history",
            "--application",
            "app",
            "--deployment-group",
            "web",
            "--region",
            "us-east-1",
        ])
        .args(extra)
        .current_dir(tmp.path())
        // Nothing listens there: a dispatch failure, whose chain the SDK makes long.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("RUST_LOG");
        let a = cmd.assert().code(4);
        stderr(&a)
    };
    let short = run(&[]);
    let long = run(&["--debug"]);
    let error_line = |s: &str| {
        s.lines()
            .find(|l| l.contains("error:"))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        error_line(&long).len() > error_line(&short).len(),
        "short: {short}\nlong: {long}"
    );
    assert_eq!(
        short.lines().filter(|l| l.contains("error:")).count(),
        1,
        "{short}"
    );
}

/// `cmd | head -1`: once the reader has gone, every command ends quietly (no panic, no error
/// line) with 128 + SIGPIPE, as a shell expects of a writer that a closed pipe ended; a run
/// that failed keeps its own exit code, its problems said on stderr.
#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let app = tmp.path().join("release.tar.gz");
    fs::write(&app, app_tar().end().gz()).unwrap();
    let out = tmp.path().join("bundle.tgz");
    let bad = tmp.path().join("bad.tar");
    fs::write(&bad, b"not a tar archive at all").unwrap();
    let env = [("CODEDEPLOY_FILES_DIR", cd.as_path())];
    let dry = |format: &'static str| {
        let mut args = vec!["deploy", "--no-deploy", "--output", format];
        args.extend(["--app-archive", app.to_str().unwrap()]);
        args.extend(["--bundle-out", out.to_str().unwrap()]);
        args
    };
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["--help"], 141),
        (vec!["deploy", "--help"], 141),
        (vec!["--version"], 141),
        (vec!["man"], 141),
        (vec!["completions", "bash"], 141),
        (vec!["validate"], 141),
        (vec!["validate", "--output", "json"], 141),
        (dry("text"), 141),
        (dry("json"), 141),
        (
            vec![
                "validate",
                "--output",
                "json",
                "--app-archive",
                bad.to_str().unwrap(),
            ],
            3,
        ),
        (
            vec![
                "deploy",
                "--no-deploy",
                "--output",
                "json",
                "--app-archiv",
                "x",
            ],
            2,
        ),
    ];
    for (args, code) in cases {
        let (status, stderr) = with_closed_stdout(&args, &env);
        assert_eq!(status, Some(code), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        if code == 141 {
            assert!(!stderr.contains("error"), "{args:?}: {stderr}");
        }
    }
}

/// Without --bundle-out a dry run writes bundle.tgz (or bundle.tar) in the current folder,
/// and says where.
#[test]
fn a_dry_run_without_bundle_out_writes_in_the_current_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let app = tmp.path().join("release.tar");
    fs::write(&app, app_tar().end().bytes()).unwrap();
    let work = tmp.path().join("work");
    fs::create_dir(&work).unwrap();
    let a = bin()
        .current_dir(&work)
        .args(["deploy", "--no-deploy", "--app-archive"])
        .arg(&app)
        .env("CODEDEPLOY_FILES_DIR", &cd)
        .assert()
        .success();
    let said = stderr(&a);
    assert!(
        said.contains("the bundle goes in the current folder"),
        "{said}"
    );
    assert!(said.contains("bundle.tar"), "{said}");
    let (_dir, found) = agent_extract(&work.join("bundle.tar"), false);
    assert!(found.contains_key("appspec.yml"), "{:?}", found.keys());
}
