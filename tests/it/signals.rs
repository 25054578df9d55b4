//! SIGINT and SIGTERM through the real binary: one cancellation for every command, nothing
//! half-made left behind (a dry run's temporary bundle included), the signal's exit code.

use crate::support::fixtures::*;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A 256 MiB release whose `appspec.yml` the CodeDeploy folder overrides: the re-encode
/// path, slow enough in a debug build to be caught mid-write.
fn big_overridden_release(root: &Path) -> std::path::PathBuf {
    let tree = root.join("tree");
    fs::create_dir_all(tree.join("site")).unwrap();
    fs::write(tree.join("appspec.yml"), "version: 0.0\nos: linux\n").unwrap();
    let big = fs::File::create(tree.join("site/big.bin")).unwrap();
    big.set_len(256 << 20).unwrap();
    let archive = root.join("release.tgz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&tree)
        .args(["appspec.yml", "site"])
        .status()
        .unwrap();
    assert!(status.success());
    archive
}

fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn an_interrupted_dry_run_leaves_no_partial_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = big_overridden_release(tmp.path());
    let cd = codedeploy_dir(tmp.path());
    let out_dir = tmp.path().join("out");
    fs::create_dir_all(&out_dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_invisible-pipeline"))
        .args(["deploy", "--no-deploy", "--app-archive"])
        .arg(&archive)
        .arg("--codedeploy-dir")
        .arg(&cd)
        .arg("--bundle-out")
        .arg(out_dir.join("bundle.tgz"))
        .env_remove("NO_DEPLOY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the temporary bundle to appear: the signal then lands mid-write.
    let started = Instant::now();
    while fs::read_dir(&out_dir).unwrap().next().is_none() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the dry run ended before it was signalled"
        );
        assert!(started.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(child.id(), "TERM");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");
    let left: Vec<_> = fs::read_dir(&out_dir).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn an_interrupted_validate_says_so_with_the_signal_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = big_overridden_release(tmp.path());
    let cd = codedeploy_dir(tmp.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_invisible-pipeline"))
        .args(["validate", "--app-archive"])
        .arg(&archive)
        .arg("--codedeploy-dir")
        .arg(&cd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "validate ended before it was signalled"
    );
    kill(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted by SIGINT"), "{stderr}");
}
