//! A CodeDeploy revision from an application archive and a CodeDeploy folder: every check
//! first, then the bundle, written to a temporary file and renamed into place only when
//! complete, so that a failed run leaves no bundle behind.

use crate::base::cancel::Cancel;
use crate::base::diag::Diagnostics;
use crate::base::error::{Error, Result};
use crate::base::growing::Growing;
use crate::bundle::cdfiles::{self, CodeDeployFiles};
use crate::bundle::paths::BundlePath;
use crate::bundle::paths::Kind;
use crate::bundle::scan::{self, AppArchive, MAX_CAPTURE};
use crate::bundle::tree::{BundleTree, Origin};
use crate::bundle::writer::{self as bundle, BundleFormat, MergeMode, Written};
use crate::rules::appspec::{self, APPSPEC};
use crate::rules::yaml::{self, Yaml};
use crate::rules::{hardening, scripts};
pub use crate::rules::{Agents, Rules};
use serde::Serialize;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The inputs, checked: what the bundle will hold and every problem found.
#[derive(Debug)]
pub struct Checked {
    pub(crate) cd: CodeDeployFiles,
    pub(crate) app: Option<AppArchive>,
    pub(crate) tree: BundleTree,
    pub diags: Diagnostics,
}

/// Entry counts of a bundle.
#[derive(Debug, Clone, Serialize)]
pub struct EntryCounts {
    pub app: usize,
    pub codedeploy: usize,
    pub overridden: usize,
}

/// What a written bundle is.
#[derive(Debug, Clone, Serialize)]
pub struct BundleInfo {
    /// Empty when the file did not outlive the run (a real deploy uploads it, then drops it).
    #[serde(skip_serializing_if = "is_empty_path")]
    pub path: PathBuf,
    pub bundle_type: BundleFormat,
    pub size_bytes: u64,
    pub sha256: String,
    pub merge: MergeMode,
    pub entries: EntryCounts,
    /// Leading bytes of the bundle that are the release file's own.
    pub release_bytes_kept: u64,
    /// The release's gzip members joined into the bundle's one member without compressing
    /// them again (absent: the release was one member, or the bundle was re-encoded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_members_joined: Option<usize>,
    /// Why the bundle was re-encoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reencoded_because: Option<&'static str>,
    /// Bytes written to disk to make the bundle: its size, or only what follows the
    /// release's bytes when `deploy` made it out of the downloaded release.
    pub bytes_written: u64,
}

impl BundleInfo {
    /// The merge line of a summary: how the bundle was laid out, and why.
    pub fn merge_said(&self) -> String {
        let how = match self.merge {
            MergeMode::Append => "append (the release's bytes kept, CodeDeploy files after them)".to_string(),
            MergeMode::Override => "override (the release's bytes kept, CodeDeploy files after them replace release entries)".to_string(),
            MergeMode::ReEncode => format!(
                "re-encode ({}: the stream rewritten, CodeDeploy files replace release entries)",
                self.reencoded_because.unwrap_or("the release could not be kept")
            ),
        };
        match self.release_members_joined {
            Some(n) => format!(
                "{how}; the release's {n} gzip members joined into one, not compressed again"
            ),
            None => how,
        }
    }
}

fn is_empty_path(path: &Path) -> bool {
    path.as_os_str().is_empty()
}

fn read_capped(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_CAPTURE)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("cannot read", path, e))?;
    Ok(bytes)
}

/// Hook locations named by an appspec, read leniently: only to know which archive entries
/// to keep for the script checks. The real checks come later.
fn hook_locations(appspec: &[u8]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(Yaml::Map { entries, .. }) = std::str::from_utf8(appspec)
        .ok()
        .and_then(|t| yaml::parse(t).ok())
        .and_then(|d| d.root)
    else {
        return out;
    };
    for (key, hooks) in &entries {
        let (
            Some("hooks"),
            Yaml::Map {
                entries: events, ..
            },
        ) = (key.as_str(), hooks)
        else {
            continue;
        };
        for (_, scripts) in events {
            let Yaml::Seq { items, .. } = scripts else {
                continue;
            };
            for item in items {
                let Yaml::Map { entries, .. } = item else {
                    continue;
                };
                for (k, v) in entries {
                    if let (Some("location"), Some(loc)) = (k.as_str(), v.as_str()) {
                        if let Ok(Some(p)) =
                            BundlePath::parse(loc.trim_start_matches('/').as_bytes())
                        {
                            out.insert(p.to_string());
                        }
                    }
                }
            }
        }
    }
    out
}

/// Checks the CodeDeploy folder and, when given, the application archive and the merged
/// bundle. Reads the archive through once (twice when it carries the appspec itself).
pub fn check(
    codedeploy_dir: &Path,
    app_archive: Option<&Path>,
    rules: Rules,
    cancel: &Cancel,
) -> Result<Checked> {
    check_arriving(codedeploy_dir, app_archive, None, rules, cancel)
}

