//! The merged view of a bundle: what an instance gets once the agent's tar has extracted it.
//!
//! CodeDeploy files come first in the bundle and application entries after, yet a CodeDeploy
//! file must win a collision; this index records the outcome and finds what GNU tar would
//! fail on or silently get wrong (a file and a directory of one name, entries under a file or
//! symlink, links leading out of the bundle).
//!
//! Releases with a vendored `node_modules` or a Python environment hold hundreds of thousands
//! of files, so the index is compact: a trie of 16-byte nodes, each path component stored
//! once, found through a hash table of node ids while the archive is read; once it is read
//! the table is dropped for each node's children, sorted by name. Full paths are made only
//! for a message or a walk. Entries are walked folder by folder, children by name (the order
//! of `tar --sort=name`).

use crate::base::diag::Diagnostics;
use crate::bundle::cdfiles::CodeDeployFiles;
use crate::bundle::paths::{BundlePath, Kind};
use hashbrown::{DefaultHashBuilder, HashTable};
use std::collections::BTreeSet;
use std::hash::BuildHasher;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    App,
    CodeDeploy,
}

/// What the merged bundle has at a path named by an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Node {
    pub kind: Kind,
    pub origin: Origin,
    /// A regular file with the setuid or setgid bit.
    pub setid: bool,
}

/// The root: the bundle's top folder, never named by an entry.
const ROOT: u32 = 0;
const NO_LINK: u32 = u32::MAX;
/// An entry names this path (without it, a directory implied by deeper entries).
const NAMED: u8 = 1;
const FROM_CODEDEPLOY: u8 = 2;
const SETID: u8 = 4;
/// The application archive has a directory entry of this path.
const APP_DIR: u8 = 8;

/// One path component: 16 bytes.
#[derive(Debug, Clone, Copy)]
struct Slot {
    parent: u32,
    name_at: u32,
    /// Index in `links`, or `NO_LINK`.
    link: u32,
    name_len: u16,
    kind: Kind,
    flags: u8,
}

/// One entry to merge: a CodeDeploy file or an application archive entry.
pub(crate) struct Entry {
    pub path: BundlePath,
    pub kind: Kind,
    pub link: Option<String>,
    pub setid: bool,
}

/// The merged bundle.
#[derive(Debug)]
pub(crate) struct BundleTree {
    slots: Vec<Slot>,
    names: Vec<u8>,
    links: Vec<Box<str>>,
    /// (parent, name) → node, while entries are added.
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// The last folder an entry was added to: archives list a folder's files together.
    cursor: (String, u32),
    /// Once finished: the children of node `n`, sorted by name, are
    /// `kids[kid_at[n]..kid_at[n + 1]]`.
    kid_at: Vec<u32>,
    kids: Vec<u32>,
    finished: bool,
    cd_label: String,
    app_label: Option<String>,
    /// App paths whose (non-directory) entries a CodeDeploy file replaces.
    pub overridden: BTreeSet<String>,
    pub app_entries: usize,
    pub codedeploy_entries: usize,
    /// Targets of the archive's hard links that are CodeDeploy files (few: the folder is small).
    hard_links_to_codedeploy: Vec<String>,
    /// A replaced archive symlink GNU tar makes late (absolute, or with a `..`).
    pub replaced_late_symlink: bool,
}

impl BundleTree {
    /// A tree of the CodeDeploy files, ready for the archive's entries ([`BundleTree::add_app`])
    /// and then [`BundleTree::finish`].
    pub(crate) fn new(cd: &CodeDeployFiles) -> Self {
        let mut tree = BundleTree {
            slots: vec![Slot {
                parent: ROOT,
                name_at: 0,
                link: NO_LINK,
                name_len: 0,
                kind: Kind::Dir,
                flags: 0,
            }],
            names: Vec::new(),
            links: Vec::new(),
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            cursor: (String::new(), ROOT),
            kid_at: Vec::new(),
            kids: Vec::new(),
            finished: false,
            cd_label: cd.label(),
            app_label: None,
            overridden: BTreeSet::new(),
            app_entries: 0,
            codedeploy_entries: 0,
            hard_links_to_codedeploy: Vec::new(),
            replaced_late_symlink: false,
        };
        for entry in &cd.entries {
            tree.codedeploy_entries += 1;
            let Some(id) = tree.locate(&entry.path) else {
                continue;
            };
            let link = entry.link.clone();
            let setid = entry.kind == Kind::File && entry.mode & 0o6000 != 0;
            tree.name_it(id, entry.kind, FROM_CODEDEPLOY, link, setid);
        }
        tree
    }

