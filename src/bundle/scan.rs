//! Reads an application archive through once and checks every entry, without extracting it
//! or holding it in memory. The same stream setup serves the re-encoding writer.

use crate::base::cancel::{cancelled_in, Cancel, CancelRead};
use crate::base::diag::Diagnostics;
use crate::base::error::{Error, Result};
use crate::base::growing::{Follow, Growing};
use crate::bundle::gzsplice::{self, Splice};
use crate::bundle::paths::BundlePath;
use crate::bundle::paths::{label, Kind};
use crate::bundle::tarstream::{self, Compression, Next, RawEntry, Stray, TarError, TarReader};
use crate::bundle::tree::{BundleTree, Entry};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Scripts and the appspec are read into memory for checks, up to this size each.
pub(crate) const MAX_CAPTURE: u64 = 1 << 20;

/// The result of scanning an application archive.
#[derive(Debug)]
pub(crate) struct AppArchive {
    pub path: PathBuf,
    pub compression: Compression,
    /// Contents of the entries asked for (hook scripts, appspec), by path.
    pub captured: HashMap<String, Vec<u8>>,
    /// Offset, in the tar stream, where its entries end: its end-of-archive block, or the end
    /// of the data when it has none. A bundle keeps the release's bytes up to here.
    pub end: u64,
    /// For gzip: where the compressed stream can be continued before `end`, found during the
    /// scan (`None` when the block that holds `end` was too long to hold).
    pub splice: Option<Splice>,
}

impl AppArchive {
    /// How diagnostics name the archive: its file name.
    pub(crate) fn label(&self) -> String {
        crate::bundle::paths::label(&self.path)
    }
}

/// Marks an error of the underlying file, as opposed to bad data in it.
#[derive(Debug)]
struct FileError(io::Error);

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

pub(crate) struct TaggedFile(CancelRead<Raw>);

/// The archive file: complete, or still arriving ([`crate::base::growing`]).
pub(crate) enum Raw {
    Complete(File),
    Arriving(Follow),
}

impl Read for Raw {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Raw::Complete(file) => file.read(buf),
            Raw::Arriving(follow) => follow.read(buf),
        }
    }
}

fn open_raw(path: &Path, growing: Option<&Arc<Growing>>) -> Result<Raw> {
    let opened = match growing {
        None => File::open(path).map(Raw::Complete),
        Some(growing) => growing.open(path).map(Raw::Arriving),
    };
    opened.map_err(|e| Error::io("cannot open app archive", path, e))
}

impl Read for TaggedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), FileError(e)))
    }
}

/// The application archive's tar stream: the file itself, or its gzip members inflated.
pub(crate) enum Source {
    Plain(BufReader<TaggedFile>),
    Gzip(Box<gzsplice::Members<TaggedFile>>),
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Plain(file) => file.read(buf),
            Source::Gzip(members) => members.read(buf),
        }
    }
}

impl Source {
    /// See [`gzsplice::Members::splice_at`]; `None` for a plain tar.
    fn splice_at(&self, cut: u64) -> Option<Splice> {
        match self {
            Source::Plain(_) => None,
            Source::Gzip(members) => members.splice_at(cut),
        }
    }
}

/// Opens an application archive as a tar stream, decompressing gzip (every member); with
/// `growing`, reads the file as it arrives.
pub(crate) fn open(
    path: &Path,
    growing: Option<&Arc<Growing>>,
    cancel: &Cancel,
) -> Result<(Compression, TarReader<Source>)> {
    let mut file = open_raw(path, growing)?;
    let mut first = Vec::with_capacity(tarstream::BLOCK);
    (&mut file)
        .take(tarstream::BLOCK as u64)
        .read_to_end(&mut first)
        .map_err(|e| Error::io("cannot read app archive", path, e))?;
    let compression = tarstream::detect(&first).map_err(|message| {
        let mut diags = Diagnostics::default();
        diags.error(label(path), message);
        Error::Invalid(diags)
    })?;
    let file = TaggedFile(CancelRead::new(open_raw(path, growing)?, cancel));
    let stream = match compression {
        Compression::None => Source::Plain(BufReader::with_capacity(64 * 1024, file)),
        Compression::Gzip => Source::Gzip(Box::new(
            gzsplice::Members::new(file)
                .map_err(|e| Error::io("cannot read app archive", path, e))?,
        )),
    };
    Ok((compression, TarReader::new(stream)))
}

/// Turns a stream error into either an I/O failure (exit 4) or a problem of the archive.
pub(crate) fn stream_error(path: &Path, err: TarError, diags: &mut Diagnostics) -> Result<()> {
    if let TarError::Io(e) = &err {
        if let Some(signal) = cancelled_in(e) {
            return Err(Error::Interrupted(signal));
        }
        if e.get_ref().is_some_and(|inner| inner.is::<FileError>()) {
            return Err(Error::io(
                "cannot read app archive",
                path,
                io::Error::new(e.kind(), e.to_string()),
            ));
        }
        diags.error(
            label(path),
            format!("corrupt or truncated compressed data: {e}"),
        );
        return Ok(());
    }
    let message = match &err {
        TarError::Corrupt { offset: 0, .. } => {
            "the (decompressed) data is not a tar archive: its first header is invalid".to_string()
        }
        _ => err.to_string(),
    };
    diags.error(label(path), message);
    Ok(())
}

