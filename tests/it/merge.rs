//! The merge on both paths, through the library: what GNU tar extracts from the bundle must
//! be the inputs, file for file, byte for byte, mode for mode and owner for owner.

use crate::support::fixtures::*;
use invisible_pipeline::bundle::tarstream::{Next, TarReader};
use invisible_pipeline::bundle::writer::{BundleFormat, MergeMode};
use invisible_pipeline::revision::{self, BundleInfo};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

fn build(cd: &Path, app: &Path, out: &Path) -> (BundleInfo, Vec<String>) {
    let cancel = invisible_pipeline::base::cancel::Cancel::new();
    let checked = revision::check(cd, Some(app), revision::Rules::default(), &cancel).unwrap();
    assert!(!checked.diags.has_errors(), "{:?}", checked.diags);
    let warnings = checked.diags.warnings().map(ToString::to_string).collect();
    (
        revision::write_bundle(&checked, out, 0, revision::Durability::Synced, &cancel).unwrap(),
        warnings,
    )
}

/// What the CodeDeploy folder of `codedeploy_dir` must become on the instance.
fn expected_codedeploy() -> BTreeMap<String, Found> {
    let mut m = BTreeMap::new();
    m.insert(
        "appspec.yml".into(),
        Found::file(0o644, 0, 0, APPSPEC.as_bytes()),
    );
    for (name, text) in [
        (
            "scripts/install.sh",
            "#!/bin/bash\nset -euo pipefail\necho install\n",
        ),
        (
            "scripts/start.sh",
            "#!/bin/bash\nset -euo pipefail\necho start\n",
        ),
        ("scripts/lib/common.sh", "#!/bin/bash\necho common\n"),
    ] {
        m.insert(name.into(), Found::file(0o755, 0, 0, text.as_bytes()));
    }
    m.insert(
        "scripts/common.sh".into(),
        Found {
            kind: 'l',
            mode: 0o777,
            uid: 0,
            gid: 0,
            content: b"lib/common.sh".to_vec(),
        },
    );
    m
}

fn expected_app() -> BTreeMap<String, Found> {
    let mut m = BTreeMap::new();
    m.insert(
        "site/index.html".into(),
        Found::file(0o644, APP_UID, APP_GID, b"<h1>hello</h1>\n"),
    );
    m.insert(
        "site/css/style.css".into(),
        Found::file(0o640, APP_UID, APP_GID, b"body{}\n"),
    );
    m.insert(
        "site/bin/tool".into(),
        Found::file(0o750, APP_UID, APP_GID, b"#!/bin/sh\necho tool\n"),
    );
    m.insert(
        "site/home.html".into(),
        Found {
            kind: 'l',
            mode: 0o777,
            uid: APP_UID,
            gid: APP_GID,
            content: b"index.html".to_vec(),
        },
    );
    m
}

fn assert_same(found: &BTreeMap<String, Found>, expected: &BTreeMap<String, Found>) {
    let found_paths: Vec<_> = found.keys().collect();
    let expected_paths: Vec<_> = expected.keys().collect();
    assert_eq!(found_paths, expected_paths);
    for (path, want) in expected {
        assert_eq!(&found[path], want, "{path}");
    }
}

#[test]
fn append_path_tgz_extracts_to_the_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let app = tmp.path().join("app.tar.gz");
    fs::write(&app, app_tar().end().gz()).unwrap();
    let out = tmp.path().join("out/bundle.tgz");
    let (info, warnings) = build(&cd, &app, &out);
    assert_eq!(info.merge, MergeMode::Append);
    assert_eq!(info.bundle_type, BundleFormat::Tgz);
    assert!(warnings.is_empty(), "{warnings:?}");
    let (_dir, found) = agent_extract(&out, true);
    let mut expected = expected_codedeploy();
    expected.extend(expected_app());
    assert_same(&found, &expected);
}

#[test]
fn append_path_plain_tar_extracts_to_the_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let app = tmp.path().join("app.tar");
    fs::write(&app, app_tar().end().bytes()).unwrap();
    let out = tmp.path().join("bundle.tar");
    let (info, _) = build(&cd, &app, &out);
    assert_eq!(
        (info.merge, info.bundle_type),
        (MergeMode::Append, BundleFormat::Tar)
    );
    let (_dir, found) = agent_extract(&out, false);
    let mut expected = expected_codedeploy();
    expected.extend(expected_app());
    assert_same(&found, &expected);
}

