//! AppSpec checks for the EC2/on-premises (Server) platform, after the rules of the
//! CodeDeploy agent: everything the agent fails on, and everything it silently gets wrong
//! (a misspelled hook name is never run), is an error here, before anything is deployed.

use crate::base::diag::{AgentRule, Diagnostics, Severity};
use crate::bundle::paths::BundlePath;
use crate::bundle::paths::Kind;
use crate::bundle::tree::BundleTree;
use crate::rules::agents::{Agents, Rules};
use crate::rules::yaml::{self, Yaml};
use std::collections::HashSet;

pub(crate) const APPSPEC: &str = "appspec.yml";

/// The lifecycle events that can run scripts on EC2/on-premises instances.
pub(crate) const LIFECYCLE_EVENTS: [&str; 9] = [
    "ApplicationStop",
    "BeforeInstall",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
    "BeforeBlockTraffic",
    "AfterBlockTraffic",
    "BeforeAllowTraffic",
    "AfterAllowTraffic",
];

const TOP_LEVEL_KEYS: [&str; 6] = [
    "version",
    "os",
    "files",
    "permissions",
    "hooks",
    "file_exists_behavior",
];

/// The longest time one lifecycle event may take, all its scripts together.
pub(crate) const MAX_EVENT_SECONDS: u64 = 3600;

/// A hook script the appspec names, for the script checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HookScript {
    pub event: String,
    pub location: BundlePath,
}

/// The result of checking an appspec: the hook scripts it runs.
#[derive(Debug, Default)]
pub(crate) struct AppSpec {
    pub hooks: Vec<HookScript>,
}

/// Suggests the closest of `candidates` to a misspelled `word`.
/// Accounts that Amazon Linux (2 and 2023) creates with a shell that is not a login shell
/// (`/sbin/nologin`, `/bin/false`, `/bin/sync`, `/sbin/shutdown`, `/sbin/halt`): the base
/// `setup` package's /etc/passwd, plus the accounts of the web and database server packages
/// hooks most often name. The agent runs `runas` hooks with `su USER -c` (or `sudo su`),
/// which needs a login shell (`hook_executor.rb` of aws-codedeploy-agent 1.8).
pub(crate) const NOLOGIN_ACCOUNTS: [&str; 24] = [
    "bin",
    "daemon",
    "adm",
    "lp",
    "sync",
    "shutdown",
    "halt",
    "mail",
    "operator",
    "games",
    "ftp",
    "nobody",
    "dbus",
    "systemd-network",
    "systemd-resolve",
    "systemd-timesync",
    "sshd",
    "chrony",
    "rpc",
    "apache",
    "nginx",
    "mysql",
    "postgres",
    "tomcat",
];

pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| {
            (
                strsim::levenshtein(&word.to_lowercase(), &c.to_lowercase()),
                *c,
            )
        })
        .filter(|(d, c)| *d <= 1.max(c.len() / 3) && *d < word.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn suggestion(word: &str, candidates: &[&str]) -> String {
    did_you_mean(word, candidates)
        .map(|s| format!(" (did you mean {s}?)"))
        .unwrap_or_default()
}

struct Checker<'a> {
    label: &'a str,
    tree: &'a BundleTree,
    /// False when only the CodeDeploy folder is known: paths the app archive may provide are
    /// then not required to exist.
    complete: bool,
    rules: Rules,
    diags: &'a mut Diagnostics,
}

