//! The description of every deployment made here: the trigger time (which orders racing runs,
//! CodePipeline's SUPERSEDED mode), the commit and the build, notes such as the bundle's
//! SHA-256, and the marker that tells this tool's deployments from others'. Written by the
//! engine, read back by it and by `history`, `rollback` and `promote`.

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

/// The marker of deployments made by this tool, last in their description.
const DESCRIPTION_TAG: &str = "by=invisible-pipeline";

/// The marker of the first format (`invisible-pipeline trigger=… commit=… build=…`).
const LEGACY_TAG: &str = "invisible-pipeline";

/// The longest description written; long commit or build ids are cut to fit.
pub(crate) const DESCRIPTION_MAX: usize = 512;

/// The commit id keeps at most this many characters (a SHA-256 commit id).
const COMMIT_MAX: usize = 64;

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The description of a deployment made here: the trigger time first (the stale-run check
/// reads it), then commit and build for people, then the marker. At most
/// [`DESCRIPTION_MAX`] characters: computed before the upload, it can never fail after it.
pub fn description(trigger: DateTime, commit: Option<&str>, build: Option<&str>) -> String {
    description_noting(trigger, commit, build, &[])
}

/// [`description`] with more `name=value` fields before the marker, such as the bundle's
/// `sha256=…` or `rollback-of=d-…` (an empty value is left out): the build id is cut to make
/// room.
pub fn description_noting(
    trigger: DateTime,
    commit: Option<&str>,
    build: Option<&str>,
    notes: &[(&str, &str)],
) -> String {
    let word = |s: Option<&str>| {
        s.unwrap_or("local")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join("_")
    };
    let trigger = trigger
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| trigger.secs().to_string());
    let note: String = notes
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!(" {name}={}", cut(&word(Some(value)), 128)))
        .collect();
    let fixed = format!("trigger={trigger} commit= build={note} {DESCRIPTION_TAG}")
        .chars()
        .count();
    let room = DESCRIPTION_MAX.saturating_sub(fixed);
    let commit = cut(&word(commit), COMMIT_MAX.min(room));
    let build = cut(&word(build), room - commit.chars().count());
    format!("trigger={trigger} commit={commit} build={build}{note} {DESCRIPTION_TAG}")
}

/// Which of two runs is newer: the later trigger; for equal triggers the greater build id,
/// compared as text (CodeBuild's ids are `project:uuid`), so that two runs agree on the
/// winner whatever order they look in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RunKey {
    pub trigger: DateTime,
    pub build: String,
}

/// The run key in a description written by [`description`] (or the first format).
pub(crate) fn run_key(description: &str) -> Option<RunKey> {
    let words: Vec<&str> = description.split_whitespace().collect();
    let ours = words.last() == Some(&DESCRIPTION_TAG) || words.first() == Some(&LEGACY_TAG);
    if !ours {
        return None;
    }
    let field = |name: &str| words.iter().find_map(|w| w.strip_prefix(name));
    Some(RunKey {
        trigger: DateTime::from_str(field("trigger=")?, Format::DateTime).ok()?,
        build: field("build=").unwrap_or("local").to_string(),
    })
}

/// A field (`commit`, `build`) of a description written by this tool; `None` for other
/// descriptions, and for `local` (a run outside CodeBuild or without a commit).
pub(crate) fn field_of(description: &str, name: &str) -> Option<String> {
    run_key(description)?;
    let prefix = format!("{name}=");
    description
        .split_whitespace()
        .find_map(|w| w.strip_prefix(prefix.as_str()))
        .filter(|v| !v.is_empty() && *v != "local")
        .map(str::to_string)
}

/// The build id as the description carries it (and so as [`run_key`] reads it back).
pub(crate) fn description_word(build: Option<&str>) -> String {
    let d = description(DateTime::from_secs(0), None, build);
    run_key(&d).map(|k| k.build).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trigger time in a description written by [`description`].
    fn trigger_of(description: &str) -> Option<DateTime> {
        run_key(description).map(|k| k.trigger)
    }

    fn t(text: &str) -> DateTime {
        DateTime::from_str(text, Format::DateTime).unwrap()
    }

    #[test]
    fn description_round_trips_the_run_key() {
        let d = description(t("2026-11-26T06:00:00Z"), Some("abc123"), Some("proj:42"));
        assert_eq!(
            d,
            "trigger=2026-11-26T06:00:00Z commit=abc123 build=proj:42 by=invisible-pipeline"
        );
        assert_eq!(
            run_key(&d),
            Some(RunKey {
                trigger: t("2026-11-26T06:00:00Z"),
                build: "proj:42".into()
            })
        );
        assert_eq!(trigger_of("deployed by hand"), None);
        assert_eq!(trigger_of("trigger=2026-11-26T06:00:00Z by hand"), None);
        assert_eq!(trigger_of("trigger=garbage by=invisible-pipeline"), None);
        // The first format still counts.
        assert_eq!(
            trigger_of("invisible-pipeline trigger=2026-11-26T06:00:00Z commit=a build=b"),
            Some(t("2026-11-26T06:00:00Z"))
        );
    }

    #[test]
    fn long_ids_are_cut_to_fit_512_characters_with_the_trigger_first() {
        let commit = "c".repeat(300);
        let build = format!("project:{}", "b".repeat(1000));
        let d = description(t("2026-11-26T06:00:00Z"), Some(&commit), Some(&build));
        assert!(d.chars().count() <= DESCRIPTION_MAX, "{}", d.len());
        assert!(d.starts_with("trigger=2026-11-26T06:00:00Z commit="));
        assert!(d.ends_with(" by=invisible-pipeline"));
        assert_eq!(trigger_of(&d), Some(t("2026-11-26T06:00:00Z")));
        // Spaces in an id cannot break the format.
        let d = description(t("2026-11-26T06:00:00Z"), Some("a b"), None);
        assert_eq!(run_key(&d).unwrap().build, "local");
        assert!(d.contains("commit=a_b "));
    }

    #[test]
    fn equal_triggers_are_ordered_by_build_id() {
        let a = run_key(&description(t("2026-11-26T06:00:00Z"), None, Some("p:aaa"))).unwrap();
        let b = run_key(&description(t("2026-11-26T06:00:00Z"), None, Some("p:bbb"))).unwrap();
        let later = run_key(&description(t("2026-11-26T06:00:01Z"), None, Some("p:000"))).unwrap();
        assert!(b > a && later > b);
    }
}
