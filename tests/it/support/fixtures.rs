//! Builders for application archives (well-formed and hostile), CodeDeploy folders, and
//! GNU tar extraction exactly as the CodeDeploy agent runs it.

use flate2::write::GzEncoder;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const APP_UID: u64 = 1234;
pub const APP_GID: u64 = 2345;

/// A tar stream under construction. Names are written as given, unchecked, so that hostile
/// archives can be made; `file_long` goes through the tar crate for GNU long names.
pub struct Tar {
    buf: Vec<u8>,
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(APP_UID);
    h.set_gid(APP_GID);
    h.set_mtime(1_600_000_000);
    h.set_size(size);
    h
}

impl Tar {
    pub fn new() -> Self {
        Tar { buf: Vec::new() }
    }

    /// Any entry, with the name and link bytes written straight into the header.
    pub fn raw(
        mut self,
        name: &[u8],
        kind: tar::EntryType,
        mode: u32,
        data: &[u8],
        link: &[u8],
    ) -> Self {
        let mut h = header(kind, mode, data.len() as u64);
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        h.set_cksum();
        self.buf.extend_from_slice(h.as_bytes());
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn file(self, name: &str, data: &[u8], mode: u32) -> Self {
        self.raw(name.as_bytes(), tar::EntryType::Regular, mode, data, b"")
    }

    pub fn dir(self, name: &str) -> Self {
        self.raw(name.as_bytes(), tar::EntryType::Directory, 0o755, b"", b"")
    }

    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.raw(
            name.as_bytes(),
            tar::EntryType::Symlink,
            0o777,
            b"",
            target.as_bytes(),
        )
    }

    pub fn hardlink(self, name: &str, target: &str) -> Self {
        self.raw(
            name.as_bytes(),
            tar::EntryType::Link,
            0o644,
            b"",
            target.as_bytes(),
        )
    }

    /// A file whose name needs a GNU long-name header (written by the tar crate).
    pub fn file_long(mut self, name: &str, data: &[u8], mode: u32) -> Self {
        let mut builder = tar::Builder::new(Vec::new());
        let mut h = header(tar::EntryType::Regular, mode, data.len() as u64);
        builder.append_data(&mut h, name, data).unwrap();
        let mut bytes = builder.into_inner().unwrap();
        bytes.truncate(bytes.len() - 1024);
        self.buf.extend(bytes);
        self
    }

    /// A file whose name is carried by a PAX extended header.
    pub fn file_pax(mut self, name: &str, data: &[u8], mode: u32) -> Self {
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_pax_extensions([("path", name.as_bytes())])
            .unwrap();
        let mut h = header(tar::EntryType::Regular, mode, data.len() as u64);
        h.as_old_mut().name[..9].copy_from_slice(b"pax-short");
        h.set_cksum();
        builder.append(&h, data).unwrap();
        let mut bytes = builder.into_inner().unwrap();
        bytes.truncate(bytes.len() - 1024);
        self.buf.extend(bytes);
        self
    }

    /// The end-of-archive marker.
    pub fn end(mut self) -> Self {
        self.buf.extend([0u8; 1024]);
        self
    }