impl Checker<'_> {
    /// A rule both agents hold to.
    fn error(&mut self, path: &str, node: Option<&Yaml>, message: impl std::fmt::Display) {
        self.rule(Severity::Error, AgentRule::Both, path, node, message);
    }

    /// A warning on what both agents accept.
    fn warn(&mut self, path: &str, node: Option<&Yaml>, message: impl std::fmt::Display) {
        self.rule(Severity::Warning, AgentRule::Both, path, node, message);
    }

    /// A rule of `agent`: said only when that agent is in scope.
    fn rule(
        &mut self,
        severity: Severity,
        agent: AgentRule,
        path: &str,
        node: Option<&Yaml>,
        message: impl std::fmt::Display,
    ) {
        if self.rules.agents.covers(agent) {
            self.diags.at_line(
                severity,
                self.label,
                path,
                node.map(|n| n.line()),
                message.to_string(),
                Some(agent),
            );
        }
    }

    /// A rule of this tool, not of an agent (what it builds, what it can check).
    fn refuse(&mut self, path: &str, node: Option<&Yaml>, message: impl std::fmt::Display) {
        self.diags.at_line(
            Severity::Error,
            self.label,
            path,
            node.map(|n| n.line()),
            message.to_string(),
            None,
        );
    }

    /// A map's entries with string keys; other keys and duplicates are reported.
    fn entries<'y>(&mut self, path: &str, node: &'y Yaml) -> Option<Vec<(&'y str, &'y Yaml)>> {
        let Yaml::Map { entries, .. } = node else {
            self.error(
                path,
                Some(node),
                format!("must be a map, found {}", node.kind()),
            );
            return None;
        };
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (key, value) in entries {
            let Some(name) = key.as_str() else {
                self.error(path, Some(key), "keys must be plain names");
                continue;
            };
            if !seen.insert(name) {
                self.error(
                    &join(path, name),
                    Some(key),
                    "duplicate key; YAML keeps only the last one",
                );
            }
            out.push((name, value));
        }
        Some(out)
    }

    fn list<'y>(&mut self, path: &str, node: &'y Yaml) -> Option<&'y [Yaml]> {
        match node {
            Yaml::Seq { items, .. } => Some(items),
            _ if node.is_null() => Some(&[]),
            _ => {
                self.error(
                    path,
                    Some(node),
                    format!("must be a list, found {}", node.kind()),
                );
                None
            }
        }
    }

    fn string<'y>(&mut self, path: &str, node: &'y Yaml) -> Option<&'y str> {
        match node {
            Yaml::Scalar { value, .. } if !node.is_null() => Some(value),
            _ => {
                self.error(
                    path,
                    Some(node),
                    format!("must be a string, found {}", node.kind()),
                );
                None
            }
        }
    }

    /// Checks that a bundle path named by the appspec exists in the merged bundle.
    fn require_in_bundle(&mut self, path: &str, node: &Yaml, rel: &str, want_file: bool) {
        let kind = self.tree.kind_of(rel);
        match kind {
            Some(Kind::Dir) if want_file => self.error(
                path,
                Some(node),
                format!("'{rel}' is a directory, not a script"),
            ),
            Some(_) => {}
            None if !self.complete && self.tree.find_ignoring_case(rel).is_none() => {
                if want_file {
                    self.warn(
                        path,
                        Some(node),
                        format!("'{rel}' is not in the CodeDeploy folder; it must come from the application archive"),
                    );
                }
            }
            None => {
                let hint = match self.tree.find_ignoring_case(rel) {
                    Some(p) => format!(" (did you mean '{p}'? paths are case-sensitive)"),
                    None => self
                        .tree
                        .closest_file(rel)
                        .map(|p| format!(" (did you mean '{p}'?)"))
                        .unwrap_or_default(),
                };
                self.error(
                    path,
                    Some(node),
                    format!("'{rel}' is not in the bundle{hint}"),
                );
            }
        }
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Checks the raw bytes of the text before YAML parsing: encoding, byte-order mark, tabs.
fn check_text<'t>(
    label: &str,
    bytes: &'t [u8],
    agents: Agents,
    diags: &mut Diagnostics,
) -> Option<&'t str> {
    let bytes = match bytes.strip_prefix(b"\xef\xbb\xbf") {
        Some(_) if agents.v1() => {
            diags.by_agent(
                Severity::Error,
                AgentRule::V1,
                label,
                "starts with a UTF-8 byte-order mark; agent 1.8 then sees no 'os' and fails \
                 with \"unsupported operating system ()\": save the file as UTF-8 without BOM",
            );
            return None;
        }
        // libyaml, under agent 2.x's serde_yaml, skips a leading byte-order mark.
        Some(rest) => rest,
        None => bytes,
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        diags.error(label, "is not valid UTF-8");
        return None;
    };
    let tab_lines: Vec<String> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains('\t'))
        .map(|(i, _)| (i + 1).to_string())
        .collect();
    if !tab_lines.is_empty() {
        diags.error(
            label,
            format!(
                "tab characters on line(s) {}; the agent's YAML parser rejects tabs: indent with spaces",
                tab_lines.join(", ")
            ),
        );
        return None;
    }
    Some(text)
}

/// Checks `bytes` as the bundle's appspec.yml against the merged bundle `tree`.
pub(crate) fn check(
    label: &str,
    bytes: &[u8],
    tree: &BundleTree,
    complete: bool,
    rules: Rules,
    diags: &mut Diagnostics,
) -> AppSpec {
    let mut spec = AppSpec::default();
    let Some(text) = check_text(label, bytes, rules.agents, diags) else {
        return spec;
    };
    let doc = match yaml::parse(text) {
        Ok(doc) => doc,
        Err(message) => {
            diags.error(label, message);
            return spec;
        }
    };
    for (line, what) in &doc.refused {
        if rules.agents.v1() {
            diags.by_agent(
                Severity::Error,
                AgentRule::V1,
                label,
                format!("YAML {what} on line {line}; agent 1.8's YAML loader refuses anchors and aliases: write the values out"),
            );
        } else {
            diags.error(
                label,
                format!("YAML {what} on line {line}; agent 2.x resolves it, but this validator does not and cannot check what it stands for: write the values out"),
            );
        }
    }
    let Some(root) = doc.root.as_ref().filter(|r| !r.is_null()) else {
        diags.error(label, "is empty");
        return spec;
    };
    let mut c = Checker {
        label,
        tree,
        complete,
        rules,
        diags,
    };
    check_timestamps(&mut c, "", root);
    let Some(top) = c.entries("(top level)", root) else {
        return spec;
    };
    let mut seen = HashSet::new();
    for (key, value) in &top {
        seen.insert(*key);
        match *key {
            "version" => check_version(&mut c, value),
            "os" => check_os(&mut c, value),
            "file_exists_behavior" => check_file_exists_behavior(&mut c, value),
            "files" => check_files(&mut c, value),
            "permissions" => check_permissions(&mut c, value),
            "hooks" => spec.hooks = check_hooks(&mut c, value),
            "resources" => c.refuse(
                key,
                Some(value),
                "'resources' belongs to Lambda and ECS appspecs; EC2/on-premises deployments use files and hooks",
            ),
            other => c.error(
                other,
                Some(value),
                format!(
                    "unknown top-level key; both agents ignore it silently{}",
                    suggestion(other, &TOP_LEVEL_KEYS)
                ),
            ),
        }
    }
    for required in ["version", "os"] {
        if !seen.contains(required) {
            c.error(required, None, "is required");
        }
    }
    spec
}

/// Psych 4 refuses dates and times in plain scalars.
fn check_timestamps(c: &mut Checker<'_>, path: &str, node: &Yaml) {
    match node {
        Yaml::Scalar {
            value, plain: true, ..
        } if yaml::looks_like_timestamp(value) => c.rule(
            Severity::Error,
            AgentRule::V1,
            if path.is_empty() { "(value)" } else { path },
            Some(node),
            format!("'{value}' reads as a date, which agent 1.8's YAML loader refuses: quote it"),
        ),
        Yaml::Scalar { .. } => {}
        Yaml::Seq { items, .. } => {
            for (i, item) in items.iter().enumerate() {
                check_timestamps(c, &format!("{path}[{i}]"), item);
            }
        }
        Yaml::Map { entries, .. } => {
            for (key, value) in entries {
                let name = key.as_str().unwrap_or("?");
                check_timestamps(c, &join(path, name), value);
            }
        }
    }
}

