//! Branch environments: which deployment group a branch's pushes deploy to
//! (`--branch-group`, `$BRANCH_GROUPS`, written by the stack from `branches` in cdk.json). A
//! pattern is a branch name or a prefix with one trailing `*`, the two forms EventBridge's
//! exact and `prefix` matching express, so that the rule that starts a build and the binary
//! that chooses the group agree on every branch.

/// One `PATTERN=GROUP` of `--branch-group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub pattern: String,
    pub group: String,
}

impl Mapping {
    /// How well `branch` matches: `None` when it does not; an exact name outranks any prefix,
    /// a longer prefix a shorter one.
    fn rank(&self, branch: &str) -> Option<(bool, usize)> {
        match self.pattern.strip_suffix('*') {
            Some(prefix) => branch.starts_with(prefix).then_some((false, prefix.len())),
            None => (self.pattern == branch).then_some((true, branch.len())),
        }
    }
}

/// Parses `PATTERN=GROUP` (the value parser of `--branch-group`).
pub fn parse_mapping(text: &str) -> Result<Mapping, String> {
    let Some((pattern, group)) = text.split_once('=') else {
        return Err(format!(
            "'{text}' is not PATTERN=GROUP (a branch, or a prefix ending in *, then the deployment group), e.g. release/*=web-staging"
        ));
    };
    let (pattern, group) = (pattern.trim(), group.trim());
    if pattern.is_empty() || group.is_empty() {
        return Err(format!(
            "'{text}': both the branch pattern and the group are needed"
        ));
    }
    if pattern.trim_end_matches('*').contains('*') || pattern.ends_with("**") {
        return Err(format!(
            "'{pattern}': a pattern is a branch name or a prefix with one trailing * (release/*); other wildcards cannot be matched by the trigger rules"
        ));
    }
    Ok(Mapping {
        pattern: pattern.to_string(),
        group: group.to_string(),
    })
}

/// The group of `branch`: the exact name's, else the longest matching prefix's.
pub fn group_for<'a>(mappings: &'a [Mapping], branch: &str) -> Option<&'a str> {
    mappings
        .iter()
        .filter_map(|m| m.rank(branch).map(|r| (r, m)))
        .max_by_key(|(rank, _)| *rank)
        .map(|(_, m)| m.group.as_str())
}

/// The branch of a GitHub webhook's build (`CODEBUILD_WEBHOOK_HEAD_REF`, `refs/heads/NAME`);
/// none for a tag or a pull request's ref.
pub fn webhook_branch(head_ref: &str) -> Option<&str> {
    head_ref
        .strip_prefix("refs/heads/")
        .filter(|b| !b.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Mapping {
        parse_mapping(text).unwrap()
    }

    #[test]
    fn exact_names_win_then_the_longest_prefix() {
        let maps = [
            m("release/*=web-staging"),
            m("release/hotfix/*=web-hotfix"),
            m("main=web-dev"),
            m("*=web-sandbox"),
            m("release/1.0=web-legacy"),
        ];
        assert_eq!(group_for(&maps, "main"), Some("web-dev"));
        assert_eq!(group_for(&maps, "release/2.1"), Some("web-staging"));
        assert_eq!(group_for(&maps, "release/hotfix/x"), Some("web-hotfix"));
        assert_eq!(group_for(&maps, "release/1.0"), Some("web-legacy"));
        assert_eq!(group_for(&maps, "feature/x"), Some("web-sandbox"));
        assert_eq!(group_for(&maps[..3], "feature/x"), None);
        // A prefix is a prefix of the name, not of a path segment: EventBridge's `prefix`.
        assert_eq!(group_for(&maps[..3], "releases"), None);
        assert_eq!(group_for(&maps[..3], "mainline"), None);
    }

    #[test]
    fn patterns_the_rules_cannot_match_are_refused_with_the_form_that_works() {
        for bad in ["rel*ease=g", "release/**=g", "*/x=g", "main", "=g", "main="] {
            let err = parse_mapping(bad).unwrap_err();
            assert!(err.contains(bad.split('=').next().unwrap()), "{bad}: {err}");
        }
        assert_eq!(m(" release/* = web ").pattern, "release/*");
    }

    #[test]
    fn a_webhook_names_a_branch_only_for_a_branch_push() {
        assert_eq!(webhook_branch("refs/heads/release/2"), Some("release/2"));
        assert_eq!(webhook_branch("refs/tags/v1"), None);
        assert_eq!(webhook_branch("refs/pull/7/head"), None);
    }
}