/// [`check`], reading the archive as it arrives when `growing` follows its download.
pub(crate) fn check_arriving(
    codedeploy_dir: &Path,
    app_archive: Option<&Path>,
    growing: Option<&Arc<Growing>>,
    rules: Rules,
    cancel: &Cancel,
) -> Result<Checked> {
    let mut diags = Diagnostics::default();
    let cd = cdfiles::collect(codedeploy_dir, &mut diags)?;
    let cd_appspec = match cd.get(APPSPEC) {
        Some(entry) if entry.kind == Kind::File => Some(read_capped(&entry.source)?),
        _ => None,
    };
    let mut wanted = cd_appspec
        .as_deref()
        .map(hook_locations)
        .unwrap_or_default();
    wanted.insert(APPSPEC.to_string());
    let mut tree = BundleTree::new(&cd);
    let mut app = match app_archive {
        Some(path) => Some(scan::scan(
            path,
            growing,
            &|p| wanted.contains(p.as_str()),
            Some(&mut tree),
            &mut diags,
            cancel,
        )?),
        None => None,
    };
    tree.finish(&mut diags);
    if rules.strict {
        let app_label = app.as_ref().map(AppArchive::label);
        hardening::check(&tree, &cd.label(), app_label.as_deref(), &mut diags);
    }
    let Some((label, bytes)) = appspec_of(&cd, cd_appspec.as_deref(), app.as_ref()) else {
        missing_appspec(&cd, &tree, codedeploy_dir, &mut diags);
        return Ok(Checked {
            cd,
            app,
            tree,
            diags,
        });
    };
    let spec = appspec::check(&label, &bytes, &tree, app.is_some(), rules, &mut diags);
    // The appspec came from the archive: read it again for the hook scripts it names.
    if let (None, Some(archive)) = (&cd_appspec, &mut app) {
        capture_hooks(archive, &spec, growing, cancel)?;
    }
    let hooks = check_hook_scripts(&spec, &tree, &cd, app.as_ref(), rules, &mut diags)?;
    check_helper_scripts(&cd, &hooks, &mut diags)?;
    Ok(Checked {
        cd,
        app,
        tree,
        diags,
    })
}

/// The appspec that counts, and how messages name it: the CodeDeploy folder's, else the
/// archive's.
fn appspec_of(
    cd: &CodeDeployFiles,
    cd_appspec: Option<&[u8]>,
    app: Option<&AppArchive>,
) -> Option<(String, Vec<u8>)> {
    match (cd_appspec, app) {
        (Some(bytes), _) => Some((format!("{}/{APPSPEC}", cd.label()), bytes.to_vec())),
        (None, Some(app)) => app
            .captured
            .get(APPSPEC)
            .map(|bytes| (format!("{}: {APPSPEC}", app.label()), bytes.clone())),
        _ => None,
    }
}

/// No appspec.yml at the bundle root: the error says what was found instead.
fn missing_appspec(
    cd: &CodeDeployFiles,
    tree: &BundleTree,
    codedeploy_dir: &Path,
    diags: &mut Diagnostics,
) {
    let message = match tree.find_ignoring_case(APPSPEC) {
        _ if tree.kind_of("appspec.yaml").is_some() => {
            "missing; only appspec.yaml was found, but the agent's hooks read appspec.yml: rename it".to_string()
        }
        Some(other) => format!(
            "missing; {other} was found, but names are case-sensitive and the agent reads appspec.yml: rename it"
        ),
        None => format!(
            "missing at the bundle root: add {}",
            codedeploy_dir.join(APPSPEC).display()
        ),
    };
    diags.error(format!("{}/{APPSPEC}", cd.label()), message);
}

/// Reads the archive again for the hook scripts its own appspec names.
fn capture_hooks(
    archive: &mut AppArchive,
    spec: &appspec::AppSpec,
    growing: Option<&Arc<Growing>>,
    cancel: &Cancel,
) -> Result<()> {
    let locations: BTreeSet<String> = spec.hooks.iter().map(|h| h.location.to_string()).collect();
    let mut ignored = Diagnostics::default();
    let again = scan::scan(
        &archive.path,
        growing,
        &|p| locations.contains(p.as_str()),
        None,
        &mut ignored,
        cancel,
    )?;
    archive.captured.extend(again.captured);
    Ok(())
}

/// Checks each hook script once, wherever it lands from; returns their locations.
fn check_hook_scripts(
    spec: &appspec::AppSpec,
    tree: &BundleTree,
    cd: &CodeDeployFiles,
    app: Option<&AppArchive>,
    rules: Rules,
    diags: &mut Diagnostics,
) -> Result<BTreeSet<String>> {
    let mut checked = BTreeSet::new();
    for hook in &spec.hooks {
        let loc = hook.location.as_str();
        if !checked.insert(loc.to_string()) {
            continue;
        }
        match tree.node(loc).map(|n| (n.origin, n.kind)) {
            Some((Origin::CodeDeploy, Kind::File)) => {
                let entry = cd.get(loc).expect("tree node from the CodeDeploy folder");
                let content = read_capped(&entry.source)?;
                scripts::check_hook_script(
                    &format!("{}/{loc}", cd.label()),
                    &content,
                    rules.agents,
                    diags,
                );
            }
            Some((Origin::App, Kind::File)) => {
                let Some(app) = app else { continue };
                if let Some(content) = app.captured.get(loc) {
                    let at = format!("{}: entry '{loc}'", app.label());
                    scripts::check_hook_script(&at, content, rules.agents, diags);
                }
            }
            _ => {}
        }
    }
    Ok(checked)
}