fn check_version(c: &mut Checker<'_>, node: &Yaml) {
    match node {
        Yaml::Scalar {
            value, plain: true, ..
        } if value.contains('.') && value.parse::<f64>().is_ok_and(|v| v == 0.0) => {}
        Yaml::Scalar {
            value,
            plain: false,
            ..
        } if value == "0.0" => c.error(
            "version",
            Some(node),
            "is the string \"0.0\"; the agent wants the number: write version: 0.0 without quotes",
        ),
        // The agent's check is Ruby's `[0.0].include?(version)`, and 0 == 0.0: accepted.
        Yaml::Scalar {
            value, plain: true, ..
        } if value.parse::<i64>() == Ok(0) => c.warn(
            "version",
            Some(node),
            "is the integer 0; the agent accepts it (0 == 0.0), but the AppSpec reference says 0.0: write version: 0.0",
        ),
        _ => c.error(
            "version",
            Some(node),
            format!(
                "must be 0.0, found {}",
                node.as_str()
                    .map(|v| format!("'{v}'"))
                    .unwrap_or(node.kind().into())
            ),
        ),
    }
}

fn check_os(c: &mut Checker<'_>, node: &Yaml) {
    match node.as_str() {
        Some("linux") => {}
        Some("windows") => c.refuse(
            "os",
            Some(node),
            "windows: tar and tgz revisions are not supported on Windows Server instances; this tool builds Linux revisions",
        ),
        Some(other) if other.eq_ignore_ascii_case("linux") => c.error(
            "os",
            Some(node),
            format!("'{other}': must be exactly 'linux' (lower case)"),
        ),
        _ => c.error("os", Some(node), "must be 'linux'"),
    }
}

fn check_file_exists_behavior(c: &mut Checker<'_>, node: &Yaml) {
    const VALUES: [&str; 3] = ["DISALLOW", "OVERWRITE", "RETAIN"];
    match node.as_str() {
        Some(v) if VALUES.contains(&v) => {}
        Some(v) => c.error(
            "file_exists_behavior",
            Some(node),
            format!(
                "'{v}' is not one of DISALLOW, OVERWRITE, RETAIN{}",
                suggestion(v, &VALUES)
            ),
        ),
        None => c.error(
            "file_exists_behavior",
            Some(node),
            "must be one of DISALLOW, OVERWRITE, RETAIN",
        ),
    }
}

/// Normalises a path the appspec names relative to the bundle root (`/` is the root).
fn bundle_relative(value: &str) -> Result<String, String> {
    let trimmed = value.trim_start_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    match BundlePath::parse(trimmed.as_bytes()) {
        Ok(Some(p)) => Ok(p.to_string()),
        Ok(None) => Ok(String::new()),
        Err(e) => Err(e.to_string()),
    }
}

fn check_files(c: &mut Checker<'_>, node: &Yaml) {
    let Some(items) = c.list("files", node) else {
        return;
    };
    // The entries read so far: (index, source, destination).
    let mut mappings: Vec<(usize, String, &str)> = Vec::new();
    let mut clashes = 0;
    for (i, item) in items.iter().enumerate() {
        let path = format!("files[{i}]");
        let Some((rel, destination)) = file_mapping(c, &path, item) else {
            continue;
        };
        if !c.complete {
            continue;
        }
        // Only earlier entries whose destination contains this one's, or lies in it, can feed
        // the same file; each file this entry feeds is then looked up in the latest of them.
        let mapping = (i, rel, destination);
        let earlier: Vec<&(usize, String, &str)> = mappings
            .iter()
            .rev()
            .filter(|m| may_overlap(m.2, destination))
            .collect();
        let tree = c.tree;
        let mut found = Vec::new();
        if !earlier.is_empty() {
            for_each_fed(tree, &mapping.1, destination, |target| {
                if clashes + found.len() >= 10 {
                    return;
                }
                if let Some(first) = earlier.iter().find(|m| feeds(tree, m, target)) {
                    found.push(format!(
                        "'{target}' on the instance is fed by both files[{}] and files[{i}]; the agent fails on two sources for one destination file",
                        first.0
                    ));
                }
            });
        }
        clashes += found.len();
        for message in found {
            c.error(&path, Some(item), message);
        }
        mappings.push(mapping);
    }
}

/// Whether two destinations can receive a file in common: one is the other or lies in it.
fn may_overlap(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_end_matches('/'), b.trim_end_matches('/'));
    let within = |outer: &str, inner: &str| {
        inner == outer
            || inner
                .strip_prefix(outer)
                .is_some_and(|r| r.starts_with('/'))
    };
    within(a, b) || within(b, a)
}

/// Whether the `files` entry `(_, rel, destination)` writes `target` on the instance.
fn feeds(tree: &BundleTree, (_, rel, destination): &(usize, String, &str), target: &str) -> bool {
    let Some(sub) = target
        .strip_prefix(destination.trim_end_matches('/'))
        .and_then(|r| r.strip_prefix('/'))
    else {
        return false;
    };
    match tree.kind_of(rel) {
        Some(Kind::Dir) if rel.is_empty() => tree.kind_of(sub).is_some_and(|k| k != Kind::Dir),
        Some(Kind::Dir) => tree
            .kind_of(&format!("{rel}/{sub}"))
            .is_some_and(|k| k != Kind::Dir),
        Some(_) => sub == rel.rsplit('/').next().unwrap_or(rel),
        None => false,
    }
}