/// Scans the whole archive, checking every entry, merging each into `tree` (when given), and
/// capturing the contents of the entries for which `capture` returns true.
pub(crate) fn scan(
    path: &Path,
    growing: Option<&Arc<Growing>>,
    capture: &dyn Fn(&BundlePath) -> bool,
    mut tree: Option<&mut BundleTree>,
    diags: &mut Diagnostics,
    cancel: &Cancel,
) -> Result<AppArchive> {
    let (compression, mut reader) = open(path, growing, cancel)?;
    let mut archive = AppArchive {
        path: path.to_path_buf(),
        compression,
        captured: HashMap::new(),
        end: 0,
        splice: None,
    };
    let label = archive.label();
    if let Some(tree) = tree.as_deref_mut() {
        tree.set_app_label(label.clone());
    }
    if let Err(err) = scan_entries(&mut reader, &mut archive, &label, capture, tree, diags) {
        stream_error(path, err, diags)?;
    }
    Ok(archive)
}

fn scan_entries(
    reader: &mut TarReader<Source>,
    archive: &mut AppArchive,
    label: &str,
    capture: &dyn Fn(&BundlePath) -> bool,
    mut tree: Option<&mut BundleTree>,
    diags: &mut Diagnostics,
) -> Result<(), TarError> {
    loop {
        let entry = match reader.next_entry()? {
            Next::Entry(entry) => entry,
            Next::Eof => {
                archive.end = reader.offset();
                archive.splice = reader.get_ref().splice_at(archive.end);
                return Ok(());
            }
            Next::EndMarker { offset } => {
                archive.end = offset;
                // Before reading on: the reader keeps only the boundaries near its position.
                archive.splice = reader.get_ref().splice_at(offset);
                match reader.find_after_end()? {
                    None => {}
                    Some(Stray {
                        offset: at,
                        name: Some(name),
                    }) => diags.error(
                        format!("{label}: entry '{}'", String::from_utf8_lossy(&name)),
                        format!(
                            "stands at offset {at}, after the end-of-archive block at offset \
                             {offset}; the agent's tar stops at that block and silently drops \
                             this entry and everything after it (rebuild the archive in one \
                             go instead of concatenating tar files)"
                        ),
                    ),
                    Some(Stray {
                        offset: at,
                        name: None,
                    }) => diags.error(
                        label,
                        format!("trailing garbage at offset {at} after the end-of-archive block"),
                    ),
                }
                return Ok(());
            }
        };
        let checked = check_entry(&entry, label, diags);
        let mut content = Vec::new();
        let want = checked
            .as_ref()
            .is_some_and(|e| e.kind == Kind::File && entry.size <= MAX_CAPTURE && capture(&e.path));
        reader.data(&entry, |chunk| {
            if want {
                content.extend_from_slice(chunk);
            }
            Ok(())
        })?;
        if let Some(checked) = checked {
            if want {
                archive.captured.insert(checked.path.to_string(), content);
            }
            if let Some(tree) = tree.as_deref_mut() {
                tree.add_app(checked, diags);
            }
        }
    }
}

/// Checks one entry's type, path and link; returns it when it belongs in the bundle index.
fn check_entry(entry: &RawEntry, label: &str, diags: &mut Diagnostics) -> Option<Entry> {
    // Made only for a message: most entries have none.
    let at = || format!("{label}: entry '{}'", String::from_utf8_lossy(&entry.path));
    let kind = match entry.kind {
        b'0' | 0 | b'7' => Kind::File,
        b'1' => Kind::HardLink,
        b'2' => Kind::Symlink,
        b'5' => Kind::Dir,
        b'g' | b'V' => return None,
        b'3' | b'4' => {
            diags.error(
                at(),
                "device file; a revision may hold only files, directories and links",
            );
            return None;
        }
        b'6' => {
            diags.error(
                at(),
                "named pipe (fifo); a revision may hold only files, directories and links",
            );
            return None;
        }
        b'S' => {
            diags.error(
                at(),
                "GNU sparse file; re-create the archive without --sparse",
            );
            return None;
        }
        other => {
            diags.error(
                at(),
                format!(
                    "unsupported entry type '{}'",
                    char::from(other).escape_default()
                ),
            );
            return None;
        }
    };
    let path = match BundlePath::parse(&entry.path) {
        Ok(Some(path)) => path,
        Ok(None) if kind == Kind::Dir => return None,
        Ok(None) => {
            diags.error(
                at(),
                format!("a {} cannot be the bundle root", kind.describe()),
            );
            return None;
        }
        Err(e) => {
            diags.error(at(), e.to_string());
            return None;
        }
    };
    let mode = entry.header.mode().unwrap_or(0o644);
    let setid = kind == Kind::File && mode & 0o6000 != 0;
    if setid {
        diags.warn(
            format!("{label}: entry '{path}'"),
            format!("mode {mode:o} has the setuid/setgid bit; the agent's tar -p keeps it"),
        );
    }
    let link = match kind {
        Kind::Symlink | Kind::HardLink => match String::from_utf8(entry.link.clone()) {
            Ok(link) => Some(link),
            Err(_) => {
                diags.error(at(), "link target is not valid UTF-8");
                return None;
            }
        },
        _ => None,
    };
    Some(Entry {
        path,
        kind,
        link,
        setid,
    })
}
