//! Cancellation that synchronous code can notice: the archive scan and the bundle writer read
//! and write through wrappers that check a [`Cancel`] token, so that a signal stops a
//! multi-GB check or merge within one buffer, and the temporary bundle is dropped (removed)
//! on the way out. The token is set by [`crate::base::shutdown`]; this module knows no signals.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// A flag set once, with the reason (the signal's name); cheap to clone and to check. It also
/// counts the bytes read through [`CancelRead`], which a progress display can show.
#[derive(Clone, Debug, Default)]
pub struct Cancel {
    fired: Arc<OnceLock<&'static str>>,
    read: Arc<AtomicU64>,
}

/// The error a cancelled read or write returns, inside an [`io::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by {0}")]
pub(crate) struct Cancelled(pub &'static str);

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag; the first reason stays.
    pub(crate) fn fire(&self, why: &'static str) {
        let _ = self.fired.set(why);
    }

    /// The reason, once fired.
    pub(crate) fn fired(&self) -> Option<&'static str> {
        self.fired.get().copied()
    }

    /// Bytes read so far through the [`CancelRead`] readers of this token.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// An error to return from a read or write once fired.
    pub(crate) fn check(&self) -> io::Result<()> {
        match self.fired() {
            Some(why) => Err(io::Error::other(Cancelled(why))),
            None => Ok(()),
        }
    }
}

/// The cancellation inside an I/O error, however deeply wrapped (decoders and tar readers
/// wrap the errors of the reader beneath them).
pub(crate) fn cancelled_in(err: &io::Error) -> Option<&'static str> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = err
        .get_ref()
        .map(|e| e as &(dyn std::error::Error + 'static));
    while let Some(e) = current {
        if let Some(Cancelled(why)) = e.downcast_ref::<Cancelled>() {
            return Some(why);
        }
        current = match e.downcast_ref::<io::Error>() {
            Some(inner) => inner
                .get_ref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// A reader that fails with [`Cancelled`] once the token fires.
pub(crate) struct CancelRead<R> {
    inner: R,
    cancel: Cancel,
}

impl<R> CancelRead<R> {
    pub(crate) fn new(inner: R, cancel: &Cancel) -> Self {
        CancelRead {
            inner,
            cancel: cancel.clone(),
        }
    }
}

impl<R: io::Read> io::Read for CancelRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.cancel.check()?;
        let n = self.inner.read(buf)?;
        self.cancel.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_fired_token_stops_reads_and_is_found_through_wrapping() {
        let cancel = Cancel::new();
        let mut r = CancelRead::new(&b"abc"[..], &cancel);
        let mut buf = [0u8; 1];
        assert_eq!(r.read(&mut buf).unwrap(), 1);
        assert_eq!(cancel.clone().bytes_read(), 1, "clones share the count");
        cancel.fire("SIGTERM");
        cancel.fire("SIGINT");
        let err = r.read(&mut buf).unwrap_err();
        assert_eq!(cancelled_in(&err), Some("SIGTERM"));
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, err);
        assert_eq!(cancelled_in(&wrapped), Some("SIGTERM"));
        assert_eq!(cancelled_in(&io::Error::other("plain")), None);
    }
}
