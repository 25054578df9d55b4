//! The bundled sample: the CodeDeploy folder is valid and its scripts are shellcheck-clean.

use assert_cmd::Command;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn sample_codedeploy_folder_is_valid_without_warnings() {
    let a = Command::cargo_bin("invisible-pipeline")
        .unwrap()
        .env_remove("APP_ARCHIVE")
        .args(["validate", "--codedeploy-dir"])
        .arg(Path::new(ROOT).join("CodeDeploy_Files"))
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&a.get_output().stderr);
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn sample_scripts_pass_shellcheck() {
    let scripts: Vec<_> = std::fs::read_dir(Path::new(ROOT).join("CodeDeploy_Files/scripts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(scripts.len() >= 4);
    let status = std::process::Command::new("shellcheck")
        .args(&scripts)
        .status();
    match status {
        Ok(status) => assert!(status.success(), "shellcheck found problems"),
        Err(e) => panic!("shellcheck is needed for this test (apt-get install shellcheck): {e}"),
    }
}
