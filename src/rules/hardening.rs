//! Agent 2.x's opt-in hardening keys (`/etc/codedeploy-agent/conf/codedeployagent.yml`), which
//! refuse bundles both agents deploy by default (`docs/AGENT-RULES.md` §9, read in
//! `config/mod.rs` and `host_command/bundle_unpacker.rs` of aws/aws-codedeploy-agent): checked
//! with `--strict-agent`, so that a team that turns them on learns before the deploy.
//!
//! The appspec's share (a `destination` that climbs above its root, a `mode` with setuid or
//! setgid) is checked with the appspec; this is the bundle's.

use crate::base::diag::{AgentRule, Diagnostics, Severity};
use crate::bundle::paths::Kind;
use crate::bundle::tree::{BundleTree, Origin};

/// At most this many entries are named per key; the rest are counted.
const NAMED: usize = 10;

/// The entries of `tree` that `reject_symlinks_in_bundle` (any symlink, any file with more
/// than one link) and `reject_unsafe_permissions_in_bundle` (a regular file with setuid or
/// setgid) refuse. Entries with `..` or an absolute path, which
/// `reject_path_traversal_in_bundle` refuses, never reach a bundle (an error for both agents).
pub(crate) fn check(
    tree: &BundleTree,
    cd_label: &str,
    app_label: Option<&str>,
    diags: &mut Diagnostics,
) {
    let at = |path: &str, origin: Origin| match (origin, app_label) {
        (Origin::App, Some(app)) => format!("{app}: entry '{path}'"),
        _ => format!("{cd_label}/{path}"),
    };
    let mut links = 0;
    let mut setid = 0;
    tree.for_each(|path, node| {
        let linked = matches!(node.kind, Kind::Symlink | Kind::HardLink);
        if linked {
            links += 1;
            if links <= NAMED {
                let what = match node.kind {
                    Kind::Symlink => "a symlink",
                    _ => "a hard link (a file of two links once extracted)",
                };
                refuse(
                    diags,
                    at(path, node.origin),
                    format!("is {what}; instances with reject_symlinks_in_bundle: true refuse the bundle after extracting it"),
                );
            }
        }
        if node.setid {
            setid += 1;
            if setid <= NAMED {
                refuse(
                    diags,
                    at(path, node.origin),
                    "has the setuid or setgid bit; instances with reject_unsafe_permissions_in_bundle: true refuse the bundle after extracting it",
                );
            }
        }
    });
    for (count, what) in [(links, "links"), (setid, "setuid or setgid files")] {
        if count > NAMED {
            refuse(
                diags,
                app_label.unwrap_or(cd_label).to_string(),
                format!(
                    "{} more {what} that the hardening keys refuse",
                    count - NAMED
                ),
            );
        }
    }
}

fn refuse(diags: &mut Diagnostics, location: String, message: impl Into<String>) {
    diags.by_agent(Severity::Error, AgentRule::V2, location, message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::cdfiles::{CdEntry, CodeDeployFiles};
    use crate::bundle::paths::BundlePath;
    use std::path::PathBuf;

    fn tree(entries: &[(&str, Kind, u32)]) -> BundleTree {
        let cd = CodeDeployFiles {
            dir: PathBuf::from("CodeDeploy_Files"),
            entries: entries
                .iter()
                .map(|(path, kind, mode)| CdEntry {
                    path: BundlePath::parse(path.as_bytes()).unwrap().unwrap(),
                    kind: *kind,
                    mode: *mode,
                    size: 0,
                    source: PathBuf::from(path),
                    link: (*kind == Kind::Symlink).then(|| "target".to_string()),
                })
                .collect(),
        };
        BundleTree::build(&cd, &mut Diagnostics::default())
    }

    #[test]
    fn links_and_setuid_files_are_refused_by_name() {
        let t = tree(&[
            ("appspec.yml", Kind::File, 0o644),
            ("bin/tool", Kind::File, 0o4755),
            ("bin/group", Kind::File, 0o2755),
            ("bin/sticky", Kind::File, 0o1755),
            ("current", Kind::Symlink, 0o777),
            ("scripts", Kind::Dir, 0o2755),
        ]);
        let mut d = Diagnostics::default();
        check(&t, "CodeDeploy_Files", None, &mut d);
        let errors: Vec<String> = d.errors().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].starts_with("CodeDeploy_Files/bin/group: has the setuid"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("CodeDeploy_Files/bin/tool: has the setuid"),
            "{errors:?}"
        );
        assert!(
            errors[2].contains("current: is a symlink; instances with reject_symlinks_in_bundle"),
            "{errors:?}"
        );
        assert!(errors.iter().all(|e| e.ends_with("[agent 2.x]")));
        let clean = tree(&[
            ("appspec.yml", Kind::File, 0o644),
            ("bin/sticky", Kind::File, 0o1755),
        ]);
        let mut d = Diagnostics::default();
        check(&clean, "CodeDeploy_Files", None, &mut d);
        assert_eq!(d.iter().count(), 0);
    }

    #[test]
    fn past_ten_the_rest_are_counted() {
        let names: Vec<String> = (0..12).map(|i| format!("l{i:02}")).collect();
        let entries: Vec<(&str, Kind, u32)> = names
            .iter()
            .map(|n| (n.as_str(), Kind::Symlink, 0o777))
            .collect();
        let mut d = Diagnostics::default();
        check(&tree(&entries), "CodeDeploy_Files", None, &mut d);
        let errors: Vec<String> = d.errors().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 11, "{errors:?}");
        assert!(errors[10].contains("2 more links"), "{errors:?}");
    }
}