/// One `files` entry: its source as a bundle path (which must be in the bundle) and its
/// destination on the instance (absolute); `None` after an error.
fn file_mapping<'y>(c: &mut Checker<'_>, path: &str, item: &'y Yaml) -> Option<(String, &'y str)> {
    let entries = c.entries(path, item)?;
    let (mut source, mut destination) = (None, None);
    for (key, value) in entries {
        let at = format!("{path}.{key}");
        match key {
            "source" => source = c.string(&at, value).map(|s| (s, value)),
            "destination" => destination = c.string(&at, value).map(|s| (s, value)),
            other => c.warn(
                &at,
                Some(value),
                format!(
                    "unknown key, ignored by the agent{}",
                    suggestion(other, &["source", "destination"])
                ),
            ),
        }
    }
    let Some((source, source_node)) = source else {
        c.error(&format!("{path}.source"), Some(item), "is required");
        return None;
    };
    let Some((destination, dest_node)) = destination else {
        c.error(&format!("{path}.destination"), Some(item), "is required");
        return None;
    };
    if !destination.starts_with('/') {
        c.error(
            &format!("{path}.destination"),
            Some(dest_node),
            format!("'{destination}' must be an absolute path on the instance"),
        );
        return None;
    }
    if c.rules.strict && climbs_above_root(destination) {
        c.rule(
            Severity::Error,
            AgentRule::V2,
            &format!("{path}.destination"),
            Some(dest_node),
            format!("'{destination}' climbs above / with '..'; instances with reject_path_traversal_in_bundle: true refuse it"),
        );
    }
    let rel = match bundle_relative(source) {
        Ok(rel) => rel,
        Err(e) => {
            c.error(
                &format!("{path}.source"),
                Some(source_node),
                format!("'{source}': {e}"),
            );
            return None;
        }
    };
    c.require_in_bundle(&format!("{path}.source"), source_node, &rel, false);
    Some((rel, destination))
}

/// Calls `visit` with each file on the instance that copying `rel` (a file, or a folder's
/// files) to `destination` writes.
fn for_each_fed(tree: &BundleTree, rel: &str, destination: &str, mut visit: impl FnMut(&str)) {
    let dest = destination.trim_end_matches('/');
    match tree.kind_of(rel) {
        Some(Kind::Dir) => {
            let mut target = String::new();
            tree.for_each_file_under(rel, |p, _| {
                let sub = if rel.is_empty() {
                    p
                } else {
                    &p[rel.len() + 1..]
                };
                target.clear();
                target.push_str(dest);
                target.push('/');
                target.push_str(sub);
                visit(&target);
            });
        }
        Some(_) => {
            let name = rel.rsplit('/').next().unwrap_or(rel);
            visit(&format!("{dest}/{name}"));
        }
        None => {}
    }
}

/// True when `..` components of the absolute `path` climb above `/`, read lexically as agent
/// 2.x's `reject_path_traversal_in_bundle` reads it.
fn climbs_above_root(path: &str) -> bool {
    let mut depth: usize = 0;
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            let Some(up) = depth.checked_sub(1) else {
                return true;
            };
            depth = up;
        } else {
            depth += 1;
        }
    }
    false
}

fn check_mode(c: &mut Checker<'_>, path: &str, node: &Yaml) {
    let Yaml::Scalar { value, plain, .. } = node else {
        c.error(path, Some(node), "must be an octal mode such as 644");
        return;
    };
    let octal =
        !value.is_empty() && value.len() <= 4 && value.chars().all(|ch| ('0'..='7').contains(&ch));
    if !octal {
        c.error(
            path,
            Some(node),
            format!("'{value}' is not a mode of 1 to 4 octal digits"),
        );
        return;
    }
    let special = if value.len() == 4 {
        value.as_bytes()[0] - b'0'
    } else {
        0
    };
    if c.rules.strict && special & 0o6 != 0 {
        c.rule(
            Severity::Error,
            AgentRule::V2,
            path,
            Some(node),
            format!("{value} sets setuid or setgid; instances with reject_unsafe_permissions_in_bundle: true refuse it at Install"),
        );
    }
    if *plain && value.len() > 1 && value.starts_with('0') {
        // Agent 1.8's YAML 1.1 loader reads it as an octal number and then the number's
        // decimal digits as the mode (0644 lands as 0420; 0755 fails); agent 2.x reads the
        // text as octal (0644 lands as 0644).
        c.rule(
            Severity::Error,
            AgentRule::V1,
            path,
            Some(node),
            format!(
                "{value} unquoted lands as a wrong mode on agent 1.8 (0644 as 0420) or fails it (0755), while agent 2.x applies {value}: write {} or \"{value}\"",
                value.trim_start_matches('0')
            ),
        );
    }
}

fn check_permissions(c: &mut Checker<'_>, node: &Yaml) {
    let Some(items) = c.list("permissions", node) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let path = format!("permissions[{i}]");
        let Some(entries) = c.entries(&path, item) else {
            continue;
        };
        let mut has_object = false;
        for (key, value) in entries {
            let at = format!("{path}.{key}");
            match key {
                "object" => {
                    has_object = true;
                    if let Some(object) = c.string(&at, value) {
                        if !object.starts_with('/') {
                            c.error(&at, Some(value), format!("'{object}' must be an absolute path on the instance"));
                        }
                    }
                }
                "pattern" | "owner" | "group" => {
                    c.string(&at, value);
                }
                "mode" => check_mode(c, &at, value),
                "except" | "acls" => {
                    c.list(&at, value);
                }
                "context" => {
                    c.entries(&at, value);
                }
                "type" => match value {
                    Yaml::Seq { items, .. } => {
                        for (j, t) in items.iter().enumerate() {
                            if !matches!(t.as_str(), Some("file" | "directory")) {
                                c.error(&format!("{at}[{j}]"), Some(t), "must be 'file' or 'directory'");
                            }
                        }
                    }
                    _ => c.error(
                        &at,
                        Some(value),
                        "must be a list (type: [file] or type: [directory]); a plain string crashes the agent",
                    ),
                },
                other => c.error(
                    &at,
                    Some(value),
                    format!(
                        "unknown key{}",
                        suggestion(other, &["object", "pattern", "except", "owner", "group", "mode", "acls", "context", "type"])
                    ),
                ),
            }
        }
        if !has_object {
            c.error(&format!("{path}.object"), Some(item), "is required");
        }
    }
}