    pub fn bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn gz(self) -> Vec<u8> {
        gzip(&self.buf)
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// The sample-like application: a site with nested folders, an executable, a symlink.
pub fn app_tar() -> Tar {
    Tar::new()
        .dir("site/")
        .file("site/index.html", b"<h1>hello</h1>\n", 0o644)
        .dir("site/css/")
        .file("site/css/style.css", b"body{}\n", 0o640)
        .file("site/bin/tool", b"#!/bin/sh\necho tool\n", 0o750)
        .symlink("site/home.html", "index.html")
}

pub const APPSPEC: &str = "version: 0.0
os: linux
files:
  - source: /site
    destination: /var/www/html
hooks:
  BeforeInstall:
    - location: scripts/install.sh
      timeout: 300
  ApplicationStart:
    - location: scripts/start.sh
      timeout: 300
";

/// A CodeDeploy folder with an appspec and two hook scripts (one helper, a symlink).
pub fn codedeploy_dir(root: &Path) -> PathBuf {
    let dir = root.join("CodeDeploy_Files");
    fs::create_dir_all(dir.join("scripts/lib")).unwrap();
    fs::write(dir.join("appspec.yml"), APPSPEC).unwrap();
    write_exec(
        &dir.join("scripts/install.sh"),
        "#!/bin/bash\nset -euo pipefail\necho install\n",
    );
    write_exec(
        &dir.join("scripts/start.sh"),
        "#!/bin/bash\nset -euo pipefail\necho start\n",
    );
    write_exec(
        &dir.join("scripts/lib/common.sh"),
        "#!/bin/bash\necho common\n",
    );
    std::os::unix::fs::symlink("lib/common.sh", dir.join("scripts/common.sh")).unwrap();
    dir
}

pub fn write_exec(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// What one path of an extracted tree is: kind, mode, owner and content or link target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub kind: char,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub content: Vec<u8>,
}

impl Found {
    pub fn file(mode: u32, uid: u64, gid: u64, content: &[u8]) -> Self {
        Found {
            kind: 'f',
            mode,
            uid,
            gid,
            content: content.to_vec(),
        }
    }
}

/// The ways an instance extracts a bundle (docs/AGENT-RULES.md): agent 1.8.1 runs GNU
/// `tar -xpsf` (`-zxpsf`); agent 2.x runs `tar -xf` (`-xzf`) and, when that fails, extracts
/// again with the `tar` crate over a single-member gzip decoder, overwriting, skipping `..`
/// and absolute entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extraction {
    Agent1,
    Agent2Tar,
    Agent2Fallback,
}

/// Extracts `bundle` on the three paths (as root, as the agents run) and checks that each
/// gives the same tree: what the tests assert of a bundle holds whichever agent deploys it.
/// Returns the folder of agent 1.8.1's extraction and every non-directory path below it.
pub fn agent_extract(bundle: &Path, gzip: bool) -> (tempfile::TempDir, BTreeMap<String, Found>) {
    if gzip {
        assert_one_gzip_member(bundle);
    }
    let (dir, found) = extract(bundle, gzip, Extraction::Agent1);
    let folders = folders_of(dir.path());
    for how in [Extraction::Agent2Tar, Extraction::Agent2Fallback] {
        let (other_dir, other) = extract(bundle, gzip, how);
        assert!(
            other == found,
            "{}: {how:?} extracts another tree than agent 1.8.1's tar -xpsf:\n{}",
            bundle.display(),
            tree_difference(&found, &other)
        );
        assert_eq!(
            folders_of(other_dir.path()),
            folders,
            "{}: {how:?} gives the folders other modes or owners than agent 1.8.1's tar -xpsf",
            bundle.display()
        );
    }
    (dir, found)
}

/// The paths on which two trees differ, and how.
fn tree_difference(a: &BTreeMap<String, Found>, b: &BTreeMap<String, Found>) -> String {
    let mut out = String::new();
    for path in a
        .keys()
        .chain(b.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        match (a.get(path), b.get(path)) {
            (Some(x), Some(y)) if x == y => {}
            (x, y) => out.push_str(&format!(
                "  {path}: {:?} / {:?}\n",
                x.map(|f| (f.kind, f.mode, f.uid, f.gid, f.content.len())),
                y.map(|f| (f.kind, f.mode, f.uid, f.gid, f.content.len()))
            )),
        }
    }
    out
}

/// Extracts `bundle` one way; see [`Extraction`].
pub fn extract(
    bundle: &Path,
    gzip: bool,
    how: Extraction,
) -> (tempfile::TempDir, BTreeMap<String, Found>) {
    let dst = tempfile::tempdir().unwrap();
    let flags = match (how, gzip) {
        (Extraction::Agent1, true) => Some("-zxpsf"),
        (Extraction::Agent1, false) => Some("-xpsf"),
        (Extraction::Agent2Tar, true) => Some("-xzf"),
        (Extraction::Agent2Tar, false) => Some("-xf"),
        (Extraction::Agent2Fallback, _) => None,
    };
    match flags {
        Some(flags) => {
            let out = Command::new("tar")
                .arg(flags)
                .arg(bundle)
                .current_dir(dst.path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "tar {flags} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        None => native_extract(bundle, gzip, dst.path()),
    }
    let found = tree_of(dst.path());
    (dst, found)
}

/// Agent 2.x's fallback: the `tar` crate, permissions and (as root) numeric owners kept,
/// overwrite on, `..` and absolute entries skipped, over `GzDecoder` (the first member only).
fn native_extract(bundle: &Path, gzip: bool, dst: &Path) {
    let file = fs::File::open(bundle).unwrap();
    let input: Box<dyn std::io::Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut archive = tar::Archive::new(input);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_overwrite(true);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        let unsafe_path = path.components().any(|c| {
            matches!(
                c,
                std::path::Component::ParentDir
                    | std::path::Component::RootDir
                    | std::path::Component::Prefix(_)
            )
        });
        if unsafe_path {
            continue;
        }
        entry.unpack_in(dst).unwrap_or_else(|e| {
            panic!(
                "{}: the tar crate fails on {}: {e}",
                bundle.display(),
                path.display()
            )
        });
    }
}

/// Every folder below `root`, with its mode and numeric owner.
fn folders_of(root: &Path) -> BTreeMap<String, (u32, u32, u32)> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .map(Result::unwrap)
        .filter(|item| item.file_type().is_dir())
        .map(|item| {
            let meta = item.path().symlink_metadata().unwrap();
            let rel = item.path().strip_prefix(root).unwrap();
            (
                rel.to_string_lossy().into_owned(),
                (meta.mode() & 0o7777, meta.uid(), meta.gid()),
            )
        })
        .collect()
}

/// Every non-directory path below `root`, with its kind, mode, owner and content.
fn tree_of(dst: &Path) -> BTreeMap<String, Found> {
    let mut found = BTreeMap::new();
    for item in walkdir::WalkDir::new(dst).min_depth(1).sort_by_file_name() {
        let item = item.unwrap();
        let meta = item.path().symlink_metadata().unwrap();
        let rel = item
            .path()
            .strip_prefix(dst)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let (kind, content) = if meta.file_type().is_symlink() {
            (
                'l',
                fs::read_link(item.path())
                    .unwrap()
                    .to_string_lossy()
                    .as_bytes()
                    .to_vec(),
            )
        } else if meta.is_dir() {
            continue;
        } else {
            ('f', fs::read(item.path()).unwrap())
        };
        let mode = if kind == 'l' {
            0o777
        } else {
            meta.mode() & 0o7777
        };
        found.insert(
            rel,
            Found {
                kind,
                mode,
                uid: meta.uid().into(),
                gid: meta.gid().into(),
                content,
            },
        );
    }
    found
}

/// Agent 2.x, when its system tar fails, extracts a `tgz` again through a decoder that reads
/// only the first gzip member (docs/AGENT-RULES.md): the first member of `bundle` must hold
/// the whole tar stream.
pub fn assert_one_gzip_member(bundle: &Path) {
    use std::io::Read;
    let bytes = fs::read(bundle).unwrap();
    let mut first = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_end(&mut first)
        .unwrap();
    let mut all = Vec::new();
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .read_to_end(&mut all)
        .unwrap();
    assert!(
        first == all,
        "{}: its first gzip member holds {} of {} bytes of tar data",
        bundle.display(),
        first.len(),
        all.len()
    );
}

/// A pipe whose reading end is already closed, as `cmd | head -1` leaves it once head has
/// read its line and exited: every write to it fails with EPIPE, whatever the timing.
pub fn closed_pipe() -> std::process::Stdio {
    let mut reader = Command::new("true")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("true runs");
    let writer = reader.stdin.take().expect("a pipe to true");
    reader.wait().expect("true ends");
    writer.into()
}

/// Runs the binary with `args` and its stdout on a closed pipe; its exit code and stderr.
pub fn with_closed_stdout(args: &[&str], envs: &[(&str, &Path)]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_invisible-pipeline"))
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k, v.as_os_str())))
        .env("RUST_BACKTRACE", "1")
        .stdout(closed_pipe())
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("the binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