    /// The CodeDeploy files alone, checked.
    #[cfg(test)]
    pub(crate) fn build(cd: &CodeDeployFiles, diags: &mut Diagnostics) -> Self {
        let mut tree = BundleTree::new(cd);
        tree.finish(diags);
        tree
    }

    /// How messages name the application archive from now on.
    pub(crate) fn set_app_label(&mut self, label: String) {
        self.app_label = Some(label);
    }

    /// Merges one application entry (archive order: a later one replaces an earlier one of
    /// the same path, a CodeDeploy file replaces both) and reports a conflict into `diags`.
    pub(crate) fn add_app(&mut self, entry: Entry, diags: &mut Diagnostics) {
        self.app_entries += 1;
        let Some(id) = self.locate(&entry.path) else {
            diags.error(
                self.app_at(entry.path.as_str()),
                "has a path component longer than 65535 bytes",
            );
            return;
        };
        if entry.kind == Kind::Dir {
            self.slots[id as usize].flags |= APP_DIR;
        }
        let existing = self.slots[id as usize];
        if entry.kind == Kind::HardLink {
            self.note_hard_link(entry.link.as_deref());
        }
        if existing.flags & NAMED == 0 {
            self.name_it(id, entry.kind, 0, entry.link, entry.setid);
            return;
        }
        let from_codedeploy = existing.flags & FROM_CODEDEPLOY != 0;
        let (was_dir, is_dir) = (existing.kind == Kind::Dir, entry.kind == Kind::Dir);
        match (from_codedeploy, was_dir, is_dir) {
            (_, true, true) => {}
            (true, false, false) => {
                let key = entry.path.to_string();
                if entry.kind == Kind::Symlink && entry.link.as_deref().is_some_and(gnu_tar_delays)
                {
                    self.replaced_late_symlink = true;
                }
                if !self.overridden.contains(&key) {
                    diags.warn(
                        format!("{}/{key}", self.cd_label),
                        format!(
                            "replaces the {} of the same path in {}",
                            entry.kind.describe(),
                            self.app_label()
                        ),
                    );
                    self.overridden.insert(key);
                }
            }
            (false, false, false) => self.name_it(id, entry.kind, 0, entry.link, entry.setid),
            (_, _, _) => {
                let first = if from_codedeploy {
                    &self.cd_label
                } else {
                    self.app_label()
                };
                diags.error(
                    self.app_at(entry.path.as_str()),
                    format!(
                        "is a {} but {first} has a {} of the same name; the agent's tar fails \
                         on a file and a directory of one name",
                        entry.kind.describe(),
                        existing.kind.describe()
                    ),
                );
            }
        }
    }

    /// Ends the merge: sorts each folder's children and checks what only the whole tree shows
    /// (entries under a file or link, where links lead).
    pub(crate) fn finish(&mut self, diags: &mut Diagnostics) {
        self.index = HashTable::new();
        self.cursor = (String::new(), ROOT);
        self.sort_children();
        self.finished = true;
        self.check_structure(diags);
    }

    /// Whether an application hard link points at a path a CodeDeploy file replaces (GNU tar
    /// keeps the old content under such a link when the path is replaced after it).
    pub(crate) fn hard_link_to_replaced(&self) -> bool {
        self.hard_links_to_codedeploy
            .iter()
            .any(|target| self.overridden.contains(target))
    }

    /// Whether the application archive has a directory entry of `path`.
    pub(crate) fn has_app_dir(&self, path: &str) -> bool {
        self.find(path)
            .is_some_and(|id| self.slots[id as usize].flags & APP_DIR != 0)
    }

    /// The kind of a path in the merged bundle; directories implied by deeper entries count.
    pub(crate) fn kind_of(&self, path: &str) -> Option<Kind> {
        let slot = self.slots[self.find(path)? as usize];
        Some(if slot.flags & NAMED != 0 {
            slot.kind
        } else {
            Kind::Dir
        })
    }