/// The application ships its own appspec and scripts the CodeDeploy folder also has (a file
/// where the folder has a symlink, a symlink where it has a file): the CodeDeploy files win,
/// with a warning, on the override path (release bytes first, CodeDeploy entries after), for
/// both containers, as GNU tar extracts it: a later entry replaces an earlier one, mode, kind
/// and all. A release directory keeps its own metadata.
#[test]
fn override_path_codedeploy_files_win() {
    for gz in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        let cd = codedeploy_dir(tmp.path());
        let tar = app_tar()
            .file("./appspec.yml", b"version: 0.0\nos: linux\n", 0o600)
            .dir("scripts/")
            .file("scripts/start.sh", b"#!/bin/sh\necho old\n", 0o700)
            .file("scripts/common.sh", b"#!/bin/sh\necho a file\n", 0o700)
            .symlink("scripts/install.sh", "start.sh")
            .end();
        let app = tmp.path().join("app");
        fs::write(&app, if gz { tar.gz() } else { tar.bytes() }).unwrap();
        let out = tmp.path().join("bundle");
        let (info, warnings) = build(&cd, &app, &out);
        assert_eq!(info.merge, MergeMode::Override);
        assert_eq!(info.entries.overridden, 4);
        for path in ["appspec.yml", "scripts/start.sh"] {
            assert!(
                warnings
                    .iter()
                    .any(|w| w.contains(&format!("CodeDeploy_Files/{path}: replaces the file"))),
                "{warnings:?}"
            );
        }
        let (dir, found) = agent_extract(&out, gz);
        let mut expected = expected_codedeploy();
        expected.extend(expected_app());
        assert_same(&found, &expected);
        // The release's own directory entry (0755 by the fixture's builder, owner 1234) wins
        // over the CodeDeploy folder's, which is not repeated.
        let meta = fs::metadata(dir.path().join("scripts")).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), APP_UID as u32);
    }
}

/// A release hard link to a path a CodeDeploy file replaces: GNU tar would leave the link
/// with the old content if the CodeDeploy entry came after it, so the stream is rewritten
/// (CodeDeploy first) and both paths hold the CodeDeploy file.
#[test]
fn a_hard_link_to_a_replaced_path_falls_back_to_re_encode() {
    for (gz, target) in [(true, "scripts/start.sh"), (false, "./scripts/./start.sh")] {
        let tmp = tempfile::tempdir().unwrap();
        let cd = codedeploy_dir(tmp.path());
        let tar = app_tar()
            .file("scripts/start.sh", b"#!/bin/sh\necho old\n", 0o755)
            .hardlink("site/start-copy.sh", target)
            .end();
        let app = tmp.path().join("app");
        fs::write(&app, if gz { tar.gz() } else { tar.bytes() }).unwrap();
        let out = tmp.path().join("bundle");
        let (info, _) = build(&cd, &app, &out);
        assert_eq!(info.merge, MergeMode::ReEncode);
        assert!(
            info.merge_said().contains("a release hard link"),
            "{}",
            info.merge_said()
        );
        let (_dir, found) = agent_extract(&out, gz);
        let new = b"#!/bin/bash\nset -euo pipefail\necho start\n";
        assert_eq!(found["scripts/start.sh"].content, new);
        assert_eq!(found["site/start-copy.sh"].content, new);
    }
}

/// The override path keeps the release's compressed bytes: all but its last deflate block.
#[test]
fn override_keeps_the_release_compressed_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let mut tar = app_tar();
    let mut x: u64 = 7;
    for i in 0..64 {
        let data: Vec<u8> = (0..32 << 10)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 16) as u8 + b'a'
            })
            .collect();
        tar = tar.file(&format!("site/data/{i}.txt"), &data, 0o644);
    }
    let release = tar
        .file("appspec.yml", b"version: 0.0\nos: linux\n", 0o644)
        .end()
        .gz();
    let app = tmp.path().join("app.tgz");
    fs::write(&app, &release).unwrap();
    let out = tmp.path().join("bundle.tgz");
    let (info, _) = build(&cd, &app, &out);
    assert_eq!(info.merge, MergeMode::Override);
    let bundle = fs::read(&out).unwrap();
    let same = bundle
        .iter()
        .zip(&release)
        .take_while(|(a, b)| a == b)
        .count();
    assert!(
        same as f64 > 0.9 * release.len() as f64,
        "only {same} of {} release bytes kept",
        release.len()
    );
    let (_dir, found) = agent_extract(&out, true);
    assert_eq!(found["appspec.yml"].content, APPSPEC.as_bytes());
    assert_eq!(found["site/data/63.txt"].content.len(), 32 << 10);
}