fn check_hooks(c: &mut Checker<'_>, node: &Yaml) -> Vec<HookScript> {
    let mut scripts = Vec::new();
    if node.is_null() {
        return scripts;
    }
    let Some(events) = c.entries("hooks", node) else {
        return scripts;
    };
    for (event, value) in events {
        check_event(c, event, value, &mut scripts);
    }
    scripts
}

/// One lifecycle event: a known name, a list of scripts, timeouts within the event's limit.
fn check_event(c: &mut Checker<'_>, event: &str, value: &Yaml, scripts: &mut Vec<HookScript>) {
    let path = format!("hooks.{event}");
    if !LIFECYCLE_EVENTS.contains(&event) {
        let message = if matches!(event, "Install" | "DownloadBundle" | "Start" | "End") {
            "is run by the agent itself and cannot have scripts".to_string()
        } else if matches!(event, "BlockTraffic" | "AllowTraffic") {
            format!(
                "is CodeDeploy taking the instance out of (or putting it back into) the load balancer and cannot have scripts: use Before{event} or After{event}"
            )
        } else {
            format!(
                "unknown lifecycle event{}; the agent silently skips it",
                suggestion(event, &LIFECYCLE_EVENTS)
            )
        };
        c.error(&path, Some(value), message);
        return;
    }
    let Some(items) = c.list(&path, value) else {
        return;
    };
    let mut total: u64 = 0;
    let mut without_timeout = 0;
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let Some(entries) = c.entries(&at, item) else {
            continue;
        };
        let (location, timeout) = hook_keys(c, &at, entries);
        match timeout {
            Some(t) => total += t,
            None => without_timeout += 1,
        }
        let Some((location, loc_node)) = location else {
            c.error(&format!("{at}.location"), Some(item), "is required");
            continue;
        };
        if let Some(location) = hook_location(c, &format!("{at}.location"), location, loc_node) {
            scripts.push(HookScript {
                event: event.to_string(),
                location,
            });
        }
    }
    if total > MAX_EVENT_SECONDS {
        c.error(
            &path,
            Some(value),
            format!("timeouts add up to {total} s; one lifecycle event may take at most {MAX_EVENT_SECONDS} s"),
        );
    } else if without_timeout > 0 && items.len() > 1 {
        c.warn(
            &path,
            Some(value),
            format!("{without_timeout} script(s) without a timeout default to {MAX_EVENT_SECONDS} s each, but the whole event is capped at {MAX_EVENT_SECONDS} s: set explicit timeouts"),
        );
    }
}

/// One script's keys: its location (with its node, for the line) and its timeout; `runas`
/// and unknown keys are checked here too.
fn hook_keys<'y>(
    c: &mut Checker<'_>,
    at: &str,
    entries: Vec<(&'y str, &'y Yaml)>,
) -> (Option<(&'y str, &'y Yaml)>, Option<u64>) {
    let mut location = None;
    let mut timeout = None;
    for (key, value) in entries {
        let key_at = format!("{at}.{key}");
        match key {
            "location" => location = c.string(&key_at, value).map(|s| (s, value)),
            "timeout" => timeout = hook_timeout(c, &key_at, value),
            "sudo" => hook_sudo(c, &key_at, value),
            "runas" => {
                if let Some(user) = c.string(&key_at, value) {
                    if NOLOGIN_ACCOUNTS.contains(&user) {
                        c.warn(
                            &key_at,
                            Some(value),
                            format!(
                                "'{user}' has no login shell on Amazon Linux; the agent runs the script with `su {user} -c …`, which fails with \"This account is currently not available\": use a service account with a shell, or run as root and switch inside the script (su -s /bin/bash {user} -c …)"
                            ),
                        );
                    }
                }
            }
            other => c.warn(
                &key_at,
                Some(value),
                format!(
                    "unknown key, ignored by the agent{}",
                    suggestion(other, &["location", "timeout", "runas", "sudo"])
                ),
            ),
        }
    }
    (location, timeout)
}

/// A script's timeout: a whole number of seconds above 0, unquoted (agent 2.x reads a `u32`
/// and fails on a string). The event's cap (3600 s in all) keeps it far below `u32::MAX`.
fn hook_timeout(c: &mut Checker<'_>, at: &str, node: &Yaml) -> Option<u64> {
    let Some(t) = node
        .as_str()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|t| *t > 0)
    else {
        c.error(
            at,
            Some(node),
            "must be a whole number of seconds greater than 0",
        );
        return None;
    };
    if let Yaml::Scalar { plain: false, .. } = node {
        c.rule(
            Severity::Error,
            AgentRule::V2,
            at,
            Some(node),
            format!("is the string \"{t}\"; agent 1.8 takes it, agent 2.x fails the deployment (expected u32): write timeout: {t} without quotes"),
        );
    }
    Some(t)
}

/// `sudo: true|false`, agent 2.x's: it runs the script through `sudo`; agent 1.8 does not know
/// the key and ignores it.
fn hook_sudo(c: &mut Checker<'_>, at: &str, node: &Yaml) {
    let agents = c.rules.agents;
    if agents == Agents::V1 {
        c.rule(
            Severity::Warning,
            AgentRule::V1,
            at,
            Some(node),
            "unknown key, ignored by agent 1.8",
        );
        return;
    }
    match node {
        Yaml::Scalar {
            value, plain: true, ..
        } if value == "true" || value == "false" => {
            if agents == Agents::Both && value == "true" {
                c.warn(
                    at,
                    Some(node),
                    "agent 2.x runs this script through sudo, agent 1.8 ignores the key and runs it as the agent's user (root by default): the same where the agent runs as root",
                );
            }
        }
        _ => {
            let shown = node.as_str().unwrap_or(node.kind());
            c.rule(
                Severity::Error,
                AgentRule::V2,
                at,
                Some(node),
                format!("'{shown}' is not a YAML boolean; agent 2.x fails the deployment: write true or false"),
            );
        }
    }
}

