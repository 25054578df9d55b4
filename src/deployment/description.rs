//! The description of every deployment made here: the trigger time (which orders racing runs,
//! CodePipeline's SUPERSEDED mode), the commit and the build, notes such as the bundle's
//! SHA-256, and the marker that tells this tool's deployments from others'. Written by the
//! engine, read back by it and by `history`, `rollback` and `promote`.

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::Serialize;

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

/// The commit a deployment comes from: its id, and for people its branch, author and subject
/// (the first line of its message). The last three are user text: the description carries
/// them encoded ([`encode_text`]), after every fixed field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CommitInfo {
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl CommitInfo {
    /// A commit known by its id alone.
    pub fn id(id: Option<&str>) -> Self {
        CommitInfo {
            id: id.map(str::to_string),
            ..CommitInfo::default()
        }
    }

    /// The commit a description written by this tool names; empty for other descriptions.
    pub(crate) fn of(description: &str) -> Self {
        CommitInfo {
            id: field_of(description, "commit"),
            branch: text_field_of(description, "branch"),
            author: text_field_of(description, "author"),
            subject: text_field_of(description, "subject"),
        }
    }

    /// The short id and subject, for one line: `abc1234 Fix the login page`.
    pub fn headline(&self) -> Option<String> {
        let short = self
            .id
            .as_deref()
            .map(|c| c.chars().take(7).collect::<String>());
        match (short, self.subject.as_deref()) {
            (Some(id), Some(subject)) => Some(format!("{id} {subject}")),
            (Some(id), None) => Some(id),
            (None, Some(subject)) => Some(subject.to_string()),
            (None, None) => None,
        }
    }
}

/// The user-text fields, in the order written, each with the most characters (encoded) it
/// may take; the subject takes what is left.
const TEXT_FIELDS: [(&str, usize); 3] = [("branch", 120), ("author", 80), ("subject", 512)];

/// A field that takes less room than this is left out rather than cut to nothing useful.
const TEXT_MIN: usize = 12;

/// Whether a character of user text is written as `%XX` escapes: `%` itself, `=` (so that no
/// word can look like a field), whitespace and controls (so that the text stays one word),
/// and the invisible format characters that could hide or reorder text on a screen.
fn escaped(c: char) -> bool {
    c == '%'
        || c == '='
        || c.is_whitespace()
        || c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// User text as one word of at most `max` characters that can neither forge nor hide a field:
/// [`escaped`] characters become the `%XX` escapes of their UTF-8 bytes; the text is cut at a
/// character, never inside an escape.
pub(crate) fn encode_text(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let piece = if escaped(c) {
            let mut buf = [0u8; 4];
            c.encode_utf8(&mut buf)
                .bytes()
                .map(|b| format!("%{b:02X}"))
                .collect()
        } else {
            c.to_string()
        };
        if out.chars().count() + piece.chars().count() > max {
            break;
        }
        out.push_str(&piece);
    }
    out
}