fn entry_headers(stream: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut reader = TarReader::new(stream);
    let mut out = Vec::new();
    while let Next::Entry(e) = reader.next_entry().unwrap() {
        reader.data(&e, |_| Ok(())).unwrap();
        out.push((
            String::from_utf8_lossy(&e.path).into_owned(),
            e.raw_headers.clone(),
        ));
    }
    out
}

/// On every path the application's entries keep their exact headers and their order.
#[test]
fn application_headers_and_order_are_kept_on_every_path() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let long = format!("site/{}/deep.txt", "x".repeat(120));
    let app_bytes = app_tar()
        .file_long(&long, b"long\n", 0o644)
        .file_pax("site/pax/named-by-pax.txt", b"pax\n", 0o644)
        .file("scripts/start.sh", b"old\n", 0o755)
        .end()
        .bytes();
    let app = tmp.path().join("app.tar");
    fs::write(&app, &app_bytes).unwrap();
    let out = tmp.path().join("bundle.tar");
    let (info, _) = build(&cd, &app, &out);
    assert_eq!(info.merge, MergeMode::Override);
    let input = entry_headers(&app_bytes);
    let output = entry_headers(&fs::read(&out).unwrap());
    // The release first, whole, then the CodeDeploy entries.
    assert_eq!(output[..input.len()], input[..]);
    let (_dir, found) = agent_extract(&out, false);
    assert_eq!(found[&long].content, b"long\n");
    assert_eq!(found["site/pax/named-by-pax.txt"].content, b"pax\n");

    // Re-encode (a hard link to the replaced script): the release after the CodeDeploy
    // entries, less the replaced one.
    let app_bytes = app_tar()
        .file_long(&long, b"long\n", 0o644)
        .file("scripts/start.sh", b"old\n", 0o755)
        .hardlink("site/start-link", "scripts/start.sh")
        .end()
        .bytes();
    fs::write(&app, &app_bytes).unwrap();
    let (info, _) = build(&cd, &app, &out);
    assert_eq!(info.merge, MergeMode::ReEncode);
    let input = entry_headers(&app_bytes);
    let output = entry_headers(&fs::read(&out).unwrap());
    let kept: Vec<_> = input
        .iter()
        .filter(|(p, _)| p != "scripts/start.sh")
        .cloned()
        .collect();
    assert_eq!(output[output.len() - kept.len()..], kept[..]);
}

#[test]
fn long_codedeploy_names_survive_extraction() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let deep = format!("scripts/{}", "d".repeat(90));
    fs::create_dir_all(cd.join(&deep)).unwrap();
    let name = format!("{deep}/helper-with-a-long-name.sh");
    write_exec(&cd.join(&name), "#!/bin/bash\necho deep\n");
    std::os::unix::fs::symlink(
        format!("{}/helper-with-a-long-name.sh", "d".repeat(90)),
        cd.join("scripts/long-link"),
    )
    .unwrap();
    let app = tmp.path().join("app.tgz");
    fs::write(&app, app_tar().end().gz()).unwrap();
    let out = tmp.path().join("bundle.tgz");
    build(&cd, &app, &out);
    let (_dir, found) = agent_extract(&out, true);
    assert_eq!(
        found[&name],
        Found::file(0o755, 0, 0, b"#!/bin/bash\necho deep\n")
    );
    assert_eq!(found["scripts/long-link"].kind, 'l');
}

