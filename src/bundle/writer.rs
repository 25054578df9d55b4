//! Writes the revision bundle: the release's own bytes first, up to its end-of-archive block,
//! then the CodeDeploy entries, then a new end of archive.
//!
//! GNU tar, as the agent runs it, extracts entries in order and a later entry of a path
//! replaces an earlier one, so the CodeDeploy files win every collision without the release
//! being touched: for a plain tar the bundle is a byte copy with the end cut off; for gzip,
//! the compressed stream is kept byte for byte up to the deflate block that holds the
//! end-of-archive blocks, and only that block and the CodeDeploy entries are compressed
//! ([`crate::bundle::gzsplice`]). Directories the release has keep the release's entry (the
//! CodeDeploy folder's are not repeated), as tar would otherwise apply the later mode.
//!
//! One case needs the stream rewritten (re-encode, CodeDeploy entries first and the replaced
//! release entries left out): a release hard link to a path a CodeDeploy file replaces, since
//! tar leaves such a link with the old content when the path is replaced after it. Also when
//! the block to compress again is too large to hold. Every `tgz` bundle is one gzip member,
//! because agent 2.x, when its system tar fails, extracts again through a decoder that reads
//! only the first member (docs/AGENT-RULES.md): a release of several members has them joined
//! ([`gzsplice::Joined`]), or re-encoded where the scan could not say how to join them. Every
//! path puts the release's entries, headers untouched, in their order, so the instance gets
//! the same files.

use crate::base::cancel::Cancel;
use crate::base::error::{Error, Result};
use crate::bundle::cdfiles::CodeDeployFiles;
use crate::bundle::gzsplice;
use crate::bundle::paths::BundlePath;
use crate::bundle::paths::Kind;
use crate::bundle::scan::{self, AppArchive};
use crate::bundle::tarstream::{self, Compression, NewEntry, Next};
use crate::bundle::tree::BundleTree;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Write};

/// Lower-case hexadecimal of `bytes` (a SHA-256 digest as `sha256sum` prints it).
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MergeMode {
    /// Nothing collides: the release's bytes, then the CodeDeploy entries.
    Append,
    /// CodeDeploy files replace release entries: the same layout, the later entries win.
    Override,
    /// The tar stream was rewritten (a hard link to a replaced path, or a huge last block).
    ReEncode,
}

/// The bundle's container, tar or tar.gz: its file extension and the JSON summary's word. (The
/// SDK's `BundleType` is CodeDeploy's name for it, made in `aws::codedeploy`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BundleFormat {
    Tar,
    Tgz,
}

