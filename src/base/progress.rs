//! Progress of long transfers (download, upload) on stderr: a bar that redraws itself on a
//! terminal (indicatif), a plain line every few seconds elsewhere (CI logs, which a bar would
//! fill with carriage returns), nothing with `-q`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a plain progress line is written; a transfer shorter than this writes none.
pub(crate) const LINE_EVERY: Duration = Duration::from_secs(5);

/// `n` bytes for people: `512 B`, `3.0 KiB`, `120.5 MiB`, `1.20 GiB`.
pub(crate) fn bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let x = n as f64;
    if x < KIB {
        format!("{n} B")
    } else if x < KIB * KIB {
        format!("{:.1} KiB", x / KIB)
    } else if x < KIB * KIB * KIB {
        format!("{:.1} MiB", x / KIB / KIB)
    } else {
        format!("{:.2} GiB", x / KIB / KIB / KIB)
    }
}

/// The plain progress line: `downloading s3://b/k: 120.0 MiB of 320.0 MiB (37 %, 85.3 MiB/s)`.
pub(crate) fn line(what: &str, done: u64, total: Option<u64>, elapsed: Duration) -> String {
    let rate = match elapsed.as_secs_f64() {
        s if s > 0.0 => format!("{}/s", bytes((done as f64 / s) as u64)),
        _ => "-".to_string(),
    };
    match total {
        Some(total) if total > 0 => format!(
            "{what}: {} of {} ({} %, {rate})",
            bytes(done),
            bytes(total),
            done.saturating_mul(100) / total
        ),
        _ => format!("{what}: {} ({rate})", bytes(done)),
    }
}

/// Runs `work` (synchronous: the archive check) while showing how many bytes of `path` the
/// readers of `cancel` have read, as `what`.
pub(crate) fn while_reading<T>(
    what: impl Into<String>,
    path: &std::path::Path,
    cancel: &crate::base::cancel::Cancel,
    work: impl FnOnce() -> T,
) -> T {
    let total = std::fs::metadata(path).ok().map(|m| m.len());
    let start = cancel.bytes_read();
    let progress = Progress::start(what, total);
    // The work's end drops the sender, which wakes the display at once (a sleep would make
    // every check up to one tick slower).
    let (finished, ended) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        let progress = &progress;
        s.spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                ended.recv_timeout(Duration::from_millis(100))
            {
                let read = cancel.bytes_read() - start;
                progress.set(total.map_or(read, |t| read.min(t)));
            }
        });
        let out = work();
        drop(finished);
        out
    })
}

#[derive(Debug)]
struct State {
    done: u64,
    total: Option<u64>,
    next_line: Instant,
}

/// One transfer's progress. Dropping it takes its bar off the screen.
#[derive(Debug)]
pub(crate) struct Progress {
    what: String,
    started: Instant,
    state: Mutex<State>,
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Progress {
    /// Starts showing `what` (`downloading s3://…`), by the output settings.
    pub(crate) fn start(what: impl Into<String>, total: Option<u64>) -> Self {
        let settings = crate::base::term::settings();
        let what = what.into();
        let bar = (settings.bar && !settings.quiet).then(|| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:28}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_message(what.clone());
            crate::base::term::set_bar(Some(bar.clone()));
            bar
        });
        let started = Instant::now();
        Progress {
            what,
            started,
            state: Mutex::new(State {
                done: 0,
                total,
                next_line: started + LINE_EVERY,
            }),
            bar,
            quiet: settings.quiet,
        }
    }

    /// The transfer's size, once known.
    pub(crate) fn set_total(&self, total: u64) {
        self.update(|s| s.total = Some(total));
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// `n` more bytes are done.
    pub(crate) fn advance(&self, n: u64) {
        self.update(|s| s.done += n);
    }

    /// `done` bytes are done in all.
    pub(crate) fn set(&self, done: u64) {
        self.update(|s| s.done = done);
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        change(&mut state);
        if let Some(bar) = &self.bar {
            bar.set_position(state.done);
            return;
        }
        let now = Instant::now();
        if self.quiet || now < state.next_line {
            return;
        }
        state.next_line = now + LINE_EVERY;
        let text = line(&self.what, state.done, state.total, now - self.started);
        drop(state);
        crate::base::term::log(text);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            crate::base::term::set_bar(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_how_much_of_what_at_which_rate() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 10), "3.0 KiB");
        assert_eq!(bytes(1_288_490_189), "1.20 GiB");
        assert_eq!(
            line(
                "downloading s3://rel/app.tgz",
                120 << 20,
                Some(320 << 20),
                Duration::from_secs(2)
            ),
            "downloading s3://rel/app.tgz: 120.0 MiB of 320.0 MiB (37 %, 60.0 MiB/s)"
        );
        assert_eq!(
            line("uploading", 5 << 20, None, Duration::ZERO),
            "uploading: 5.0 MiB (-)"
        );
    }

    #[test]
    fn a_short_transfer_writes_no_line_and_a_long_one_one_every_few_seconds() {
        let p = Progress::start("t", Some(10));
        p.advance(5);
        // Before LINE_EVERY: nothing due.
        assert!(p.state.lock().unwrap().next_line > Instant::now());
        // Past it, an update writes one line and sets the next one LINE_EVERY later.
        p.state.lock().unwrap().next_line = Instant::now() - Duration::from_millis(1);
        p.advance(5);
        let next = p.state.lock().unwrap().next_line;
        assert!(next > Instant::now() + LINE_EVERY - Duration::from_secs(1));
        assert_eq!(p.state.lock().unwrap().done, 10);
    }
}
