//! The terminal sink: how the tool's own messages reach stderr (log lines, details, the
//! warnings of a check), with the progress bar on screen kept apart from them. Every layer
//! writes through here; what a command's summary looks like is `app::report`'s business.

use crate::base::diag::Diagnostics;
use indicatif::ProgressBar;
use std::sync::Mutex;

/// How the tool's own messages are written: set once from the command line (`-q`, `-v`,
/// `--color`, `NO_COLOR`); library callers (tests) get the defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings {
    /// Only warnings, errors and the summary: no progress.
    pub quiet: bool,
    /// Details too (each part, each poll), and the full chain of an AWS error.
    pub verbose: bool,
    /// `error:` and `warning:` in color.
    pub color: bool,
    /// Progress as a bar that redraws itself (stderr is a terminal), not as lines.
    pub bar: bool,
}

static SETTINGS: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();

/// Sets how messages are written; only the first call counts.
pub fn configure(settings: Settings) {
    let _ = SETTINGS.set(settings);
}

pub(crate) fn settings() -> Settings {
    SETTINGS.get().copied().unwrap_or_default()
}

/// Whether `--color auto` colors: stderr is a terminal, `NO_COLOR` is unset or empty
/// (<https://no-color.org>) and `TERM` is not `dumb`.
pub(crate) fn color_auto(
    stderr_is_terminal: bool,
    no_color: Option<&str>,
    term: Option<&str>,
) -> bool {
    stderr_is_terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb")
}

/// `line` with its first `error:` or `warning:` label in bold red or yellow, when colors are
/// on; the text itself never changes.
pub(crate) fn painted(line: &str, color: bool) -> std::borrow::Cow<'_, str> {
    if !color {
        return line.into();
    }
    let found = ["error:", "warning:"]
        .iter()
        .filter_map(|label| {
            line.match_indices(label)
                .find(|(i, _)| *i == 0 || line.as_bytes()[i - 1] == b' ')
        })
        .min();
    match found {
        Some((i, label)) => {
            let code = if label == "error:" { "1;31" } else { "1;33" };
            format!(
                "{}\x1b[{code}m{label}\x1b[0m{}",
                &line[..i],
                &line[i + label.len()..]
            )
            .into()
        }
        None => line.into(),
    }
}

/// Writes one line to stderr, its label painted. A closed stderr (`2>&1 | head`) is not a
/// reason to stop a run: the line is lost, as it would be on a terminal that went away.
fn say(line: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", painted(line, settings().color));
}

/// One line of what a run is doing, on stderr (stdout carries only the summary): the single
/// place besides the summary, progress and error printers where the program writes. With
/// `-q` only warnings are said.
pub(crate) fn log(line: impl AsRef<str>) {
    let line = line.as_ref();
    if settings().quiet && !line.starts_with("warning:") {
        return;
    }
    suspend(|| say(line));
}

/// A detail, said only with `-v`.
pub(crate) fn detail(line: impl AsRef<str>) {
    if settings().verbose {
        suspend(|| say(line.as_ref()));
    }
}

/// Whether the run's warnings were already said as they were found ([`show_warnings`]).
static WARNINGS_SHOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Says the warnings of a check as soon as it ends, before the long steps (upload, waiting
/// for the deployment) that follow in a deploy; the summary does not repeat them on stderr
/// (the JSON envelope still lists them).
pub(crate) fn show_warnings(diags: &Diagnostics) {
    for w in diags.warnings() {
        say(&w.for_terminal());
    }
    WARNINGS_SHOWN.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Whether the warnings of the run were already said ([`show_warnings`]).
pub(crate) fn warnings_shown() -> bool {
    WARNINGS_SHOWN.load(std::sync::atomic::Ordering::Relaxed)
}

/// Writes one line to stderr as it is (its label painted): a problem or error of the summary.
pub(crate) fn say_line(line: &str) {
    say(line);
}

/// The bar on screen, if any: other messages are written above it, not through it.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Makes `bar` the one on screen (`None`: no bar any more).
pub(crate) fn set_bar(bar: Option<ProgressBar>) {
    if let Ok(mut active) = ACTIVE.lock() {
        *active = bar;
    }
}

/// Runs `write` with the bar hidden, so that a message and the bar do not mix.
pub(crate) fn suspend<R>(write: impl FnOnce() -> R) -> R {
    let bar = ACTIVE.lock().ok().and_then(|active| active.clone());
    match bar {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_label_is_painted_and_only_when_asked() {
        let line =
            "CodeDeploy_Files/appspec.yml:5: error: hooks.AfterInstal: unknown (error: twice)";
        assert_eq!(painted(line, false), line);
        assert_eq!(
            painted(line, true),
            "CodeDeploy_Files/appspec.yml:5: \x1b[1;31merror:\x1b[0m hooks.AfterInstal: unknown (error: twice)"
        );
        assert_eq!(
            painted("warning: ignoring $WAIT_TIMEOUT=5m", true),
            "\x1b[1;33mwarning:\x1b[0m ignoring $WAIT_TIMEOUT=5m"
        );
        // A label inside a word is no label.
        assert_eq!(painted("no-error: here", true), "no-error: here");
    }

    #[test]
    fn auto_colors_a_terminal_unless_no_color_or_a_dumb_terminal() {
        assert!(color_auto(true, None, Some("xterm")));
        assert!(
            color_auto(true, Some(""), None),
            "an empty NO_COLOR does not count"
        );
        assert!(!color_auto(true, Some("1"), Some("xterm")));
        assert!(!color_auto(true, None, Some("dumb")));
        assert!(!color_auto(false, None, Some("xterm")));
    }
}
