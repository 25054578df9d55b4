//! A file read while it is still being written: `deploy` scans the release as its download
//! arrives instead of after it, so that the two overlap. The writer says how many bytes are in
//! the file ([`Growing::advance`]) and how the writing ended ([`Growing::finish`]); a
//! [`Follow`] reader hands out only bytes already written, waits for more, and ends when the
//! writing ended well, or fails when it did not.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

#[derive(Debug, Default)]
struct State {
    written: u64,
    /// The file's final size, once the writer knows it.
    total: Option<u64>,
    /// `Some` once the writer is done: `Ok` with everything written, or what went wrong.
    end: Option<Result<(), String>>,
}

/// The progress of a file being written, shared by its writer and its readers.
#[derive(Debug, Default)]
pub struct Growing {
    state: Mutex<State>,
    changed: Condvar,
    /// Wakes async readers ([`Growing::reached`]), as `changed` wakes blocking ones.
    changed_async: tokio::sync::Notify,
}

/// What an async reader learns from [`Growing::reached`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    pub written: u64,
    pub total: Option<u64>,
    /// The writer finished well: `written` is all there will be.
    pub done: bool,
}

impl Growing {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Growing::default())
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state);
        self.changed.notify_all();
        self.changed_async.notify_waiters();
    }

    /// The file will have `total` bytes when the writing ends well.
    pub(crate) fn expect(&self, total: u64) {
        self.update(|s| s.total = Some(total));
    }

    /// Waits until at least `bytes` are written or the writer finished well; fails as a
    /// reader would when the writing failed.
    pub(crate) async fn reached(&self, bytes: u64) -> io::Result<Seen> {
        loop {
            // Registered before the state is read: a change in between still wakes it.
            let changed = self.changed_async.notified();
            {
                let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(Err(why)) = &state.end {
                    return Err(io::Error::other(format!("the download stopped: {why}")));
                }
                let done = state.end.is_some();
                if done || state.written >= bytes {
                    return Ok(Seen {
                        written: state.written,
                        total: state.total,
                        done,
                    });
                }
            }
            changed.await;
        }
    }

    /// The first `written` bytes of the file are in it (written, not only buffered).
    pub(crate) fn advance(&self, written: u64) {
        self.update(|s| s.written = s.written.max(written));
    }

    /// The writer is done: readers end at what was written, or fail with `outcome`'s error.
    /// Only the first call counts.
    pub(crate) fn finish(&self, outcome: Result<(), String>) {
        self.update(|s| {
            if s.end.is_none() {
                s.end = Some(outcome);
            }
        });
    }

    /// Opens the file to read it from the start as it grows.
    pub(crate) fn open(self: &Arc<Self>, path: &Path) -> io::Result<Follow> {
        Ok(Follow {
            file: File::open(path)?,
            read: 0,
            growing: Arc::clone(self),
        })
    }

    /// Waits until more than `read` bytes are written; `None` at a good end.
    fn wait_beyond(&self, read: u64) -> io::Result<Option<u64>> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if state.written > read {
                return Ok(Some(state.written));
            }
            match &state.end {
                Some(Ok(())) => return Ok(None),
                Some(Err(why)) => {
                    return Err(io::Error::other(format!("the download stopped: {why}")))
                }
                None => state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner()),
            }
        }
    }
}

/// Finishes a [`Growing`] as failed when dropped unfinished: a writer that is cancelled or
/// panics never leaves its readers waiting.
pub(crate) struct FinishOnDrop(pub Arc<Growing>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        self.0.finish(Err("the download was cancelled".into()));
    }
}

/// Reads a [`Growing`] file: never past what is written, and to its end only once the writer
/// finished well.
#[derive(Debug)]
pub(crate) struct Follow {
    file: File,
    read: u64,
    growing: Arc<Growing>,
}

impl Read for Follow {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let Some(written) = self.growing.wait_beyond(self.read)? else {
            return Ok(0);
        };
        let room = (written - self.read).min(buf.len() as u64) as usize;
        let n = self.file.read(&mut buf[..room])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file is shorter than what was written to it",
            ));
        }
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    #[test]
    fn a_reader_sees_only_written_bytes_and_ends_with_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        let mut file = File::create(&path).unwrap();
        let growing = Growing::new();
        let mut reader = growing.open(&path).unwrap();
        let writer = {
            let growing = Arc::clone(&growing);
            std::thread::spawn(move || {
                for i in 0..50u8 {
                    file.write_all(&[i; 1000]).unwrap();
                    // Bytes written but not yet announced must not be read.
                    file.write_all(&[0xee; 10]).unwrap();
                    std::thread::sleep(Duration::from_millis(1));
                    file.set_len(u64::from(i + 1) * 1000).unwrap();
                    file.flush().unwrap();
                    use std::io::Seek;
                    file.seek(io::SeekFrom::Start(u64::from(i + 1) * 1000))
                        .unwrap();
                    growing.advance(u64::from(i + 1) * 1000);
                }
                growing.finish(Ok(()));
            })
        };
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        writer.join().unwrap();
        assert_eq!(all.len(), 50_000);
        assert!(all
            .chunks(1000)
            .enumerate()
            .all(|(i, c)| c.iter().all(|b| *b == i as u8)));
    }

    #[test]
    fn a_failed_or_cancelled_writer_fails_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        std::fs::write(&path, b"abc").unwrap();
        let growing = Growing::new();
        growing.advance(3);
        let mut reader = growing.open(&path).unwrap();
        let waiting = std::thread::spawn(move || reader.read_to_end(&mut Vec::new()));
        std::thread::sleep(Duration::from_millis(20));
        drop(FinishOnDrop(Arc::clone(&growing)));
        let err = waiting.join().unwrap().unwrap_err();
        assert!(err.to_string().contains("download was cancelled"), "{err}");

        let growing = Growing::new();
        growing.finish(Err("412 Precondition Failed".into()));
        let err = growing
            .open(&path)
            .unwrap()
            .read(&mut [0u8; 8])
            .unwrap_err();
        assert!(err.to_string().contains("412"), "{err}");
    }
}
