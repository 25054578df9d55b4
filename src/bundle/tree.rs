//! The merged view of a bundle: what an instance gets once the agent's tar has extracted it.
//!
//! CodeDeploy files come first in the bundle and application entries after, yet a CodeDeploy
//! file must win a collision; this index records the outcome and finds what GNU tar would
//! fail on or silently get wrong (a file and a directory of one name, entries under a file or
//! symlink, links leading out of the bundle).

use crate::base::diag::Diagnostics;
use crate::bundle::cdfiles::CodeDeployFiles;
use crate::bundle::paths::BundlePath;
use crate::bundle::paths::Kind;
use crate::bundle::scan::AppArchive;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    App,
    CodeDeploy,
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    pub origin: Origin,
    pub link: Option<String>,
    /// A regular file with the setuid or setgid bit.
    pub setid: bool,
}

/// The merged bundle, by path.
#[derive(Debug, Default)]
pub(crate) struct BundleTree {
    nodes: BTreeMap<String, Node>,
    /// App paths whose (non-directory) entries a CodeDeploy file replaces.
    pub overridden: BTreeSet<String>,
    pub app_entries: usize,
    pub codedeploy_entries: usize,
}

impl BundleTree {
    /// Merges both sources and reports every conflict into `diags`.
    pub(crate) fn build(
        cd: &CodeDeployFiles,
        app: Option<&AppArchive>,
        diags: &mut Diagnostics,
    ) -> Self {
        let mut tree = BundleTree::default();
        let cd_label = cd.label();
        for entry in &cd.entries {
            tree.codedeploy_entries += 1;
            tree.nodes.insert(
                entry.path.to_string(),
                Node {
                    kind: entry.kind,
                    origin: Origin::CodeDeploy,
                    link: entry.link.clone(),
                    setid: entry.kind == Kind::File && entry.mode & 0o6000 != 0,
                },
            );
        }
        if let Some(app) = app {
            let app_label = app.label();
            for entry in &app.entries {
                tree.app_entries += 1;
                let key = entry.path.to_string();
                let node = Node {
                    kind: entry.kind,
                    origin: Origin::App,
                    link: entry.link.clone(),
                    setid: entry.setid,
                };
                let Some(existing) = tree.nodes.get(&key) else {
                    tree.nodes.insert(key, node);
                    continue;
                };
                let (was_dir, is_dir) = (existing.kind == Kind::Dir, entry.kind == Kind::Dir);
                match (existing.origin, was_dir, is_dir) {
                    (_, true, true) => {}
                    (Origin::CodeDeploy, false, false) => {
                        if tree.overridden.insert(key.clone()) {
                            diags.warn(
                                format!("{cd_label}/{key}"),
                                format!(
                                    "replaces the {} of the same path in {app_label}",
                                    entry.kind.describe()
                                ),
                            );
                        }
                    }
                    (Origin::App, false, false) => {
                        tree.nodes.insert(key, node);
                    }
                    (origin, _, _) => {
                        let first = match origin {
                            Origin::CodeDeploy => format!("{cd_label} has"),
                            Origin::App => format!("{app_label} has"),
                        };
                        diags.error(
                            format!("{app_label}: entry '{key}'"),
                            format!(
                                "is a {} but {first} a {} of the same name; the agent's tar fails \
                                 on a file and a directory of one name",
                                entry.kind.describe(),
                                existing.kind.describe()
                            ),
                        );
                    }
                }
            }
        }
        tree.check_structure(&cd_label, app.map(|a| a.label()), diags);
        tree
    }

    fn where_from(
        &self,
        node: &Node,
        cd_label: &str,
        app_label: &Option<String>,
        path: &str,
    ) -> String {
        match node.origin {
            Origin::CodeDeploy => format!("{cd_label}/{path}"),
            Origin::App => format!(
                "{}: entry '{path}'",
                app_label.as_deref().unwrap_or("app archive")
            ),
        }
    }

