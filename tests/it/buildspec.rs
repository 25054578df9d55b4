//! The top-level buildspec.yml: the CodeBuild step runs the checked binary, nothing else.

use yaml_rust2::{Yaml, YamlLoader};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn commands(doc: &Yaml, phase: &str) -> Vec<String> {
    doc["phases"][phase]["commands"]
        .as_vec()
        .unwrap_or_else(|| panic!("phase {phase} has no commands"))
        .iter()
        .map(|c| c.as_str().expect("commands are strings").to_string())
        .collect()
}

#[test]
fn buildspec_runs_the_checked_binary_and_exports_its_results() {
    let text = std::fs::read_to_string(format!("{ROOT}/buildspec.yml")).unwrap();
    let doc = &YamlLoader::load_from_str(&text).unwrap()[0];
    assert_eq!(doc["version"].as_f64(), Some(0.2));
    let install = commands(doc, "install");
    assert!(
        install[0].contains("sha256sum --check"),
        "the binary's SHA-256 is checked first: {install:?}"
    );
    let build = commands(doc, "build");
    assert!(
        build
            .iter()
            .any(|c| c.contains("\"$TOOL\" \"${INVISIBLE_PIPELINE_COMMAND:-deploy}\"")),
        "{build:?}"
    );
    let exported: Vec<_> = doc["env"]["exported-variables"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(
        exported,
        ["DEPLOYMENT_ID", "BUNDLE_LOCATION", "BUNDLE_SHA256"]
    );
    // Every exported variable is one the binary writes to its export file.
    let src = std::fs::read_to_string(format!("{ROOT}/src/commands/deploy.rs")).unwrap();
    for var in exported {
        assert!(
            src.contains(&format!("{var}=")),
            "{var} is not written by the binary"
        );
    }
}

#[test]
fn buildspec_has_no_privileged_or_network_installs() {
    let text = std::fs::read_to_string(format!("{ROOT}/buildspec.yml")).unwrap();
    let doc = &YamlLoader::load_from_str(&text).unwrap()[0];
    for phase in ["install", "build"] {
        for command in commands(doc, phase) {
            for banned in [
                "npm install",
                "pip install",
                "sudo",
                "docker",
                "curl",
                "wget",
                "aws s3 cp",
                "yum",
                "dnf",
                "apt",
            ] {
                assert!(
                    !command.contains(banned),
                    "{phase}: '{command}' uses {banned}"
                );
            }
        }
    }
    assert!(doc["phases"]["pre_build"].is_badvalue() && doc["phases"]["post_build"].is_badvalue());
    // The one clone: CodeCommit, through its credential helper, from the project's URL.
    let clones: Vec<_> = commands(doc, "build")
        .into_iter()
        .filter(|c| c.contains("git clone"))
        .collect();
    assert_eq!(clones.len(), 1);
    assert!(clones[0].contains("aws codecommit credential-helper"));
    assert!(clones[0].contains("\"$INVISIBLE_PIPELINE_CLONE_URL\""));
}

/// Runs the build phase's commands as CodeBuild does (one shell, in order) in a checkout that
/// holds a hostile `invisible-pipeline.env`, with a stand-in binary in `mode`; returns the
/// exit status and the exported variables, and whether the hostile file ran.
fn run_build_phase(mode: &str) -> (bool, String, bool) {
    let text = std::fs::read_to_string(format!("{ROOT}/buildspec.yml")).unwrap();
    let doc = &YamlLoader::load_from_str(&text).unwrap()[0];
    let tmp = tempfile::tempdir().unwrap();
    let (checkout, tool, outside) = (
        tmp.path().join("src"),
        tmp.path().join("tool"),
        tmp.path().join("outside"),
    );
    for dir in [&checkout, &tool, &outside] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let pwned = tmp.path().join("pwned");
    let hostile = format!(
        "touch {p}\nDEPLOYMENT_ID=evil\n$(touch {p})\n",
        p = pwned.display()
    );
    // Committed by anyone who can push a branch, and a stale file at the export path.
    std::fs::write(checkout.join("invisible-pipeline.env"), &hostile).unwrap();
    std::fs::write(outside.join("exports.env"), &hostile).unwrap();
    let standin = tool.join("invisible-pipeline");
    std::fs::write(
        &standin,
        format!(
            r#"#!/bin/bash
case "$STANDIN_MODE" in
  deploy) printf 'DEPLOYMENT_ID=d-ABCDEF123\nBUNDLE_LOCATION=s3://art/bundles/app/c0ffee/proj-1.tgz\nBUNDLE_SHA256=%s\n' "$(printf '%064d' 0)" >"$INVISIBLE_PIPELINE_EXPORT_FILE" ;;
  hostile) printf 'DEPLOYMENT_ID=$(touch {p})\n' >"$INVISIBLE_PIPELINE_EXPORT_FILE" ;;
  unknown-key) printf 'BASH_ENV=/tmp/x\n' >"$INVISIBLE_PIPELINE_EXPORT_FILE" ;;
  *) ;; # validate, or a superseded deploy: no deployment, no file
esac
"#,
            p = pwned.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &standin,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut script = String::from("set -e\n");
    script.push_str(&commands(doc, "build").join("\n"));
    script.push_str(
        "\nprintf '%s|%s|%s' \"${DEPLOYMENT_ID:-}\" \"${BUNDLE_LOCATION:-}\" \"${BUNDLE_SHA256:-}\"\n",
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("CODEBUILD_SRC_DIR", &checkout)
        .env("CODEBUILD_SRC_DIR_tool", &tool)
        .env(
            "INVISIBLE_PIPELINE_EXPORT_FILE",
            outside.join("exports.env"),
        )
        .env("STANDIN_MODE", mode)
        .env(
            "INVISIBLE_PIPELINE_COMMAND",
            if mode == "validate" {
                "validate"
            } else {
                "deploy"
            },
        )
        .env_remove("DEPLOYMENT_ID")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        pwned.exists(),
    )
}