    /// The entry of a path, when an entry names it.
    pub(crate) fn node(&self, path: &str) -> Option<Node> {
        let id = self.find(path)?;
        self.named(id)
    }

    /// Calls `visit` with every entry, folder by folder, children by name.
    pub(crate) fn for_each(&self, visit: impl FnMut(&str, Node)) {
        self.walk(ROOT, String::new(), visit);
    }

    /// Calls `visit` with every non-directory entry at or below `dir` ("" is the whole
    /// bundle), in the order of [`BundleTree::for_each`].
    pub(crate) fn for_each_file_under(&self, dir: &str, mut visit: impl FnMut(&str, Node)) {
        let Some(id) = self.find(dir) else {
            return;
        };
        self.walk(id, dir.to_string(), |path, node| {
            if node.kind != Kind::Dir {
                visit(path, node)
            }
        });
    }

    /// The file whose path is nearest to `path` by edit distance, when near enough to be a
    /// typo (at most a third of its length away).
    pub(crate) fn closest_file(&self, path: &str) -> Option<String> {
        let mut best: Option<(usize, String)> = None;
        self.for_each(|candidate, node| {
            if node.kind != Kind::File {
                return;
            }
            let d = strsim::levenshtein(candidate, path);
            let near = d > 0 && d <= 2.max(candidate.len() / 3) && d < path.len();
            if near && best.as_ref().is_none_or(|(b, _)| d < *b) {
                best = Some((d, candidate.to_string()));
            }
        });
        best.map(|(_, p)| p)
    }