/// Same inputs, same bytes: also when the checkout's times, umask-dependent modes and the
/// output location differ.
#[test]
fn bundles_are_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let app = tmp.path().join("app.tgz");
    fs::write(
        &app,
        app_tar().file("scripts/start.sh", b"x", 0o755).end().gz(),
    )
    .unwrap();
    let app2 = tmp.path().join("app2.tgz");
    fs::write(&app2, app_tar().end().gz()).unwrap();
    for app in [&app, &app2] {
        let first = tmp.path().join("a/bundle.tgz");
        build(&cd, app, &first);
        // Touch the checkout: new mtimes, group-writable files.
        let appspec = cd.join("appspec.yml");
        fs::set_permissions(
            &appspec,
            std::os::unix::fs::PermissionsExt::from_mode(0o664),
        )
        .unwrap();
        fs::write(&appspec, fs::read(&appspec).unwrap()).unwrap();
        let second = tmp.path().join("b/other-name.tgz");
        let (info, _) = build(&cd, app, &second);
        assert_eq!(fs::read(&first).unwrap(), fs::read(&second).unwrap());
        assert_eq!(info.sha256.len(), 64);
    }
}

/// gzip -d on the instance reads every member: so does the scan. The bundle is one member
/// (agent 2.x's fallback extraction reads only the first): the release's members are joined
/// without being compressed again, for the append and the override layout.
#[test]
fn multi_member_gzip_input_is_read_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let whole = app_tar()
        .file("site/last.txt", b"second member\n", 0o644)
        .end()
        .bytes();
    let (a, b) = whole.split_at(1024);
    let mut two = gzip(a);
    two.extend(gzip(b));
    let app = tmp.path().join("app.tgz");
    fs::write(&app, &two).unwrap();
    let out = tmp.path().join("bundle.tgz");
    let (info, _) = build(&cd, &app, &out);
    assert_eq!(info.entries.app, 7);
    assert_eq!(info.merge, MergeMode::Append);
    // The summary says the members were joined, in text and JSON.
    assert_eq!(info.release_members_joined, Some(2));
    assert!(
        info.merge_said()
            .ends_with("the release's 2 gzip members joined into one, not compressed again"),
        "{}",
        info.merge_said()
    );
    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(json["release_members_joined"], 2, "{json}");
    let (_dir, found) = agent_extract(&out, true);
    assert_eq!(found["site/last.txt"].content, b"second member\n");
    // The bundle shares the release's bytes up to the first member's last block.
    let kept = info.release_bytes_kept as usize;
    assert!(kept >= 10 && kept < gzip(a).len(), "{kept}");
    assert_eq!(fs::read(&out).unwrap()[..kept], two[..kept]);

    // An override of a release of two members: one member too.
    let whole = app_tar()
        .file("site/last.txt", b"second member\n", 0o644)
        .file("appspec.yml", b"version: 0.0\n", 0o644)
        .end()
        .bytes();
    let (a, b) = whole.split_at(1024);
    let mut two = gzip(a);
    two.extend(gzip(b));
    fs::write(&app, two).unwrap();
    let (info, _) = build(&cd, &app, &out);
    assert_eq!(info.merge, MergeMode::Override);
    let (_dir, found) = agent_extract(&out, true);
    assert_eq!(found["site/last.txt"].content, b"second member\n");
    assert_eq!(found["appspec.yml"].content, APPSPEC.as_bytes());

    // A release of one member followed by an empty one (what some tools append): the end of
    // the archive is in the first, which is continued; the empty member is not kept.
    let mut padded = gzip(&whole);
    padded.extend(gzip(b""));
    fs::write(&app, padded).unwrap();
    let (info, _) = build(&cd, &app, &out);
    assert_eq!(info.merge, MergeMode::Override);
    assert_eq!(info.release_members_joined, None);
    let (_dir, found) = agent_extract(&out, true);
    assert_eq!(found["appspec.yml"].content, APPSPEC.as_bytes());
}

