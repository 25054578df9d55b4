//! Safe, normalised paths inside a bundle, and the vocabulary every part of a bundle shares:
//! what an entry is ([`Kind`]) and how messages name an input ([`label`]).
//!
//! Every path that enters a bundle, from the application archive or from the CodeDeploy
//! folder, goes through [`BundlePath::parse`]. It is the one place where escaping paths are
//! rejected and where `./x`, `x` and `x/` become the same path, so that collisions between the
//! two sources are found however each tool spelled its entries.

use std::fmt;
use std::path::Path;

/// A relative, normalised path inside a bundle: `/`-separated, no empty, `.` or `..`
/// components, no leading or trailing slash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct BundlePath(String);

/// Why a path cannot be part of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PathError {
    #[error("empty path")]
    Empty,
    #[error("absolute path (the agent's tar strips the leading '/'; make the path relative)")]
    Absolute,
    #[error("path climbs out of the bundle with '..'")]
    ParentDir,
    #[error("path contains a NUL byte")]
    Nul,
    #[error("path is not valid UTF-8")]
    NotUtf8,
    #[error("path starts with a Windows drive letter")]
    DrivePrefix,
}

impl BundlePath {
    /// Parses an archive entry name or a relative file name.
    ///
    /// Returns `Ok(None)` for the bundle root itself (`.`, `./`), which archives made with
    /// `tar -C dir .` carry as their first entry.
    pub(crate) fn parse(raw: &[u8]) -> Result<Option<BundlePath>, PathError> {
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        if raw.contains(&0) {
            return Err(PathError::Nul);
        }
        let text = std::str::from_utf8(raw).map_err(|_| PathError::NotUtf8)?;
        if text.starts_with('/') {
            return Err(PathError::Absolute);
        }
        let bytes = text.as_bytes();
        if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
            return Err(PathError::DrivePrefix);
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in text.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(PathError::ParentDir),
                other => parts.push(other),
            }
        }
        if parts.is_empty() {
            return Ok(None);
        }
        Ok(Some(BundlePath(parts.join("/"))))
    }

    /// Resolves a symbolic link target relative to the directory that holds `self`.
    ///
    /// Returns `None` when the target is absolute or climbs above the bundle root, that is,
    /// when the link would point outside the bundle once extracted. `Some(None)` is the root.
    pub(crate) fn resolve_link(&self, target: &str) -> Option<Option<BundlePath>> {
        if target.starts_with('/') || target.is_empty() {
            return None;
        }
        let mut parts: Vec<&str> = self.0.split('/').collect();
        parts.pop();
        for part in target.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop()?;
                }
                other => parts.push(other),
            }
        }
        if parts.is_empty() {
            Some(None)
        } else {
            Some(Some(BundlePath(parts.join("/"))))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The last component.
    pub(crate) fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for BundlePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an entry of a bundle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
    HardLink,
}

impl Kind {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "directory",
            Kind::Symlink => "symlink",
            Kind::HardLink => "hard link",
        }
    }
}

/// How messages name a file or folder given on the command line: its last component.
pub(crate) fn label(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        type Case<'a> = (&'a [u8], Result<Option<&'a str>, PathError>);
        let cases: &[Case] = &[
            (b"a", Ok(Some("a"))),
            (b"./a", Ok(Some("a"))),
            (b"a/", Ok(Some("a"))),
            (b"./a//b/./c/", Ok(Some("a/b/c"))),
            (b".", Ok(None)),
            (b"./", Ok(None)),
            (b"", Err(PathError::Empty)),
            (b"/etc/passwd", Err(PathError::Absolute)),
            (b"//x", Err(PathError::Absolute)),
            (b"../x", Err(PathError::ParentDir)),
            (b"a/../../x", Err(PathError::ParentDir)),
            (b"a/..", Err(PathError::ParentDir)),
            (b"C:/Windows", Err(PathError::DrivePrefix)),
            (b"c:x", Err(PathError::DrivePrefix)),
            (b"a\0b", Err(PathError::Nul)),
            (b"\xff\xfe", Err(PathError::NotUtf8)),
            (b"..a/b..", Ok(Some("..a/b.."))),
            (b"dir with space/x", Ok(Some("dir with space/x"))),
        ];
        for (raw, expected) in cases {
            let got = BundlePath::parse(raw).map(|p| p.map(|p| p.0));
            let expected = expected.clone().map(|p| p.map(str::to_string));
            assert_eq!(got, expected, "input {:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn resolve_link_table() {
        let p = |s: &str| BundlePath::parse(s.as_bytes()).unwrap().unwrap();
        let cases: &[(&str, &str, Option<Option<&str>>)] = &[
            ("a/link", "target", Some(Some("a/target"))),
            ("a/link", "../b", Some(Some("b"))),
            ("a/link", "..", Some(None)),
            ("a/link", "../..", None),
            ("link", "../x", None),
            ("link", "/etc/passwd", None),
            ("a/b/link", "./c/../d", Some(Some("a/b/d"))),
            ("link", "", None),
        ];
        for (link, target, expected) in cases {
            let got = p(link).resolve_link(target).map(|o| o.map(|p| p.0));
            let expected = expected.map(|o| o.map(str::to_string));
            assert_eq!(got, expected, "{link} -> {target}");
        }
    }

    #[test]
    fn file_name() {
        let p = BundlePath::parse(b"a/b/c").unwrap().unwrap();
        assert_eq!(p.file_name(), "c");
    }
}