/// The text [`encode_text`] wrote (invalid escapes are kept as they are; invalid UTF-8
/// becomes U+FFFD).
pub(crate) fn decode_text(word: &str) -> String {
    let bytes = word.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The description of a deployment made here: the trigger time first (the stale-run check
/// reads it), then commit and build for people, then the marker. At most
/// [`DESCRIPTION_MAX`] characters: computed before the upload, it can never fail after it.
pub fn description(trigger: DateTime, commit: Option<&str>, build: Option<&str>) -> String {
    description_noting(trigger, &CommitInfo::id(commit), build, &[])
}

/// [`description`] with more `name=value` fields before the marker, such as the bundle's
/// `sha256=…` or `rollback-of=d-…` (an empty value is left out), then the commit's branch,
/// author and subject, encoded, in the room left: the build id is cut to make room for the
/// fixed fields, the user text is cut (or left out) to fit what remains.
pub fn description_noting(
    trigger: DateTime,
    commit: &CommitInfo,
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
    let id = cut(&word(commit.id.as_deref()), COMMIT_MAX.min(room));
    let build = cut(&word(build), room - id.chars().count());
    let mut left = room - id.chars().count() - build.chars().count();
    let mut text = String::new();
    let values = [&commit.branch, &commit.author, &commit.subject];
    for ((name, most), value) in TEXT_FIELDS.iter().zip(values) {
        let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let overhead = name.len() + 2; // " name="
        if left < overhead + TEXT_MIN {
            continue;
        }
        let encoded = encode_text(value.trim(), (*most).min(left - overhead));
        left -= overhead + encoded.chars().count();
        text.push_str(&format!(" {name}={encoded}"));
    }
    format!("trigger={trigger} commit={id} build={build}{note}{text} {DESCRIPTION_TAG}")
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

/// A user-text field (`branch`, `author`, `subject`) of a description written by this tool,
/// decoded.
pub(crate) fn text_field_of(description: &str, name: &str) -> Option<String> {
    run_key(description)?;
    let prefix = format!("{name}=");
    description
        .split_whitespace()
        .find_map(|w| w.strip_prefix(prefix.as_str()))
        .filter(|v| !v.is_empty())
        .map(decode_text)
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
    fn a_hostile_commit_can_neither_forge_nor_hide_a_field() {
        let commit = CommitInfo {
            id: Some("c0ffee".into()),
            branch: Some("feature/a=b".into()),
            author: Some("Mallory by=invisible-pipeline".into()),
            subject: Some(
                "fix sha256=0000 rollback-of=d-EVIL\n trigger=2099-01-01T00:00:00Z build=zzz \
                 by=invisible-pipeline \u{202E}gnp.exe %41 100%"
                    .into(),
            ),
        };
        let notes = [("sha256", "abc"), ("rollback-of", "d-REAL")];
        let d = description_noting(t("2026-11-26T06:00:00Z"), &commit, Some("p:42"), &notes);
        assert!(d.chars().count() <= DESCRIPTION_MAX, "{d}");
        assert_eq!(field_of(&d, "sha256").as_deref(), Some("abc"));
        assert_eq!(field_of(&d, "rollback-of").as_deref(), Some("d-REAL"));
        assert_eq!(
            run_key(&d),
            Some(RunKey {
                trigger: t("2026-11-26T06:00:00Z"),
                build: "p:42".into()
            })
        );
        assert_eq!(d.matches("by=invisible-pipeline").count(), 1, "{d}");
        assert!(!d.contains('\u{202E}') && !d.contains('\n'));
        // Every user field reads back as written.
        assert_eq!(CommitInfo::of(&d), commit);
        // Without the notes, the subject adds none.
        let bare = description_noting(t("2026-11-26T06:00:00Z"), &commit, None, &[]);
        assert_eq!(field_of(&bare, "sha256"), None);
        assert_eq!(field_of(&bare, "rollback-of"), None);
        assert_eq!(run_key(&bare).unwrap().build, "local");
    }

    #[test]
    fn a_long_subject_is_cut_to_fit_never_inside_an_escape() {
        let commit = CommitInfo {
            id: Some("c".repeat(40)),
            branch: Some("main".into()),
            author: Some("Zoë Q. Developer".into()),
            subject: Some("é ".repeat(600)),
        };
        let notes = [("sha256", "f".repeat(64))];
        let notes: Vec<(&str, &str)> = notes.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let d = description_noting(
            t("2026-11-26T06:00:00Z"),
            &commit,
            Some("project:0123456789abcdef"),
            &notes,
        );
        assert!(
            d.chars().count() <= DESCRIPTION_MAX,
            "{}",
            d.chars().count()
        );
        let back = CommitInfo::of(&d);
        assert_eq!(back.author.as_deref(), Some("Zoë Q. Developer"));
        let subject = back.subject.unwrap();
        assert!(
            subject.len() > 100 && !subject.contains('\u{FFFD}'),
            "{subject}"
        );
        assert!(commit.subject.clone().unwrap().starts_with(&subject));
        // No room at all: the user text is left out, the fixed fields stay whole.
        let huge = [
            ("sha256", "f".repeat(128)),
            ("promoted-from", "g".repeat(128)),
        ];
        let huge: Vec<(&str, &str)> = huge.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let d = description_noting(
            t("2026-11-26T06:00:00Z"),
            &commit,
            Some(&"b".repeat(400)),
            &huge,
        );
        assert!(d.chars().count() <= DESCRIPTION_MAX);
        assert_eq!(field_of(&d, "sha256").unwrap().len(), 128);
    }

    #[test]
    fn text_escapes_round_trip() {
        for text in [
            "plain",
            "a b",
            "50%=half",
            "tab\there",
            "\u{200B}zero",
            "日本語",
        ] {
            let word = encode_text(text, 100);
            assert!(
                !word.contains(char::is_whitespace) && !word.contains('='),
                "{word}"
            );
            assert_eq!(decode_text(&word), text);
        }
        assert_eq!(encode_text("a b", 3), "a");
        assert_eq!(decode_text("100%"), "100%");
        assert_eq!(decode_text("%zz"), "%zz");
    }

    #[test]
    fn equal_triggers_are_ordered_by_build_id() {
        let a = run_key(&description(t("2026-11-26T06:00:00Z"), None, Some("p:aaa"))).unwrap();
        let b = run_key(&description(t("2026-11-26T06:00:00Z"), None, Some("p:bbb"))).unwrap();
        let later = run_key(&description(t("2026-11-26T06:00:01Z"), None, Some("p:000"))).unwrap();
        assert!(b > a && later > b);
    }
}