/// The CodeDeploy folder's other scripts (helpers the hooks call): the same checks, and they
/// must be executable, since the agent makes only hook scripts so.
fn check_helper_scripts(
    cd: &CodeDeployFiles,
    hooks: &BTreeSet<String>,
    diags: &mut Diagnostics,
) -> Result<()> {
    for entry in &cd.entries {
        let loc = entry.path.as_str();
        if entry.kind != Kind::File || loc == APPSPEC || hooks.contains(loc) {
            continue;
        }
        let content = read_capped(&entry.source)?;
        if !scripts::looks_like_script(entry.path.file_name(), &content) {
            continue;
        }
        let at = format!("{}/{loc}", cd.label());
        scripts::check_script(&at, &content, diags);
        if entry.mode & 0o111 == 0 {
            diags.warn(
                at,
                "helper script is not executable; the agent makes only hook scripts executable, \
                 so calling it directly fails with 'Permission denied' (git update-index --chmod=+x)",
            );
        }
    }
    Ok(())
}

/// Whether a written bundle must be on disk before it is moved into place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The user's file (`--bundle-out`): flushed to disk before the rename, so that a crash
    /// leaves the old file or the whole new one, never a short one.
    Synced,
    /// A file of the run's own work folder, read back by the same run and removed at its end
    /// (`deploy`): a crash ends the run anyway, so the run does not wait for the disk (for a
    /// 1.3 GB bundle that wait is seconds of the deployment's time).
    Transient,
}

/// Writes the bundle of checked inputs to `out`, atomically: a temporary file in the same
/// folder, renamed over `out` only once it is complete.
pub fn write_bundle(
    checked: &Checked,
    out: &Path,
    mtime: u64,
    durability: Durability,
    cancel: &Cancel,
) -> Result<BundleInfo> {
    let app = checked
        .app
        .as_ref()
        .ok_or_else(|| Error::Usage("an application archive is needed to build a bundle".into()))?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io("cannot create folder", &parent, e))?;
    // 0666 less the umask, as any file a tool writes (a temporary file would be 0600).
    let tmp = tempfile::Builder::new()
        .prefix(".invisible-pipeline-")
        .suffix(".partial")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(&parent)
        .map_err(|e| Error::io("cannot create a temporary file in", &parent, e))?;
    let writer = std::io::BufWriter::with_capacity(256 * 1024, tmp);
    let (writer, written) =
        bundle::write(app, &checked.cd, &checked.tree, mtime, writer, out, cancel)?;
    let tmp = writer
        .into_inner()
        .map_err(|e| Error::io("cannot write bundle", out, e.into_error()))?;
    if durability == Durability::Synced {
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io("cannot write bundle", out, e))?;
    }
    tmp.persist(out)
        .map_err(|e| Error::io("cannot move bundle into place", out, e.error))?;
    Ok(bundle_info(checked, app, out, written))
}

/// Makes the bundle out of the downloaded release file itself when it can (see
/// [`bundle::write_over_release`]): the file, which must be the run's own, becomes the bundle.
/// `before_cut` learns how many of its bytes stay, before the file is cut. `None`, the file
/// untouched, when the bundle changes the release's bytes.
pub(crate) fn write_bundle_over_release(
    checked: &Checked,
    mtime: u64,
    before_cut: &dyn Fn(u64),
    cancel: &Cancel,
) -> Result<Option<BundleInfo>> {
    let app = checked
        .app
        .as_ref()
        .ok_or_else(|| Error::Usage("an application archive is needed to build a bundle".into()))?;
    let written =
        bundle::write_over_release(app, &checked.cd, &checked.tree, mtime, before_cut, cancel)?;
    Ok(written.map(|w| bundle_info(checked, app, &app.path, w)))
}

fn bundle_info(checked: &Checked, app: &AppArchive, path: &Path, written: Written) -> BundleInfo {
    BundleInfo {
        path: path.to_path_buf(),
        bundle_type: BundleFormat::of(app.compression),
        size_bytes: written.bytes,
        sha256: written.sha256,
        merge: written.merge,
        entries: counts(checked),
        release_bytes_kept: written.release_prefix,
        release_members_joined: (written.members_joined > 0).then_some(written.members_joined),
        reencoded_because: written.reencoded_because,
        bytes_written: written.bytes_written,
    }
}

pub(crate) fn counts(checked: &Checked) -> EntryCounts {
    EntryCounts {
        app: checked.tree.app_entries,
        codedeploy: checked.tree.codedeploy_entries,
        overridden: checked.tree.overridden.len(),
    }
}