/// Joining members, wherever they are cut and however they were compressed: stored blocks
/// (level 0), fixed and dynamic ones, members of a few bytes, an empty member between two,
/// many members (as bgzip writes them). Each bundle is one member and extracts to the same tree
/// three ways; its first bytes are the release's.
#[test]
fn members_are_joined_wherever_they_are_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let mut noise = Vec::new();
    let mut x: u64 = 11;
    for _ in 0..20_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        noise.push((x >> 56) as u8 % 7 + b'a');
    }
    let whole = app_tar()
        .file("site/noise.txt", &noise, 0o644)
        .file("site/last.txt", b"the end\n", 0o600)
        .end()
        .bytes();
    let level = |data: &[u8], level: u32| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        std::io::Write::write_all(&mut enc, data).unwrap();
        enc.finish().unwrap()
    };
    let cuts: Vec<Vec<usize>> = vec![
        vec![1],
        vec![511, 512, 513],
        vec![3000, 3000],
        vec![7000, 12_345],
        (1..whole.len() / 4096).map(|i| i * 4096 + i).collect(),
    ];
    let app = tmp.path().join("app.tgz");
    let out = tmp.path().join("bundle.tgz");
    for lvl in [0, 1, 6, 9] {
        for points in &cuts {
            let mut release = Vec::new();
            let mut from = 0;
            for &to in points.iter().chain([&whole.len()]) {
                release.extend(level(&whole[from..to], lvl));
                from = to;
            }
            fs::write(&app, &release).unwrap();
            let (info, _) = build(&cd, &app, &out);
            let case = format!("level {lvl}, cut at {points:?}");
            assert_eq!(info.merge, MergeMode::Append, "{case}");
            let (_dir, found) = agent_extract(&out, true);
            assert_eq!(found["site/noise.txt"].content, noise, "{case}");
            assert_eq!(found["site/last.txt"].content, b"the end\n", "{case}");
            let kept = info.release_bytes_kept as usize;
            assert_eq!(fs::read(&out).unwrap()[..kept], release[..kept], "{case}");
        }
    }
}

/// A gzip release whose tar has no end-of-archive blocks (accepted, as GNU tar accepts it):
/// the splice may not continue after the final deflate block, so it continues before it.
#[test]
fn a_release_without_end_of_archive_is_spliced_before_its_final_block() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let app = tmp.path().join("app.tgz");
    let tar = app_tar()
        .file("appspec.yml", b"version: 0.0\n", 0o644)
        .bytes();
    fs::write(&app, gzip(&tar)).unwrap();
    let out = tmp.path().join("bundle.tgz");
    let (info, _) = build(&cd, &app, &out);
    assert_eq!(info.merge, MergeMode::Override);
    let (_dir, found) = agent_extract(&out, true);
    assert_eq!(found["appspec.yml"].content, APPSPEC.as_bytes());
    assert_eq!(found["site/index.html"].content, b"<h1>hello</h1>\n");
}

/// The single-member check is live: a file of two gzip members fails it.
#[test]
#[should_panic(expected = "its first gzip member holds")]
fn two_gzip_members_fail_the_single_member_check() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("two.tgz");
    let mut two = gzip(&app_tar().end().bytes());
    two.extend(gzip(&app_tar().end().bytes()));
    fs::write(&path, two).unwrap();
    assert_one_gzip_member(&path);
}

/// The three-way check is live: GNU tar strips the leading `/` of an absolute member and
/// extracts it, agent 2.x's fallback skips it, and the trees differ.
#[test]
#[should_panic(expected = "Agent2Fallback extracts another tree")]
fn a_tree_the_fallback_extracts_otherwise_fails_the_three_way_check() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("abs.tar");
    let tar = Tar::new()
        .raw(b"/abs.txt", tar::EntryType::Regular, 0o644, b"x\n", b"")
        .end()
        .bytes();
    fs::write(&path, tar).unwrap();
    agent_extract(&path, false);
}

/// What the tar crate (agent 2.x's fallback) might extract otherwise than GNU tar: a folder's
/// entry after its files (with a mode of its own), a plain hard link, a folder with a
/// restrictive mode: the same tree and folders all three ways, for both containers.
#[test]
fn entries_the_tar_crate_might_extract_otherwise_land_the_same() {
    for gz in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        let cd = codedeploy_dir(tmp.path());
        let tar = app_tar()
            .file("data/a.txt", b"a\n", 0o640)
            .file("data/b.txt", b"b\n", 0o600)
            .raw(b"data/", tar::EntryType::Directory, 0o750, b"", b"")
            .hardlink("data/a-link.txt", "data/a.txt")
            .raw(b"private/", tar::EntryType::Directory, 0o700, b"", b"")
            .file("private/key", b"k\n", 0o400)
            .end();
        let app = tmp.path().join("app");
        fs::write(&app, if gz { tar.gz() } else { tar.bytes() }).unwrap();
        let out = tmp.path().join("bundle");
        let (info, _) = build(&cd, &app, &out);
        assert_eq!(info.merge, MergeMode::Append, "gzip {gz}");
        let (dir, found) = agent_extract(&out, gz);
        assert_eq!(found["data/a-link.txt"].content, b"a\n");
        let mode = |p: &str| {
            std::os::unix::fs::PermissionsExt::mode(
                &fs::metadata(dir.path().join(p)).unwrap().permissions(),
            ) & 0o7777
        };
        assert_eq!((mode("data"), mode("private")), (0o750, 0o700));
    }
}