    fn check_structure(&self, cd_label: &str, app_label: Option<String>, diags: &mut Diagnostics) {
        for (path, node) in &self.nodes {
            let at = self.where_from(node, cd_label, &app_label, path);
            let bundle_path = BundlePath::parse(path.as_bytes())
                .ok()
                .flatten()
                .expect("tree keys are normalised paths");
            for ancestor in bundle_path.ancestors() {
                if let Some(parent) = self.nodes.get(ancestor) {
                    if parent.kind != Kind::Dir {
                        diags.error(
                            at.clone(),
                            format!(
                                "lies under '{ancestor}', which is a {}; the agent's tar cannot \
                                 extract it",
                                parent.kind.describe()
                            ),
                        );
                        break;
                    }
                }
            }
            match (node.kind, node.link.as_deref()) {
                (Kind::Symlink, Some(target)) => match bundle_path.resolve_link(target) {
                    None => diags.error(
                        at,
                        format!(
                            "symlink to '{target}' points outside the bundle; the agent \
                             follows directory symlinks when it installs files"
                        ),
                    ),
                    Some(Some(resolved)) if self.kind_of(resolved.as_str()).is_none() => diags
                        .warn(
                            at,
                            format!("dangling symlink: '{target}' is not in the bundle"),
                        ),
                    Some(_) => {}
                },
                (Kind::HardLink, Some(target)) => match BundlePath::parse(target.as_bytes()) {
                    Ok(Some(resolved)) => match self.kind_of(resolved.as_str()) {
                        Some(Kind::Dir) => {
                            diags.error(at, format!("hard link to directory '{target}'"))
                        }
                        Some(_) => {}
                        None => diags.error(
                            at,
                            format!("hard link to '{target}', which is not in the bundle"),
                        ),
                    },
                    _ => diags.error(
                        at,
                        format!("hard link to '{target}' resolves outside the bundle"),
                    ),
                },
                _ => {}
            }
        }
    }

    /// The kind of a path in the merged bundle; directories implied by deeper entries count.
    pub(crate) fn kind_of(&self, path: &str) -> Option<Kind> {
        if path.is_empty() {
            return Some(Kind::Dir);
        }
        if let Some(node) = self.nodes.get(path) {
            return Some(node.kind);
        }
        let prefix = format!("{path}/");
        self.nodes
            .range::<String, _>((Bound::Included(&prefix), Bound::Unbounded))
            .next()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|_| Kind::Dir)
    }

    /// Every entry, in path order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.nodes.iter()
    }

    pub(crate) fn node(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Every non-directory entry at or below `dir` ("" is the whole bundle), in path order.
    pub(crate) fn files_under<'a>(
        &'a self,
        dir: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Node)> + 'a {
        let start = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.nodes
            .range::<String, _>((Bound::Included(&start), Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(&start))
            .filter(|(_, n)| n.kind != Kind::Dir)
    }

    /// Case-insensitive lookup, for "did you mean" on a path that is not there; implied
    /// directories count.
    /// The file whose path is nearest to `path` by edit distance, when near enough to be a
    /// typo (at most a third of its length away).
    pub(crate) fn closest_file(&self, path: &str) -> Option<&str> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.kind == Kind::File)
            .map(|(k, _)| (strsim::levenshtein(k, path), k.as_str()))
            .filter(|(d, k)| *d > 0 && *d <= 2.max(k.len() / 3) && *d < path.len())
            .min_by_key(|(d, _)| *d)
            .map(|(_, k)| k)
    }

    pub(crate) fn find_ignoring_case(&self, path: &str) -> Option<&str> {
        self.nodes.keys().find_map(|key| {
            let head = key.get(..path.len())?;
            let ends = key.len() == path.len() || key.as_bytes()[path.len()] == b'/';
            (ends && head.eq_ignore_ascii_case(path)).then_some(head)
        })
    }
}