    /// Case-insensitive lookup, for "did you mean" on a path that is not there; implied
    /// directories count. The first match in walk order.
    pub(crate) fn find_ignoring_case(&self, path: &str) -> Option<String> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let mut found = Vec::new();
        self.match_ignoring_case(ROOT, &parts, &mut found)
            .then(|| found.join("/"))
    }

    fn match_ignoring_case<'a>(
        &'a self,
        id: u32,
        parts: &[&str],
        found: &mut Vec<&'a str>,
    ) -> bool {
        let Some((first, rest)) = parts.split_first() else {
            return true;
        };
        for &kid in self.children(id) {
            let name = self.name_str(kid);
            if name.eq_ignore_ascii_case(first) {
                found.push(name);
                if self.match_ignoring_case(kid, rest, found) {
                    return true;
                }
                found.pop();
            }
        }
        false
    }

    fn app_label(&self) -> &str {
        self.app_label.as_deref().unwrap_or("app archive")
    }

    fn app_at(&self, path: &str) -> String {
        format!("{}: entry '{path}'", self.app_label())
    }

    fn name(&self, id: u32) -> &[u8] {
        component(&self.slots, &self.names, id)
    }

    fn name_str(&self, id: u32) -> &str {
        std::str::from_utf8(self.name(id)).expect("names come from UTF-8 paths")
    }

    fn named(&self, id: u32) -> Option<Node> {
        let slot = self.slots[id as usize];
        (slot.flags & NAMED != 0).then_some(Node {
            kind: slot.kind,
            origin: if slot.flags & FROM_CODEDEPLOY != 0 {
                Origin::CodeDeploy
            } else {
                Origin::App
            },
            setid: slot.flags & SETID != 0,
        })
    }

    fn link(&self, id: u32) -> Option<&str> {
        let link = self.slots[id as usize].link;
        (link != NO_LINK).then(|| &*self.links[link as usize])
    }

    /// Records what an entry says of node `id` (`origin` is `FROM_CODEDEPLOY` or 0).
    fn name_it(&mut self, id: u32, kind: Kind, origin: u8, link: Option<String>, setid: bool) {
        let link = match link {
            Some(target) => {
                self.links.push(target.into_boxed_str());
                (self.links.len() - 1) as u32
            }
            None => NO_LINK,
        };
        let slot = &mut self.slots[id as usize];
        slot.kind = kind;
        slot.link = link;
        slot.flags = (slot.flags & APP_DIR) | NAMED | origin | if setid { SETID } else { 0 };
    }

    fn note_hard_link(&mut self, target: Option<&str>) {
        let Some(target) = target.and_then(|t| BundlePath::parse(t.as_bytes()).ok().flatten())
        else {
            return;
        };
        let to_codedeploy = self.find(target.as_str()).is_some_and(|id| {
            let flags = self.slots[id as usize].flags;
            flags & FROM_CODEDEPLOY != 0 && flags & NAMED != 0
        });
        if to_codedeploy && !self.hard_links_to_codedeploy.contains(&target.to_string()) {
            self.hard_links_to_codedeploy.push(target.to_string());
        }
    }

    /// The node of `path`, made (with its folders, as implied directories) when new; `None`
    /// for a component too long to hold.
    fn locate(&mut self, path: &BundlePath) -> Option<u32> {
        let (dir, leaf) = match path.as_str().rsplit_once('/') {
            Some((dir, leaf)) => (dir, leaf),
            None => ("", path.as_str()),
        };
        let parent = if dir == self.cursor.0 {
            self.cursor.1
        } else {
            let mut id = ROOT;
            for part in dir.split('/').filter(|p| !p.is_empty()) {
                id = self.child_or_new(id, part.as_bytes())?;
            }
            self.cursor.0.clear();
            self.cursor.0.push_str(dir);
            self.cursor.1 = id;
            id
        };
        self.child_or_new(parent, leaf.as_bytes())
    }

    fn child_or_new(&mut self, parent: u32, name: &[u8]) -> Option<u32> {
        let Self {
            slots,
            names,
            index,
            hasher,
            ..
        } = self;
        let hash = hasher.hash_one((parent, name));
        if let Some(&id) = index.find(hash, |&id| {
            slots[id as usize].parent == parent && component(slots, names, id) == name
        }) {
            return Some(id);
        }
        let name_len = u16::try_from(name.len()).ok()?;
        let id = u32::try_from(slots.len()).expect("fewer than 4 billion entries");
        let name_at = u32::try_from(names.len()).expect("less than 4 GiB of names");
        names.extend_from_slice(name);
        slots.push(Slot {
            parent,
            name_at,
            link: NO_LINK,
            name_len,
            kind: Kind::Dir,
            flags: 0,
        });
        let (slots, names) = (&*slots, &*names);
        index.insert_unique(hash, id, |&id| {
            hasher.hash_one((slots[id as usize].parent, component(slots, names, id)))
        });
        Some(id)
    }

    /// The node of `path` ("" is the root), named or implied.
    fn find(&self, path: &str) -> Option<u32> {
        let mut id = ROOT;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            id = self.child(id, part.as_bytes())?;
        }
        Some(id)
    }

    fn child(&self, parent: u32, name: &[u8]) -> Option<u32> {
        if self.finished {
            let kids = self.children(parent);
            return kids
                .binary_search_by(|&kid| self.name(kid).cmp(name))
                .ok()
                .map(|i| kids[i]);
        }
        let hash = self.hasher.hash_one((parent, name));
        self.index
            .find(hash, |&id| {
                self.slots[id as usize].parent == parent && self.name(id) == name
            })
            .copied()
    }

    fn children(&self, id: u32) -> &[u32] {
        match (
            self.kid_at.get(id as usize),
            self.kid_at.get(id as usize + 1),
        ) {
            (Some(&start), Some(&end)) => &self.kids[start as usize..end as usize],
            _ => &[],
        }
    }

    /// Lays out each node's children together (a counting sort by parent), then sorts them by
    /// name.
    fn sort_children(&mut self) {
        let n = self.slots.len();
        let mut kid_at = vec![0u32; n + 1];
        for slot in &self.slots[1..] {
            kid_at[slot.parent as usize + 1] += 1;
        }
        for i in 1..=n {
            kid_at[i] += kid_at[i - 1];
        }
        let mut kids = vec![0u32; n - 1];
        // kid_at[p] moves to the end of p's children as they are placed...
        for (id, slot) in self.slots.iter().enumerate().skip(1) {
            let at = &mut kid_at[slot.parent as usize];
            kids[*at as usize] = id as u32;
            *at += 1;
        }
        // ...which is where p + 1's begin.
        for i in (1..=n).rev() {
            kid_at[i] = kid_at[i - 1];
        }
        kid_at[0] = 0;
        for p in 0..n {
            let (start, end) = (kid_at[p] as usize, kid_at[p + 1] as usize);
            if end - start > 1 {
                let (slots, names) = (&self.slots, &self.names);
                kids[start..end].sort_unstable_by(|&a, &b| {
                    component(slots, names, a).cmp(component(slots, names, b))
                });
            }
        }
        self.kid_at = kid_at;
        self.kids = kids;
    }

    /// Depth first from `start` (whose path is `path`), children by name; `visit` gets every
    /// named node below it (and `start` itself when named), with its path.
    fn walk(&self, start: u32, mut path: String, mut visit: impl FnMut(&str, Node)) {
        let mut stack: Vec<(u32, usize)> = Vec::new();
        if start != ROOT {
            if let Some(node) = self.named(start) {
                visit(&path, node);
            }
        }
        let base = path.len();
        stack.extend(self.children(start).iter().rev().map(|&kid| (kid, base)));
        while let Some((id, len)) = stack.pop() {
            path.truncate(len);
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(self.name_str(id));
            if let Some(node) = self.named(id) {
                visit(&path, node);
            }
            let len = path.len();
            stack.extend(self.children(id).iter().rev().map(|&kid| (kid, len)));
        }
    }

    fn path_of(&self, mut id: u32) -> String {
        let mut parts = Vec::new();
        while id != ROOT {
            parts.push(self.name_str(id));
            id = self.slots[id as usize].parent;
        }
        parts.reverse();
        parts.join("/")
    }

    fn where_from(&self, node: Node, path: &str) -> String {
        match node.origin {
            Origin::CodeDeploy => format!("{}/{path}", self.cd_label),
            Origin::App => self.app_at(path),
        }
    }

    /// Every named entry under a file or link, and every link leading out of the bundle or
    /// nowhere, in walk order.
    fn check_structure(&self, diags: &mut Diagnostics) {
        // (node, the outermost named non-directory above it)
        let mut stack: Vec<(u32, u32)> = self
            .children(ROOT)
            .iter()
            .rev()
            .map(|&kid| (kid, ROOT))
            .collect();
        while let Some((id, blocked_by)) = stack.pop() {
            let node = self.named(id);
            if let Some(node) = node {
                if blocked_by != ROOT {
                    let ancestor = self.path_of(blocked_by);
                    let kind = self.slots[blocked_by as usize].kind;
                    diags.error(
                        self.where_from(node, &self.path_of(id)),
                        format!(
                            "lies under '{ancestor}', which is a {}; the agent's tar cannot \
                             extract it",
                            kind.describe()
                        ),
                    );
                }
                if matches!(node.kind, Kind::Symlink | Kind::HardLink) {
                    self.check_link(id, node, diags);
                }
            }
            let below = match node {
                _ if blocked_by != ROOT => blocked_by,
                Some(node) if node.kind != Kind::Dir => id,
                _ => ROOT,
            };
            stack.extend(self.children(id).iter().rev().map(|&kid| (kid, below)));
        }
    }

    fn check_link(&self, id: u32, node: Node, diags: &mut Diagnostics) {
        let Some(target) = self.link(id) else {
            return;
        };
        let path = self.path_of(id);
        let at = self.where_from(node, &path);
        if node.kind == Kind::Symlink {
            let bundle_path = BundlePath::parse(path.as_bytes())
                .ok()
                .flatten()
                .expect("tree paths are normalised paths");
            match bundle_path.resolve_link(target) {
                None => diags.error(
                    at,
                    format!(
                        "symlink to '{target}' points outside the bundle; the agent \
                         follows directory symlinks when it installs files"
                    ),
                ),
                Some(Some(resolved)) if self.kind_of(resolved.as_str()).is_none() => diags.warn(
                    at,
                    format!("dangling symlink: '{target}' is not in the bundle"),
                ),
                Some(_) => {}
            }
            return;
        }
        match BundlePath::parse(target.as_bytes()) {
            Ok(Some(resolved)) => match self.kind_of(resolved.as_str()) {
                Some(Kind::Dir) => diags.error(at, format!("hard link to directory '{target}'")),
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
        }
    }
}