#[test]
fn a_committed_or_stale_export_file_never_runs_and_a_deploy_still_exports() {
    for mode in ["validate", "superseded"] {
        let (ok, exported, pwned) = run_build_phase(mode);
        assert!(ok, "{mode}");
        assert!(!pwned, "{mode}: the hostile file ran");
        assert_eq!(exported, "||", "{mode}: nothing exported");
    }
    let (ok, exported, pwned) = run_build_phase("deploy");
    assert!(ok && !pwned);
    assert_eq!(
        exported,
        format!(
            "d-ABCDEF123|s3://art/bundles/app/c0ffee/proj-1.tgz|{}",
            "0".repeat(64)
        )
    );
}

#[test]
fn the_export_file_is_read_strictly() {
    for mode in ["hostile", "unknown-key"] {
        let (ok, _, pwned) = run_build_phase(mode);
        assert!(!ok, "{mode}: a bad export file fails the build");
        assert!(!pwned, "{mode}: its value never runs");
    }
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// With the repository in another region the build clones the pushed commit itself (not the
/// branch head) and runs the binary in that checkout, with its commit id.
#[test]
fn a_cross_region_build_clones_the_pushed_commit() {
    let text = std::fs::read_to_string(format!("{ROOT}/buildspec.yml")).unwrap();
    let doc = &YamlLoader::load_from_str(&text).unwrap()[0];
    let tmp = tempfile::tempdir().unwrap();
    let (repo, src, home) = (
        tmp.path().join("repo"),
        tmp.path().join("src"),
        tmp.path().join("home"),
    );
    for dir in [&repo, &src, &home] {
        std::fs::create_dir_all(dir).unwrap();
    }
    git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::create_dir_all(repo.join("CodeDeploy_Files")).unwrap();
    std::fs::write(repo.join("CodeDeploy_Files/marker"), "pushed").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "pushed"]);
    let pushed = git(&repo, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("CodeDeploy_Files/marker"), "later").unwrap();
    git(&repo, &["commit", "--quiet", "-am", "later"]);
    // The tool is the primary source: the binary sits in CODEBUILD_SRC_DIR.
    let report = tmp.path().join("report");
    std::fs::write(
        src.join("invisible-pipeline"),
        format!(
            "#!/bin/bash\nprintf '%s|%s|%s' \"$PWD\" \"$CODEBUILD_RESOLVED_SOURCE_VERSION\" \"$(cat CodeDeploy_Files/marker)\" >{}\n",
            report.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        src.join("invisible-pipeline"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut script = String::from("set -e\n");
    script.push_str(&commands(doc, "build").join("\n"));
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("HOME", &home)
        .env("CODEBUILD_SRC_DIR", &src)
        .env_remove("CODEBUILD_SRC_DIR_tool")
        .env("CODEBUILD_RESOLVED_SOURCE_VERSION", "s3-object-version")
        .env("INVISIBLE_PIPELINE_CLONE_URL", &repo)
        .env("INVISIBLE_PIPELINE_SOURCE_VERSION", &pushed)
        .env(
            "INVISIBLE_PIPELINE_EXPORT_FILE",
            tmp.path().join("exports.env"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&report).unwrap(),
        format!("{}|{pushed}|pushed", src.join("checkout").display())
    );
    let helper = std::fs::read_to_string(home.join(".gitconfig")).unwrap();
    assert!(
        helper.contains("aws codecommit credential-helper"),
        "{helper}"
    );
}

/// A GitHub webhook build has no event time: the buildspec takes the build's start time
/// (CODEBUILD_START_TIME, milliseconds) as the trigger time; an EventBridge trigger's own time
/// is kept, and a build that is not a webhook's gets none (the binary's default applies).
#[test]
fn a_webhook_build_takes_its_start_time_as_the_trigger_time() {
    let text = std::fs::read_to_string(format!("{ROOT}/buildspec.yml")).unwrap();
    let doc = &YamlLoader::load_from_str(&text).unwrap()[0];
    let snippet = commands(doc, "build")
        .into_iter()
        .find(|c| c.contains("CODEBUILD_WEBHOOK_TRIGGER"))
        .expect("the webhook trigger-time command");
    let run = |vars: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new("bash");
        cmd.arg("-c")
            .arg(format!("{snippet}\necho \"${{PIPELINE_TRIGGER_TIME:-}}\""))
            .env_remove("PIPELINE_TRIGGER_TIME")
            .env_remove("CODEBUILD_WEBHOOK_TRIGGER")
            .env_remove("CODEBUILD_START_TIME");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let start = ("CODEBUILD_START_TIME", "1764162000007");
    assert_eq!(
        run(&[("CODEBUILD_WEBHOOK_TRIGGER", "branch/main"), start]),
        "2025-11-26T13:00:00.007Z"
    );
    assert_eq!(
        run(&[
            ("CODEBUILD_WEBHOOK_TRIGGER", "branch/main"),
            start,
            ("PIPELINE_TRIGGER_TIME", "2026-01-01T00:00:00Z")
        ]),
        "2026-01-01T00:00:00Z"
    );
    assert_eq!(run(&[start]), "");
}
