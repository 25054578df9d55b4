//! The CodeDeploy folder of a checkout: walked in sorted order without following symlinks,
//! turned into normalised bundle entries.

use crate::base::diag::Diagnostics;
use crate::base::error::{Error, Result};
use crate::bundle::paths::BundlePath;
use crate::bundle::paths::Kind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One file, directory or symlink of the CodeDeploy folder, as it goes into the bundle.
#[derive(Debug, Clone)]
pub(crate) struct CdEntry {
    pub path: BundlePath,
    pub kind: Kind,
    /// Normalised mode: 0755 for directories and executable files, 0644 for other files.
    pub mode: u32,
    pub size: u64,
    pub source: PathBuf,
    pub link: Option<String>,
}

/// The CodeDeploy folder: its entries in walk order.
#[derive(Debug)]
pub(crate) struct CodeDeployFiles {
    pub dir: PathBuf,
    pub entries: Vec<CdEntry>,
}

impl CodeDeployFiles {
    /// How diagnostics name the folder: its own name, as the user knows it.
    pub(crate) fn label(&self) -> String {
        crate::bundle::paths::label(&self.dir)
    }

    pub(crate) fn get(&self, path: &str) -> Option<&CdEntry> {
        self.entries.iter().find(|e| e.path.as_str() == path)
    }
}

/// Walks `dir`; a missing folder is a usage error, unreadable entries an I/O error, and
/// names or file types that cannot go into a bundle are problems in `diags`.
pub(crate) fn collect(dir: &Path, diags: &mut Diagnostics) -> Result<CodeDeployFiles> {
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "CodeDeploy folder {} does not exist or is not a directory (--codedeploy-dir / \
             CODEDEPLOY_FILES_DIR)",
            dir.display()
        )));
    }
    let label = crate::bundle::paths::label(dir);
    let mut entries = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .min_depth(1);
    for item in walker {
        let item = item.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            let source = e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("filesystem loop"));
            Error::io("cannot read CodeDeploy folder entry", &path, source)
        })?;
        let rel = item
            .path()
            .strip_prefix(dir)
            .expect("walkdir yields paths below its root");
        let rel_text = rel.to_string_lossy();
        let at = format!("{label}/{rel_text}");
        let Some(rel_str) = rel.to_str() else {
            diags.error(at, "file name is not valid UTF-8");
            continue;
        };
        let path = match BundlePath::parse(rel_str.as_bytes()) {
            Ok(Some(path)) => path,
            Ok(None) => continue,
            Err(e) => {
                diags.error(at, e.to_string());
                continue;
            }
        };
        if let Some(entry) = entry_of(item.path(), path, at, diags)? {
            entries.push(entry);
        }
    }
    Ok(CodeDeployFiles {
        dir: dir.to_path_buf(),
        entries,
    })
}

/// The entry of the file at `source`: a folder, a file (mode 0755 when executable in the
/// checkout, else 0644) or a symlink; `None` (a problem said) for other file types and
/// symlink targets that are not UTF-8.
fn entry_of(
    source: &Path,
    path: BundlePath,
    at: String,
    diags: &mut Diagnostics,
) -> Result<Option<CdEntry>> {
    let meta = source
        .symlink_metadata()
        .map_err(|e| Error::io("cannot stat", source, e))?;
    let file_type = meta.file_type();
    let (kind, mode, size, link) = if file_type.is_dir() {
        (Kind::Dir, 0o755, 0, None)
    } else if file_type.is_file() {
        let exec = meta.permissions().mode() & 0o111 != 0;
        (
            Kind::File,
            if exec { 0o755 } else { 0o644 },
            meta.len(),
            None,
        )
    } else if file_type.is_symlink() {
        let target =
            std::fs::read_link(source).map_err(|e| Error::io("cannot read symlink", source, e))?;
        let Some(target) = target.to_str().map(str::to_string) else {
            diags.error(at, "symlink target is not valid UTF-8");
            return Ok(None);
        };
        (Kind::Symlink, 0o777, 0, Some(target))
    } else {
        diags.error(at, "not a regular file, directory or symlink");
        return Ok(None);
    };
    Ok(Some(CdEntry {
        path,
        kind,
        mode,
        size,
        source: source.to_path_buf(),
        link,
    }))
}