/// The name of node `id`: its bytes in `names`.
fn component<'a>(slots: &[Slot], names: &'a [u8], id: u32) -> &'a [u8] {
    let slot = &slots[id as usize];
    &names[slot.name_at as usize..][..slot.name_len as usize]
}

/// Whether GNU tar extracts a symlink of this target late, through a placeholder: an absolute
/// target, or one with a `..` component (its `contains_dot_dot`).
pub(crate) fn gnu_tar_delays(target: &str) -> bool {
    target.starts_with('/') || target.split('/').any(|part| part == "..")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn entry(path: &str, kind: Kind, link: Option<&str>) -> Entry {
        Entry {
            path: BundlePath::parse(path.as_bytes()).unwrap().unwrap(),
            kind,
            link: link.map(str::to_string),
            setid: false,
        }
    }

    fn merged(app: &[(&str, Kind, Option<&str>)]) -> (BundleTree, Vec<String>) {
        let cd = CodeDeployFiles {
            dir: PathBuf::from("CodeDeploy_Files"),
            entries: Vec::new(),
        };
        let mut tree = BundleTree::new(&cd);
        tree.set_app_label("release.tar.gz".into());
        let mut diags = Diagnostics::default();
        for (path, kind, link) in app {
            tree.add_app(entry(path, *kind, *link), &mut diags);
        }
        tree.finish(&mut diags);
        (tree, diags.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn folders_are_implied_walked_by_name_and_found_again() {
        let (tree, problems) = merged(&[
            ("b/z.txt", Kind::File, None),
            ("a/y.txt", Kind::File, None),
            ("b", Kind::Dir, None),
            ("a/x.txt", Kind::File, None),
            ("a.txt", Kind::File, None),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        let mut seen = Vec::new();
        tree.for_each(|path, node| seen.push((path.to_string(), node.kind)));
        assert_eq!(
            seen,
            [
                ("a/x.txt".to_string(), Kind::File),
                ("a/y.txt".to_string(), Kind::File),
                ("a.txt".to_string(), Kind::File),
                ("b".to_string(), Kind::Dir),
                ("b/z.txt".to_string(), Kind::File),
            ]
        );
        assert_eq!(tree.kind_of("a"), Some(Kind::Dir));
        assert_eq!(tree.node("a"), None, "implied, not named");
        assert_eq!(tree.kind_of("a/x.txt"), Some(Kind::File));
        assert_eq!(tree.kind_of("a/w.txt"), None);
        assert_eq!(tree.kind_of(""), Some(Kind::Dir));
        assert_eq!(
            tree.find_ignoring_case("A/X.TXT").as_deref(),
            Some("a/x.txt")
        );
        assert!(tree.has_app_dir("b") && !tree.has_app_dir("a"));
        let mut under = Vec::new();
        tree.for_each_file_under("a", |path, _| under.push(path.to_string()));
        assert_eq!(under, ["a/x.txt", "a/y.txt"]);
    }

    #[test]
    fn an_entry_under_a_file_a_clash_and_links_are_reported() {
        let (_, problems) = merged(&[
            ("lib", Kind::File, None),
            ("lib/x.js", Kind::File, None),
            ("data", Kind::Dir, None),
            ("data", Kind::File, None),
            ("up", Kind::Symlink, Some("../etc")),
            ("gone", Kind::Symlink, Some("missing")),
            ("hard", Kind::HardLink, Some("data")),
        ]);
        let expected = [
            "release.tar.gz: entry 'data': is a file but release.tar.gz has a directory of the same name",
            "release.tar.gz: entry 'gone': dangling symlink: 'missing' is not in the bundle",
            "release.tar.gz: entry 'hard': hard link to directory 'data'",
            "release.tar.gz: entry 'lib/x.js': lies under 'lib', which is a file",
            "release.tar.gz: entry 'up': symlink to '../etc' points outside the bundle",
        ];
        assert_eq!(problems.len(), expected.len(), "{problems:?}");
        for want in expected {
            assert!(
                problems.iter().any(|p| p.contains(want)),
                "{want} in {problems:?}"
            );
        }
    }
}
