//! Records, for `--version`, the commit the binary was built from and its target triple.
// Cargo reads a build script's instructions from its stdout.
#![allow(clippy::print_stdout)]

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| !o.stdout.is_empty());
    println!(
        "cargo:rustc-env=INVISIBLE_PIPELINE_COMMIT={commit}{}",
        if dirty { "-modified" } else { "" }
    );
    println!(
        "cargo:rustc-env=INVISIBLE_PIPELINE_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
    for path in [".git/HEAD", ".git/index"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
