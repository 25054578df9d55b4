//! Hostile and broken archives through the real binary: each is refused with exit code 3, a
//! message naming the entry at fault, and no bundle (nor temporary file) left behind.

use crate::support::fixtures::*;
use assert_cmd::Command;
use std::fs;

fn refuse(name: &str, archive: Vec<u8>, expected: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let app = tmp.path().join("app.archive");
    fs::write(&app, archive).unwrap();
    let out_dir = tmp.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("bundle.tgz");
    let assert = Command::cargo_bin("invisible-pipeline")
        .unwrap()
        .args(["deploy", "--no-deploy", "--app-archive"])
        .arg(&app)
        .arg("--codedeploy-dir")
        .arg(&cd)
        .arg("--bundle-out")
        .arg(&out)
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    for needle in expected {
        assert!(
            stderr.contains(needle),
            "{name}: expected {needle:?} in:\n{stderr}"
        );
    }
    assert!(stderr.contains("nothing was written"), "{name}: {stderr}");
    let left: Vec<_> = fs::read_dir(&out_dir).unwrap().collect();
    assert!(left.is_empty(), "{name}: files left behind: {left:?}");
}

#[test]
fn path_escapes() {
    refuse(
        "dotdot",
        app_tar().file("../evil.sh", b"x", 0o755).end().gz(),
        &["entry '../evil.sh'", "'..'"],
    );
    refuse(
        "nested dotdot",
        app_tar().file("site/../../x", b"x", 0o644).end().gz(),
        &["entry 'site/../../x'"],
    );
    refuse(
        "absolute",
        app_tar().file("/etc/cron.d/x", b"x", 0o644).end().bytes(),
        &["entry '/etc/cron.d/x'", "absolute path"],
    );
}

#[test]
fn special_files() {
    refuse(
        "char device",
        app_tar()
            .raw(b"dev/null", tar::EntryType::Char, 0o666, b"", b"")
            .end()
            .gz(),
        &["entry 'dev/null'", "device file"],
    );
    refuse(
        "block device",
        app_tar()
            .raw(b"dev/sda", tar::EntryType::Block, 0o666, b"", b"")
            .end()
            .gz(),
        &["entry 'dev/sda'", "device file"],
    );
    refuse(
        "fifo",
        app_tar()
            .raw(b"site/pipe", tar::EntryType::Fifo, 0o644, b"", b"")
            .end()
            .gz(),
        &["entry 'site/pipe'", "fifo"],
    );
}

#[test]
fn links_out_of_the_bundle() {
    refuse(
        "symlink up",
        app_tar().symlink("site/etc", "../../etc").end().gz(),
        &["entry 'site/etc'", "points outside the bundle"],
    );
    refuse(
        "symlink absolute",
        app_tar().symlink("site/passwd", "/etc/passwd").end().gz(),
        &["entry 'site/passwd'", "points outside the bundle"],
    );
    refuse(
        "hard link out",
        app_tar()
            .hardlink("site/shadow", "../etc/shadow")
            .end()
            .gz(),
        &["entry 'site/shadow'", "resolves outside the bundle"],
    );
    refuse(
        "hard link missing",
        app_tar().hardlink("site/copy", "site/nothing").end().gz(),
        &["entry 'site/copy'", "not in the bundle"],
    );
}

#[test]
fn file_and_directory_of_one_name() {
    refuse(
        "file then dir",
        app_tar()
            .file("site/data", b"x", 0o644)
            .dir("site/data/")
            .end()
            .gz(),
        &["entry 'site/data'", "a file and a directory of one name"],
    );
    refuse(
        "entry under a file",
        app_tar()
            .file("site/data", b"x", 0o644)
            .file("site/data/inner", b"y", 0o644)
            .end()
            .gz(),
        &[
            "entry 'site/data/inner'",
            "lies under 'site/data', which is a file",
        ],
    );
    refuse(
        "app file where CodeDeploy has a folder",
        app_tar().file("scripts", b"x", 0o644).end().gz(),
        &["entry 'scripts'", "CodeDeploy_Files has a directory"],
    );
    refuse(
        "entry under a symlink",
        app_tar()
            .symlink("site/link", "css")
            .file("site/link/x.css", b"y", 0o644)
            .end()
            .gz(),
        &[
            "entry 'site/link/x.css'",
            "lies under 'site/link', which is a symlink",
        ],
    );
}

#[test]
fn end_of_archive_in_the_middle() {
    let mut two = app_tar().end().bytes();
    two.extend(
        Tar::new()
            .file("site/hidden.html", b"lost", 0o644)
            .end()
            .bytes(),
    );
    refuse(
        "concatenated tar",
        gzip(&two),
        &["entry 'site/hidden.html'", "silently drops"],
    );
    let mut garbage = app_tar().end().bytes();
    garbage.extend([b'x'; 512]);
    refuse(
        "garbage after end",
        garbage,
        &["trailing garbage at offset"],
    );
}

#[test]
fn broken_data() {
    let whole = app_tar()
        .file("site/big.bin", &[7u8; 5000], 0o644)
        .end()
        .bytes();
    refuse(
        "truncated tar",
        whole[..whole.len() - 3000].to_vec(),
        &["app.archive", "truncated"],
    );
    let mut gz = gzip(&whole);
    gz.truncate(gz.len() - 20);
    refuse(
        "truncated gzip",
        gz,
        &["app.archive", "corrupt or truncated compressed data"],
    );
    let mut gz = gzip(&whole);
    let n = gz.len();
    gz[n - 8] ^= 0xff; // CRC of the member
    refuse(
        "bad crc",
        gz,
        &["app.archive", "corrupt or truncated compressed data"],
    );
    let mut gz = gzip(&whole);
    gz.extend(b"junk after the member");
    refuse(
        "gzip trailing garbage",
        gz,
        &["trailing garbage after gzip member 1"],
    );
    let mut bad = whole.clone();
    bad[600] ^= 0x55; // inside the second header
    refuse("bad checksum", bad, &["app.archive", "checksum"]);
}

#[test]
fn not_a_tar_archive() {
    refuse(
        "zip",
        b"PK\x03\x04 rest of a zip".to_vec(),
        &["app.archive", "zip archive"],
    );
    refuse("empty", Vec::new(), &["app.archive", "empty"]);
    refuse(
        "text",
        b"hello world, not an archive at all".repeat(20),
        &["not a tar"],
    );
}

/// Problems of one run are reported together, not only the first.
#[test]
fn every_problem_is_reported() {
    refuse(
        "several",
        app_tar()
            .file("../a", b"x", 0o644)
            .file("/b", b"x", 0o644)
            .symlink("site/c", "/etc")
            .end()
            .gz(),
        &[
            "entry '../a'",
            "entry '/b'",
            "entry 'site/c'",
            "3 problem(s)",
        ],
    );
}