/// A script's location, as the bundle path it names; an error (and `None`) when the agent
/// could not run it or it is not in the bundle.
fn hook_location(c: &mut Checker<'_>, at: &str, location: &str, node: &Yaml) -> Option<BundlePath> {
    if location.chars().any(char::is_whitespace) {
        c.error(
            at,
            Some(node),
            format!("'{location}' contains whitespace; the agent cannot run it"),
        );
        return None;
    }
    let rel = match bundle_relative(location) {
        Ok(rel) if !rel.is_empty() => rel,
        Ok(_) => {
            c.error(at, Some(node), "names the bundle root, not a script");
            return None;
        }
        Err(e) => {
            c.error(at, Some(node), format!("'{location}': {e}"));
            return None;
        }
    };
    c.require_in_bundle(at, node, &rel, true);
    Some(
        BundlePath::parse(rel.as_bytes())
            .ok()
            .flatten()
            .expect("normalised above"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::cdfiles::{CdEntry, CodeDeployFiles};
    use std::path::PathBuf;

    const VALID: &str = "version: 0.0
os: linux
files:
  - source: /site
    destination: /var/www/html
file_exists_behavior: OVERWRITE
permissions:
  - object: /var/www/html
    pattern: \"**\"
    owner: apache
    mode: 644
    type:
      - file
hooks:
  BeforeInstall:
    - location: scripts/install.sh
      timeout: 300
      runas: root
  ApplicationStart:
    - location: scripts/start.sh
";

    fn tree() -> BundleTree {
        let entry = |path: &str, kind| CdEntry {
            path: BundlePath::parse(path.as_bytes()).unwrap().unwrap(),
            kind,
            mode: 0o755,
            size: 0,
            source: PathBuf::from(path),
            link: None,
        };
        let cd = CodeDeployFiles {
            dir: PathBuf::from("CodeDeploy_Files"),
            entries: vec![
                entry("appspec.yml", Kind::File),
                entry("scripts", Kind::Dir),
                entry("scripts/install.sh", Kind::File),
                entry("scripts/start.sh", Kind::File),
                entry("site/a/index.html", Kind::File),
                entry("site/b/index.html", Kind::File),
                entry("site/index.html", Kind::File),
            ],
        };
        BundleTree::build(&cd, &mut Diagnostics::default())
    }

    fn run(text: &str) -> (AppSpec, Diagnostics) {
        run_for(text, Agents::Both)
    }

    fn run_for(text: &str, agents: Agents) -> (AppSpec, Diagnostics) {
        let mut diags = Diagnostics::default();
        let rules = Rules {
            agents,
            strict: false,
        };
        let spec = check(APPSPEC, text.as_bytes(), &tree(), true, rules, &mut diags);
        (spec, diags)
    }

    /// The errors and warnings of `text` for a fleet of `agents`, as shown.
    fn said_for(text: &str, agents: Agents) -> (Vec<String>, Vec<String>) {
        let (_, d) = run_for(text, agents);
        (
            d.errors().map(ToString::to_string).collect(),
            d.warnings().map(ToString::to_string).collect(),
        )
    }

    #[test]
    fn strict_agent_adds_the_hardening_keys_of_the_appspec() {
        let text = VALID.replacen("mode: 644", "mode: \"4755\"", 1).replacen(
            "destination: /var/www/html",
            "destination: /var/www/../../../etc",
            1,
        );
        let strict = |strict| {
            let mut diags = Diagnostics::default();
            let rules = Rules {
                agents: Agents::Both,
                strict,
            };
            check(APPSPEC, text.as_bytes(), &tree(), true, rules, &mut diags);
            diags.errors().map(ToString::to_string).collect::<Vec<_>>()
        };
        assert!(strict(false).is_empty(), "{:?}", strict(false));
        let errors = strict(true);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors
            .iter()
            .any(|e| e.contains("reject_unsafe_permissions_in_bundle")));
        assert!(errors
            .iter()
            .any(|e| e.contains("climbs above /") && e.ends_with("[agent 2.x]")));
        assert!(!climbs_above_root("/var/www/../www/html"));
        assert!(climbs_above_root("/../etc"));
    }

    /// Inputs the two agents read differently (docs/AGENT-RULES.md, measured on both): an
    /// error when an agent in scope fails it or lands something else than written, nothing
    /// (or a warning naming both outcomes) otherwise; each message names its agent.
    #[test]
    fn each_agent_s_rules_apply_when_it_is_in_scope() {
        use Agents::{Both, V1, V2};
        // (from, to, what an error says, the agents it is an error for)
        let cases: [(&str, &str, &str, &[Agents]); 5] = [
            // 2.x reads a u32 and fails on a string; 1.8 takes it.
            (
                "timeout: 300",
                "timeout: \"300\"",
                "agent 2.x fails the deployment",
                &[V2, Both],
            ),
            // 0644 lands as 0420 on 1.8, as 0644 on 2.x; 0755 fails 1.8.
            (
                "mode: 644",
                "mode: 0644",
                "lands as a wrong mode on agent 1.8",
                &[V1, Both],
            ),
            ("mode: 644", "mode: 0755", "fails it (0755)", &[V1, Both]),
            // Psych refuses a date; serde_yaml reads a string.
            (
                "runas: root",
                "runas: 2024-01-01",
                "agent 1.8's YAML loader refuses",
                &[V1, Both],
            ),
            // serde_yaml reads only true/false as booleans.
            (
                "runas: root",
                "runas: root\n      sudo: yes",
                "not a YAML boolean",
                &[V2, Both],
            ),
        ];
        for (from, to, expected, failing) in cases {
            assert!(VALID.contains(from), "case does not apply: {from}");
            let text = VALID.replacen(from, to, 1);
            for agents in [V1, V2, Both] {
                let (errors, _) = said_for(&text, agents);
                let hit = errors.iter().any(|e| e.contains(expected));
                assert_eq!(
                    hit,
                    failing.contains(&agents),
                    "{to} for {agents:?}: {errors:?}"
                );
                let others: Vec<_> = errors.iter().filter(|e| !e.contains(expected)).collect();
                assert!(others.is_empty(), "{to} for {agents:?}: {others:?}");
                if hit {
                    let tag = if failing == [V2, Both] {
                        "[agent 2.x]"
                    } else {
                        "[agent 1.8]"
                    };
                    assert!(errors.iter().all(|e| e.ends_with(tag)), "{errors:?}");
                }
            }
        }
        // A byte-order mark: 1.8 sees no `os`; libyaml (2.x) skips it.
        let with_bom = format!("\u{feff}{VALID}");
        assert!(said_for(&with_bom, V1).0[0].contains("byte-order mark"));
        assert!(said_for(&with_bom, Both).0[0].contains("byte-order mark"));
        assert!(said_for(&with_bom, V2).0.is_empty());
        // Anchors: 1.8 refuses them; under 2.x alone this validator still cannot check them.
        let anchors = format!("{VALID}x: &a 1\ny: *a\n");
        let anchor_errors = |agents| {
            let (errors, _) = said_for(&anchors, agents);
            errors
                .into_iter()
                .filter(|e| e.contains("YAML a"))
                .collect::<Vec<_>>()
        };
        let both = anchor_errors(Both);
        assert_eq!(both.len(), 2, "{both:?}");
        assert!(both
            .iter()
            .all(|e| e.contains("agent 1.8's YAML loader") && e.ends_with("[agent 1.8]")));
        let v2 = anchor_errors(V2);
        assert_eq!(v2.len(), 2, "{v2:?}");
        assert!(v2.iter().all(|e| e.contains("this validator does not")));
        // `sudo: true`: 2.x runs through sudo, 1.8 ignores the key: a warning naming both.
        let sudo = VALID.replacen("runas: root", "runas: root\n      sudo: true", 1);
        let (errors, warnings) = said_for(&sudo, Both);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("through sudo") && w.contains("agent 1.8 ignores")),
            "{warnings:?}"
        );
        assert!(said_for(&sudo, V2).1.is_empty());
        assert!(said_for(&sudo, V1)
            .1
            .iter()
            .any(|w| w.contains("ignored by agent 1.8")));
        // What both agents hold to is tagged so, whatever the scope.
        let (errors, _) = said_for(&VALID.replacen("os: linux", "os: Linux", 1), V2);
        assert!(errors[0].ends_with("[agents 1.8 and 2.x]"), "{errors:?}");
    }

    fn errors(text: &str) -> Vec<String> {
        run(text).1.errors().map(ToString::to_string).collect()
    }

    #[test]
    fn valid_appspec_passes_and_lists_hooks() {
        let (spec, diags) = run(VALID);
        assert_eq!(diags.iter().count(), 0, "{diags:?}");
        let hooks: Vec<_> = spec
            .hooks
            .iter()
            .map(|h| (h.event.as_str(), h.location.as_str()))
            .collect();
        assert_eq!(
            hooks,
            vec![
                ("BeforeInstall", "scripts/install.sh"),
                ("ApplicationStart", "scripts/start.sh")
            ]
        );
    }

    /// Each case replaces one line of the valid appspec and names the error it must give.
    #[test]
    fn each_rule_rejects_its_mistake() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "version: 0.0",
                "version: \"0.0\"",
                "version: is the string \"0.0\"",
            ),
            ("version: 0.0", "version: 1.0", "version: must be 0.0"),
            ("version: 0.0", "", "version: is required"),
            (
                "os: linux",
                "os: windows",
                "tar and tgz revisions are not supported on Windows",
            ),
            ("os: linux", "os: Linux", "must be exactly 'linux'"),
            ("os: linux", "os: ubuntu", "os: must be 'linux'"),
            (
                "file_exists_behavior: OVERWRITE",
                "file_exists_behavior: overwrite",
                "did you mean OVERWRITE?",
            ),
            (
                "    destination: /var/www/html",
                "    destination: var/www/html",
                "must be an absolute path",
            ),
            (
                "  - source: /site",
                "  - source: /Site",
                "'Site' is not in the bundle (did you mean 'site'?",
            ),
            (
                "  - source: /site",
                "  - source: ../etc",
                "climbs out of the bundle",
            ),
            (
                "    mode: 644",
                "    mode: 0644",
                "0644 unquoted lands as a wrong mode on agent 1.8",
            ),
            ("    mode: 644", "    mode: 999", "'999' is not a mode"),
            ("    mode: 644", "    mode: \"0644\"", ""),
            (
                "      - file",
                "      - files",
                "must be 'file' or 'directory'",
            ),
            (
                "  - object: /var/www/html",
                "  - object: var/www",
                "must be an absolute path",
            ),
            (
                "  BeforeInstall:",
                "  BeforeInstal:",
                "hooks.BeforeInstal: unknown lifecycle event (did you mean BeforeInstall?)",
            ),
            (
                "  BeforeInstall:",
                "  Install:",
                "is run by the agent itself",
            ),
            (
                "  BeforeInstall:",
                "  BlockTraffic:",
                "cannot have scripts: use BeforeBlockTraffic or AfterBlockTraffic",
            ),
            (
                "    - location: scripts/install.sh",
                "    - location: scripts/Install.sh",
                "did you mean 'scripts/install.sh'?",
            ),
            (
                "    - location: scripts/install.sh",
                "    - location: scripts/missing.sh",
                "'scripts/missing.sh' is not in the bundle",
            ),
            (
                "    - location: scripts/install.sh",
                "    - location: scripts/instal.sh",
                "'scripts/instal.sh' is not in the bundle (did you mean 'scripts/install.sh'?)",
            ),
            (
                "    - location: scripts/install.sh",
                "    - location: scripts",
                "is a directory, not a script",
            ),
            (
                "    - location: scripts/install.sh",
                "    - location: scripts/install.sh --now",
                "contains whitespace",
            ),
            ("      timeout: 300", "      timeout: 0", "greater than 0"),
            (
                "      timeout: 300",
                "      timeout: 3601",
                "timeouts add up to 3601 s",
            ),
            (
                "      timeout: 300",
                "      timeout: five",
                "whole number of seconds",
            ),
            (
                "      runas: root",
                "      runas: 2024-01-01",
                "reads as a date",
            ),
            ("hooks:", "hook:", "did you mean hooks?"),
            ("files:", "resources:", "belongs to Lambda and ECS"),
        ];
        for (from, to, expected) in cases {
            assert!(VALID.contains(from), "case does not apply: {from}");
            let text = VALID.replacen(from, to, 1);
            let errors = errors(&text);
            if expected.is_empty() {
                assert!(errors.is_empty(), "{to}: {errors:?}");
            } else {
                assert!(
                    errors.iter().any(|e| e.contains(expected)),
                    "{to}: expected an error containing {expected:?}, got {errors:?}"
                );
            }
        }
    }

    fn warnings(text: &str) -> Vec<String> {
        run(text).1.warnings().map(ToString::to_string).collect()
    }

    /// What the real agent accepts but fails at run time, or accepts against the reference:
    /// warnings, never errors.
    #[test]
    fn the_agent_accepts_these_with_a_warning() {
        // Ruby's [0.0].include?(0) is true: the agent takes version 0.
        let text = VALID.replacen("version: 0.0", "version: 0", 1);
        assert!(errors(&text).is_empty(), "{:?}", errors(&text));
        assert!(warnings(&text)
            .iter()
            .any(|w| w.contains("write version: 0.0")));
        // `su nobody -c` fails: nobody has no login shell.
        for account in ["nobody", "apache", "nginx"] {
            let text = VALID.replacen("runas: root", &format!("runas: {account}"), 1);
            assert!(errors(&text).is_empty());
            let w = warnings(&text);
            assert!(
                w.iter()
                    .any(|w| w.contains(&format!("'{account}' has no login shell"))
                        && w.contains("This account is currently not available")),
                "{w:?}"
            );
        }
        let text = VALID.replacen("runas: root", "runas: deploy", 1);
        assert!(warnings(&text).is_empty());
    }

    #[test]
    fn text_level_rules() {
        let with_bom = format!("\u{feff}{VALID}");
        assert!(errors(&with_bom)[0].contains("byte-order mark"));
        let with_tab = VALID.replace("os: linux", "os:\tlinux");
        assert!(errors(&with_tab)[0].contains("tab characters on line(s) 2"));
        let anchors = format!("{VALID}x: &a 1\ny: *a\n");
        let errs = errors(&anchors);
        assert!(
            errs.iter().any(|e| e.contains("YAML anchor on line 21")),
            "{errs:?}"
        );
        assert!(
            errs.iter().any(|e| e.contains("YAML alias on line 22")),
            "{errs:?}"
        );
        assert!(errors("version: [")
            .iter()
            .any(|e| e.contains("not valid YAML")));
        assert!(errors("").iter().any(|e| e.contains("is empty")));
        assert!(errors("- a\n").iter().any(|e| e.contains("must be a map")));
    }

    #[test]
    fn one_destination_fed_twice() {
        let text = VALID.replace(
            "    destination: /var/www/html\n",
            "    destination: /var/www/html\n  - source: site/a/index.html\n    destination: /var/www/html\n",
        );
        let errs = errors(&text);
        assert!(
            errs.iter().any(|e| e.contains(
                "'/var/www/html/index.html' on the instance is fed by both files[0] and files[1]"
            )),
            "{errs:?}"
        );
        // Different destinations for files of one name are fine.
        let ok = VALID.replace(
            "    destination: /var/www/html\n",
            "    destination: /var/www/html\n  - source: site/a/index.html\n    destination: /var/www/a\n",
        );
        assert!(errors(&ok).is_empty());
    }

    #[test]
    fn event_time_budget_warns_without_timeouts() {
        let text = VALID.replace(
            "    - location: scripts/start.sh\n",
            "    - location: scripts/start.sh\n    - location: scripts/install.sh\n",
        );
        let (_, diags) = run(&text);
        assert!(!diags.has_errors());
        assert!(diags
            .warnings()
            .any(|w| w.message.contains("capped at 3600 s")));
    }

    #[test]
    fn folder_only_check_tolerates_what_the_archive_brings() {
        let mut diags = Diagnostics::default();
        let text = VALID.replace("/site", "/from-archive");
        check(
            APPSPEC,
            text.as_bytes(),
            &tree(),
            false,
            Rules::default(),
            &mut diags,
        );
        assert!(!diags.has_errors(), "{diags:?}");
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("ValidateServices", &LIFECYCLE_EVENTS),
            Some("ValidateService")
        );
        assert_eq!(
            did_you_mean("applicationstart", &LIFECYCLE_EVENTS),
            Some("ApplicationStart")
        );
        assert_eq!(did_you_mean("Totally", &LIFECYCLE_EVENTS), None);
    }
}
