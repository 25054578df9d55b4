//! What the checkout says of its commit: its time (the trigger time of a run without one), its
//! author and its subject (for the description and the summary). Read with `git log`, which
//! runs nothing of the checkout: no hook runs on a log, no pager without a terminal, and the
//! signature check and the file-system monitor are turned off for the call. A checkout without
//! git, or git without the commit (a shallow clone, an archive), says nothing.

use std::path::Path;
use std::process::Command;

/// The commit of a checkout, as far as git could tell.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct CheckoutCommit {
    /// Committer time, seconds since the epoch.
    pub time: Option<i64>,
    pub author: Option<String>,
    pub subject: Option<String>,
}

/// The commit `commit` (a hex id) of the repository around `checkout`, else its HEAD.
pub(crate) fn read(checkout: &Path, commit: Option<&str>) -> CheckoutCommit {
    let id =
        commit.filter(|c| (4..=64).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_hexdigit()));
    id.and_then(|id| log(checkout, id))
        .or_else(|| log(checkout, "HEAD"))
        .unwrap_or_default()
}

fn log(checkout: &Path, rev: &str) -> Option<CheckoutCommit> {
    let out = Command::new("git")
        .arg("-C")
        .arg(checkout)
        .args([
            "-c",
            "core.fsmonitor=false",
            "-c",
            "log.showSignature=false",
        ])
        .args([
            "log",
            "-1",
            "--no-color",
            "--format=%ct%x00%an%x00%s",
            rev,
            "--",
        ])
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    parse(&String::from_utf8_lossy(&out.stdout))
}

/// `%ct NUL %an NUL %s` as `git log` prints it.
fn parse(text: &str) -> Option<CheckoutCommit> {
    let mut fields = text.trim_end_matches('\n').splitn(3, '\0');
    let time = fields.next()?.trim().parse().ok()?;
    let text = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Some(CheckoutCommit {
        time: Some(time),
        author: text(fields.next()),
        subject: text(fields.next()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_fields_are_read_and_empty_ones_dropped() {
        assert_eq!(
            parse("1764136800\0Zoë Dev\0Fix the login page\n"),
            Some(CheckoutCommit {
                time: Some(1_764_136_800),
                author: Some("Zoë Dev".into()),
                subject: Some("Fix the login page".into()),
            })
        );
        assert_eq!(parse("1764136800\0\0\n").unwrap().author, None);
        assert_eq!(parse("not a time\0a\0b"), None);
    }

    #[test]
    fn a_folder_outside_any_repository_says_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path(), Some("abc1234")), CheckoutCommit::default());
    }
}
