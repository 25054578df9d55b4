//! Writes the revision bundle: CodeDeploy files first, then the application's entries.
//!
//! Fast path (append): nothing collides, so the application archive is copied byte for byte
//! after the CodeDeploy entries: for gzip, member 1 holds the CodeDeploy entries (no
//! end-of-archive blocks) and member 2 is the original file, which `gzip -d` reads as one
//! stream. Re-encode: a CodeDeploy file replaces an application entry, so the stream is
//! rewritten with the replaced entries left out. Both paths put the same entries, with the
//! application's headers untouched, in the same order, so the instance gets the same files.

use crate::cancel::Cancel;
use crate::cdfiles::CodeDeployFiles;
use crate::error::{Error, Result};
use crate::paths::BundlePath;
use crate::scan::{self, AppArchive, Kind};
use crate::tarstream::{self, Compression, NewEntry, Next};
use crate::tree::BundleTree;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MergeMode {
    /// The application archive was appended byte for byte.
    Append,
    /// The tar stream was rewritten because CodeDeploy files replace application entries.
    ReEncode,
}

impl MergeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MergeMode::Append => "append",
            MergeMode::ReEncode => "re-encode",
        }
    }
}

/// CodeDeploy's name for the bundle's container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BundleType {
    Tar,
    Tgz,
}

impl BundleType {
    pub fn of(compression: Compression) -> Self {
        match compression {
            Compression::None => BundleType::Tar,
            Compression::Gzip => BundleType::Tgz,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BundleType::Tar => "tar",
            BundleType::Tgz => "tgz",
        }
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    pub bytes: u64,
    pub sha256: String,
    pub merge: MergeMode,
}

/// A writer that counts and hashes what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    cancel: Cancel,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W, cancel: &Cancel) -> Self {
        HashingWriter {
            inner,
            cancel: cancel.clone(),
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    pub fn finish(self) -> (W, u64, String) {
        (
            self.inner,
            self.bytes,
            format!("{:x}", self.hasher.finalize()),
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.cancel.check()?;
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

const GZIP_LEVEL: u32 = 6;

fn gzip<W: Write>(out: W) -> flate2::write::GzEncoder<W> {
    // mtime 0 and no file name: the same input gives the same bytes.
    flate2::GzBuilder::new()
        .mtime(0)
        .write(out, flate2::Compression::new(GZIP_LEVEL))
}

/// Writes the bundle for `app` + `cd` to `out`; `label` names the output in errors.
pub fn write<W: Write>(
    app: &AppArchive,
    cd: &CodeDeployFiles,
    tree: &BundleTree,
    mtime: u64,
    out: W,
    label: &std::path::Path,
    cancel: &Cancel,
) -> Result<(W, Written)> {
    let io_err = |e: io::Error| Error::io("cannot write bundle", label, e);
    let merge = if tree.overridden.is_empty() {
        MergeMode::Append
    } else {
        MergeMode::ReEncode
    };
    let mut hashing = HashingWriter::new(out, cancel);
    match (app.compression, merge) {
        (Compression::None, MergeMode::Append) => {
            write_codedeploy_entries(cd, mtime, &mut hashing)?;
            append_file(app, &mut hashing)?;
        }
        (Compression::Gzip, MergeMode::Append) => {
            let mut member = gzip(&mut hashing);
            write_codedeploy_entries(cd, mtime, &mut member)?;
            member.finish().map_err(io_err)?;
            append_file(app, &mut hashing)?;
        }
        (Compression::None, MergeMode::ReEncode) => {
            write_codedeploy_entries(cd, mtime, &mut hashing)?;
            reencode_app(app, tree, &mut hashing, cancel)?;
        }
        (Compression::Gzip, MergeMode::ReEncode) => {
            let mut member = gzip(&mut hashing);
            write_codedeploy_entries(cd, mtime, &mut member)?;
            reencode_app(app, tree, &mut member, cancel)?;
            member.finish().map_err(io_err)?;
        }
    }
    hashing.flush().map_err(io_err)?;
    let (out, bytes, sha256) = hashing.finish();
    Ok((
        out,
        Written {
            bytes,
            sha256,
            merge,
        },
    ))
}

/// Writes the CodeDeploy entries, normalised, without end-of-archive blocks.
pub fn write_codedeploy_entries(
    cd: &CodeDeployFiles,
    mtime: u64,
    out: &mut impl Write,
) -> Result<()> {
    for entry in &cd.entries {
        let kind = match entry.kind {
            Kind::Dir => tar::EntryType::Directory,
            Kind::Symlink => tar::EntryType::Symlink,
            Kind::File | Kind::HardLink => tar::EntryType::Regular,
        };
        let size = if entry.kind == Kind::File {
            entry.size
        } else {
            0
        };
        let header = NewEntry {
            path: entry.path.as_str(),
            kind,
            mode: entry.mode,
            size,
            link: entry.link.as_deref(),
            mtime,
        };
        let err = |e: io::Error| Error::io("cannot add to bundle", &entry.source, e);
        tarstream::write_header(out, &header).map_err(err)?;
        if entry.kind == Kind::File {
            let file = File::open(&entry.source).map_err(err)?;
            let copied = io::copy(&mut file.take(size), out).map_err(err)?;
            if copied != size {
                return Err(err(io::Error::other(format!(
                    "file changed while the bundle was written ({copied} of {size} bytes)"
                ))));
            }
            tarstream::write_padding(out, size).map_err(err)?;
        }
    }
    Ok(())
}

fn append_file(app: &AppArchive, out: &mut impl Write) -> Result<()> {
    let mut file =
        File::open(&app.path).map_err(|e| Error::io("cannot open app archive", &app.path, e))?;
    io::copy(&mut file, out)
        .map_err(|e| Error::io("cannot copy app archive into bundle", &app.path, e))?;
    Ok(())
}

/// Copies every application entry verbatim except the ones a CodeDeploy file replaces.
fn reencode_app(
    app: &AppArchive,
    tree: &BundleTree,
    out: &mut impl Write,
    cancel: &Cancel,
) -> Result<()> {
    let (_, mut reader) = scan::open(&app.path, cancel)?;
    let fail = |e: tarstream::TarError| {
        if let Some(signal) = cancel.fired() {
            return Error::Interrupted(signal);
        }
        Error::io(
            "cannot re-read app archive (did it change during the run?)",
            &app.path,
            io::Error::other(e.to_string()),
        )
    };
    while let Next::Entry(entry) = reader.next_entry().map_err(fail)? {
        let replaced = BundlePath::parse(&entry.path)
            .ok()
            .flatten()
            .is_some_and(|p| entry.kind != b'5' && tree.overridden.contains(p.as_str()));
        if replaced {
            reader.data(&entry, |_| Ok(())).map_err(fail)?;
        } else {
            reader.copy_raw(&entry, out).map_err(fail)?;
        }
    }
    out.write_all(&[0u8; 2 * tarstream::BLOCK])
        .map_err(|e| Error::io("cannot write bundle", &app.path, e))
}