/// A release symlink whose target climbs (`..`) or is absolute, replaced by a CodeDeploy file:
/// GNU tar extracts such a link through a placeholder and makes it at the end, over the later
/// file (the release's symlink wins under agent 1.8 and 2.x's tar, the file under 2.x's
/// fallback): the bundle is rewritten so that the file lands everywhere. A symlink of a safe
/// target keeps the override layout.
#[test]
fn a_replaced_symlink_that_climbs_falls_back_to_re_encode() {
    for (gz, target, merge) in [
        (true, "../data/a.txt", MergeMode::ReEncode),
        (false, "/etc/hostname", MergeMode::ReEncode),
        (true, "../scripts/./../data/a.txt", MergeMode::ReEncode),
        (false, "helper.sh", MergeMode::Override),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let cd = codedeploy_dir(tmp.path());
        let tar = app_tar()
            .file("data/a.txt", b"a\n", 0o640)
            .file("scripts/helper.sh", b"#!/bin/sh\n", 0o755)
            .symlink("scripts/start.sh", target)
            .end();
        let app = tmp.path().join("app");
        fs::write(&app, if gz { tar.gz() } else { tar.bytes() }).unwrap();
        let out = tmp.path().join("bundle");
        let (info, _) = build(&cd, &app, &out);
        assert_eq!(info.merge, merge, "{target}");
        if merge == MergeMode::ReEncode {
            assert!(
                info.merge_said().contains("made last by GNU tar"),
                "{}",
                info.merge_said()
            );
            assert!(info.reencoded_because.is_some());
        } else {
            assert_eq!(info.reencoded_because, None);
        }
        let (_dir, found) = agent_extract(&out, gz);
        assert_eq!(found["scripts/start.sh"].kind, 'f', "{target}");
        assert_eq!(
            found["scripts/start.sh"].content, b"#!/bin/bash\nset -euo pipefail\necho start\n",
            "{target}"
        );
        assert_eq!(found["data/a.txt"].content, b"a\n", "{target}");
    }
}

/// An appspec outside the bundle root (a release shipped in a wrapper folder with its own
/// appspec): the bundle root holds the CodeDeploy folder's entries too, so neither agent
/// promotes the wrapper (1.8 wants exactly one directory at the root, 2.x exactly one entry):
/// the root appspec is the CodeDeploy folder's on all three paths, the release's stays where it
/// was. Without a root appspec, the bundle is refused: both agents would fail it.
#[test]
fn an_appspec_outside_the_bundle_root_is_never_the_one_deployed() {
    let tmp = tempfile::tempdir().unwrap();
    let cd = codedeploy_dir(tmp.path());
    let wrapped = b"version: 0.0\nos: linux\n# the release's own\n";
    let tar = app_tar()
        .dir("myapp")
        .file("myapp/appspec.yml", wrapped, 0o644)
        .file("myapp/index.html", b"<p>hi</p>\n", 0o644)
        .end();
    let app = tmp.path().join("app.tgz");
    fs::write(&app, tar.gz()).unwrap();
    let out = tmp.path().join("bundle.tgz");
    build(&cd, &app, &out);
    let (dir, found) = agent_extract(&out, true);
    assert_eq!(found["appspec.yml"].content, APPSPEC.as_bytes());
    assert_eq!(found["myapp/appspec.yml"].content, wrapped);
    let roots = fs::read_dir(dir.path()).unwrap().count();
    assert!(
        roots > 1,
        "a single root entry would be promoted by the agents"
    );

    fs::remove_file(cd.join("appspec.yml")).unwrap();
    let cancel = invisible_pipeline::base::cancel::Cancel::new();
    let checked = revision::check(&cd, Some(&app), revision::Rules::default(), &cancel).unwrap();
    let errors: Vec<String> = checked.diags.errors().map(ToString::to_string).collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("appspec.yml: missing at the bundle root")),
        "{errors:?}"
    );
}