impl BundleFormat {
    pub(crate) fn of(compression: Compression) -> Self {
        match compression {
            Compression::None => BundleFormat::Tar,
            Compression::Gzip => BundleFormat::Tgz,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BundleFormat::Tar => "tar",
            BundleFormat::Tgz => "tgz",
        }
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub bytes: u64,
    pub sha256: String,
    pub merge: MergeMode,
    /// How many leading bytes of the bundle are the release file's own (0 on re-encode): what
    /// an upload can copy from the release object instead of sending.
    pub release_prefix: u64,
    /// How many gzip members of the release were joined into the bundle's one member, without
    /// compressing them again (0: the release was one member, or not gzip, or re-encoded).
    pub members_joined: usize,
    /// Why the stream was rewritten, on re-encode.
    pub reencoded_because: Option<&'static str>,
    /// Bytes written to disk to make it: all of them, or the tail when the release file
    /// became the bundle ([`write_over_release`]).
    pub bytes_written: u64,
}

/// Why a bundle is re-encoded: GNU tar would not let a later CodeDeploy entry win.
const HARD_LINK: &str =
    "a release hard link to a path a CodeDeploy file replaces keeps the old content under GNU tar";
const DELAYED_SYMLINK: &str = "a replaced release symlink whose target is absolute or climbs with '..' is made last by GNU tar, over the CodeDeploy file";
/// Or the release's stream cannot be continued in place.
const NOT_CONTINUED: &str = "the release's gzip stream cannot be continued in place (members that cannot be joined, or a final block too long to hold)";

/// A writer that counts and hashes what passes through it.
pub(crate) struct HashingWriter<W> {
    inner: W,
    cancel: Cancel,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W, cancel: &Cancel) -> Self {
        HashingWriter {
            inner,
            cancel: cancel.clone(),
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The same count and hash, going on into `inner`.
    pub(crate) fn into<V: Write>(self, inner: V) -> HashingWriter<V> {
        HashingWriter {
            inner,
            cancel: self.cancel,
            hasher: self.hasher,
            bytes: self.bytes,
        }
    }

    pub(crate) fn finish(self) -> (W, u64, String) {
        (self.inner, self.bytes, hex(&self.hasher.finalize()))
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

/// How a bundle is laid out, decided before a byte is written.
struct Layout {
    merge: MergeMode,
    reencoded_because: Option<&'static str>,
    /// For gzip, where the release's stream is continued (`None` on re-encode).
    splice: Option<gzsplice::Splice>,
}

impl Layout {
    fn of(app: &AppArchive, tree: &BundleTree, cancel: &Cancel) -> Result<Self> {
        let (mut merge, mut reencoded_because) = merge_mode(tree);
        let splice = splice_point(app, &mut merge, cancel)?;
        if merge == MergeMode::ReEncode && reencoded_because.is_none() {
            reencoded_because = Some(NOT_CONTINUED);
        }
        Ok(Layout {
            merge,
            reencoded_because,
            splice,
        })
    }

    /// The release's first bytes that the bundle keeps as they are, when it starts with them
    /// unchanged (no members joined, not re-encoded).
    fn verbatim_prefix(&self, app: &AppArchive) -> Option<u64> {
        match (app.compression, self.merge, &self.splice) {
            (_, MergeMode::ReEncode, _) => None,
            (Compression::None, _, _) => Some(app.end),
            (Compression::Gzip, _, Some(s)) if s.joined.is_empty() => Some(s.keep),
            _ => None,
        }
    }

    fn written(&self, app: &AppArchive, bytes: u64, sha256: String, written: u64) -> Written {
        let release_prefix = match (app.compression, self.merge, &self.splice) {
            (_, MergeMode::ReEncode, _) => 0,
            (Compression::None, _, _) => app.end,
            (Compression::Gzip, _, Some(s)) => s.release_prefix(),
            _ => 0,
        };
        Written {
            bytes,
            sha256,
            merge: self.merge,
            release_prefix,
            members_joined: self
                .splice
                .as_ref()
                .filter(|s| !s.joined.is_empty())
                .map_or(0, |s| s.joined.len() + 1),
            reencoded_because: self.reencoded_because,
            bytes_written: written,
        }
    }
}

/// Writes the bundle for `app` + `cd` to `out`; `label` names the output in errors.
pub(crate) fn write<W: Write>(
    app: &AppArchive,
    cd: &CodeDeployFiles,
    tree: &BundleTree,
    mtime: u64,
    out: W,
    label: &std::path::Path,
    cancel: &Cancel,
) -> Result<(W, Written)> {
    let io_err = |e: io::Error| Error::io("cannot write bundle", label, e);
    let layout = Layout::of(app, tree, cancel)?;
    let mut hashing = HashingWriter::new(out, cancel);
    match (app.compression, layout.merge, &layout.splice) {
        (Compression::None, MergeMode::Append | MergeMode::Override, _) => {
            copy_prefix(app, app.end, &mut hashing)?;
        }
        (Compression::Gzip, MergeMode::Append | MergeMode::Override, Some(splice)) => {
            if splice.joined.is_empty() {
                copy_prefix(app, splice.keep, &mut hashing)?;
            } else {
                copy_joined(app, splice, &mut hashing)?;
            }
        }
        (Compression::None, _, _) => {
            write_codedeploy_entries(cd, mtime, &|_| true, &mut hashing)?;
            reencode_app(app, tree, &mut hashing, cancel)?;
        }
        (Compression::Gzip, _, _) => {
            let mut member = gzip(&mut hashing);
            write_codedeploy_entries(cd, mtime, &|_| true, &mut member)?;
            reencode_app(app, tree, &mut member, cancel)?;
            member.finish().map_err(io_err)?;
        }
    }
    if layout.merge != MergeMode::ReEncode {
        write_tail(cd, tree, mtime, &layout, &mut hashing, label)?;
    }
    hashing.flush().map_err(io_err)?;
    let (out, bytes, sha256) = hashing.finish();
    let written = layout.written(app, bytes, sha256, bytes);
    Ok((out, written))
}

/// Makes the bundle out of the release file itself, when the bundle starts with the release's
/// bytes unchanged: the file is cut where the bundle's own bytes end and the rest is
/// appended, so a deploy writes the release's size once (the download), not twice. `None`,
/// the file untouched, when the layout changes the release's bytes (members joined, a
/// re-encode). The file must be the run's own: it is changed in place.
pub(crate) fn write_over_release(
    app: &AppArchive,
    cd: &CodeDeployFiles,
    tree: &BundleTree,
    mtime: u64,
    before_cut: &dyn Fn(u64),
    cancel: &Cancel,
) -> Result<Option<Written>> {
    let layout = Layout::of(app, tree, cancel)?;
    let Some(keep) = layout.verbatim_prefix(app) else {
        return Ok(None);
    };
    let io_err = |e: io::Error| Error::io("cannot write bundle", &app.path, e);
    // The kept bytes are hashed as they are, read back (from the page cache, as a rule).
    let mut hashing = HashingWriter::new(io::sink(), cancel);
    copy_prefix(app, keep, &mut hashing)?;
    before_cut(keep);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&app.path)
        .map_err(io_err)?;
    file.set_len(keep).map_err(io_err)?;
    let mut file = io::BufWriter::with_capacity(256 * 1024, file);
    io::Seek::seek(&mut file, io::SeekFrom::Start(keep)).map_err(io_err)?;
    let mut hashing = hashing.into(file);
    write_tail(cd, tree, mtime, &layout, &mut hashing, &app.path)?;
    hashing.flush().map_err(io_err)?;
    let (_, bytes, sha256) = hashing.finish();
    Ok(Some(layout.written(app, bytes, sha256, bytes - keep)))
}

/// What follows the release's kept bytes (append, override): for gzip the boundary's block
/// compressed again with the CodeDeploy entries in the same member, for tar the entries;
/// then the end of the archive.
fn write_tail<W: Write>(
    cd: &CodeDeployFiles,
    tree: &BundleTree,
    mtime: u64,
    layout: &Layout,
    out: &mut HashingWriter<W>,
    label: &std::path::Path,
) -> Result<()> {
    let io_err = |e: io::Error| Error::io("cannot write bundle", label, e);
    let tail = |out: &mut dyn Write| -> Result<()> {
        write_codedeploy_entries(cd, mtime, &|path| !tree.has_app_dir(path), out)?;
        out.write_all(&[0u8; 2 * tarstream::BLOCK]).map_err(io_err)
    };
    match &layout.splice {
        None => tail(out),
        Some(splice) => {
            let mut member =
                gzsplice::Continue::new(out, splice, GZIP_LEVEL as i32).map_err(io_err)?;
            member.write_all(&splice.tail).map_err(io_err)?;
            tail(&mut member)?;
            member.finish().map_err(io_err)?;
            Ok(())
        }
    }
}

/// How the bundle is laid out: the release kept and the CodeDeploy entries after it (append,
/// override), unless GNU tar would not let a later CodeDeploy entry win: a release hard link
/// to a replaced path (GNU tar keeps the old content under such a link when the path is
/// replaced after it), or a replaced release symlink whose target is absolute or has a `..`
/// (GNU tar first extracts such a symlink as a placeholder file and makes the link when it
/// ends, over whatever a later entry wrote there, when that entry reused the placeholder's
/// inode: the release's symlink wins under `tar -xpsf` and `tar -xf`, the CodeDeploy file
/// under agent 2.x's fallback). Only a rewrite gives every path the CodeDeploy file.
fn merge_mode(tree: &BundleTree) -> (MergeMode, Option<&'static str>) {
    let linked = tree.hard_link_to_replaced();
    let delayed = tree.replaced_late_symlink;
    match (tree.overridden.is_empty(), linked, delayed) {
        (true, _, _) => (MergeMode::Append, None),
        (false, false, false) => (MergeMode::Override, None),
        (false, true, _) => (MergeMode::ReEncode, Some(HARD_LINK)),
        (false, false, true) => (MergeMode::ReEncode, Some(DELAYED_SYMLINK)),
    }
}

/// Where a gzip release is continued: the scan's boundary, or one found by reading the
/// release again (the scan held none before the cut: a very long block). With none, or with
/// one past the first gzip member whose members before it cannot be joined (only the scan
/// says how), the bundle is re-encoded (`merge` becomes `ReEncode`).
fn splice_point(
    app: &AppArchive,
    merge: &mut MergeMode,
    cancel: &Cancel,
) -> Result<Option<gzsplice::Splice>> {
    if app.compression != Compression::Gzip || *merge == MergeMode::ReEncode {
        return Ok(None);
    }
    let found = match &app.splice {
        Some(splice) => Some(splice.clone()),
        None => {
            let file = File::open(&app.path)
                .map_err(|e| Error::io("cannot open app archive", &app.path, e))?;
            gzsplice::find(io::BufReader::new(file), app.end, cancel)
                .map_err(|e| Error::io("cannot read app archive", &app.path, e))?
        }
    }
    .filter(gzsplice::Splice::joinable);
    if found.is_none() {
        *merge = MergeMode::ReEncode;
    }
    Ok(found)
}

/// Writes the CodeDeploy entries for which `keep` holds, normalised, without end-of-archive
/// blocks.
pub(crate) fn write_codedeploy_entries(
    cd: &CodeDeployFiles,
    mtime: u64,
    keep: &dyn Fn(&str) -> bool,
    out: &mut dyn Write,
) -> Result<()> {
    for entry in &cd.entries {
        if !keep(entry.path.as_str()) {
            continue;
        }
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

/// Copies the first `len` bytes of the release file, as they are.
fn copy_prefix(app: &AppArchive, len: u64, out: &mut impl Write) -> Result<()> {
    let file =
        File::open(&app.path).map_err(|e| Error::io("cannot open app archive", &app.path, e))?;
    let copied = io::copy(&mut file.take(len), out)
        .map_err(|e| Error::io("cannot copy app archive into bundle", &app.path, e))?;
    if copied != len {
        return Err(Error::io(
            "cannot re-read app archive (did it change during the run?)",
            &app.path,
            io::Error::other(format!("{copied} of {len} bytes")),
        ));
    }
    Ok(())
}

/// Copies the release's gzip members before the continued one joined into one deflate stream
/// (see [`gzsplice::Joined`]), then the continued member's bytes up to the boundary.
fn copy_joined(app: &AppArchive, splice: &gzsplice::Splice, out: &mut impl Write) -> Result<()> {
    let file =
        File::open(&app.path).map_err(|e| Error::io("cannot open app archive", &app.path, e))?;
    let mut release = Release {
        file: io::BufReader::new(file),
        pos: 0,
    };
    let changed = |e: io::Error| Error::io("cannot copy app archive into bundle", &app.path, e);
    let write_err = |e: io::Error| Error::io("cannot write bundle", &app.path, e);
    for (i, joined) in splice.joined.iter().enumerate() {
        // The first member keeps its gzip header; the others' are left out.
        release
            .skip_to(if i == 0 { 0 } else { joined.data })
            .map_err(changed)?;
        let (at, bit) = joined.last_block;
        release.copy_to(at, out).map_err(changed)?;
        let final_bit = !(1u8 << bit);
        let mut ending = Vec::with_capacity(7);
        if at < joined.end {
            let byte = release.byte().map_err(changed)?;
            out.write_all(&[byte & final_bit]).map_err(write_err)?;
            release.copy_to(joined.end, out).map_err(changed)?;
        }
        if joined.end_bits > 0 {
            // The last byte: its bits of the final block (the final bit cleared if it is
            // there), then zeros: an empty stored block's 3 header bits and the padding.
            let mut last = release.byte().map_err(changed)? & ((1u8 << joined.end_bits) - 1);
            if at == joined.end {
                last &= final_bit;
            }
            ending.push(last);
            if joined.end_bits > 5 {
                ending.push(0);
            }
        } else {
            ending.push(0);
        }
        // The stored block's LEN 0 and NLEN 0xffff: the next member's deflate data starts on
        // this byte boundary.
        ending.extend_from_slice(&[0, 0, 0xff, 0xff]);
        out.write_all(&ending).map_err(write_err)?;
    }
    release.skip_to(splice.data).map_err(changed)?;
    release.copy_to(splice.keep, out).map_err(changed)
}

fn shorter() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file is shorter than when it was read (did it change during the run?)",
    )
}

/// The release file read forward: copies, skips and single bytes.
struct Release {
    file: io::BufReader<File>,
    pos: u64,
}

impl Release {
    fn skip_to(&mut self, at: u64) -> io::Result<()> {
        if at < self.pos {
            return Err(io::Error::other(format!(
                "offset {at} is behind {}",
                self.pos
            )));
        }
        let skip = at - self.pos;
        let skipped = io::copy(&mut (&mut self.file).take(skip), &mut io::sink())?;
        self.pos += skipped;
        if skipped < skip {
            return Err(shorter());
        }
        Ok(())
    }

    fn copy_to(&mut self, end: u64, out: &mut impl Write) -> io::Result<()> {
        let want = end.saturating_sub(self.pos);
        let copied = io::copy(&mut (&mut self.file).take(want), out)?;
        self.pos += copied;
        if copied < want {
            return Err(shorter());
        }
        Ok(())
    }

    fn byte(&mut self) -> io::Result<u8> {
        let mut one = [0u8];
        self.file.read_exact(&mut one).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => shorter(),
            _ => e,
        })?;
        self.pos += 1;
        Ok(one[0])
    }
}

/// Copies every application entry verbatim except the ones a CodeDeploy file replaces.
fn reencode_app(
    app: &AppArchive,
    tree: &BundleTree,
    out: &mut impl Write,
    cancel: &Cancel,
) -> Result<()> {
    let (_, mut reader) = scan::open(&app.path, None, cancel)?;
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
