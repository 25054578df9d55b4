//! Streaming tar and gzip, read and written the way the CodeDeploy agent's GNU tar sees them.
//!
//! The `tar` crate hides what matters here (where an entry's first header block starts, a
//! zero block in the middle of a stream, bytes after the last gzip member), so this module
//! reads 512-byte blocks itself and uses `tar::Header` only to decode fields. Nothing here
//! holds more than one entry's extension headers in memory.

use std::io::{self, Read, Write};

pub(crate) const BLOCK: usize = 512;
/// Extension headers (GNU long names, PAX records) larger than this are refused.
const MAX_EXTENSION: u64 = 1 << 20;

/// The container of an application archive, recognised by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
}

/// Recognises a tar or gzip stream from its first block; anything else is an error that
/// says what the file looks like instead.
pub(crate) fn detect(first: &[u8]) -> Result<Compression, String> {
    if first.starts_with(&[0x1f, 0x8b]) {
        return Ok(Compression::Gzip);
    }
    let known: &[(&[u8], &str)] = &[
        (b"PK\x03\x04", "a zip archive"),
        (b"BZh", "a bzip2 file"),
        (b"\xfd7zXZ\x00", "an xz file"),
        (b"\x28\xb5\x2f\xfd", "a zstd file"),
    ];
    if first.is_empty() {
        return Err("the file is empty; expected a tar or gzip-compressed tar archive".into());
    }
    for (magic, what) in known {
        if first.starts_with(magic) {
            return Err(format!(
                "this is {what}; expected a tar or gzip-compressed tar archive (tar -czf)"
            ));
        }
    }
    if first.len() >= BLOCK
        && (first[..BLOCK].iter().all(|b| *b == 0) || checksum_ok(&first[..BLOCK]))
    {
        return Ok(Compression::None);
    }
    Err("not a tar or gzip-compressed tar archive".into())
}

fn checksum_ok(block: &[u8]) -> bool {
    let header = tar::Header::from_byte_slice(block);
    let Ok(stored) = header.cksum() else {
        return false;
    };
    let sum: u32 = block[..148]
        .iter()
        .chain(&block[156..])
        .map(|b| u32::from(*b))
        .sum::<u32>()
        + 8 * 32;
    sum == stored
}

/// What the next read of a tar stream found.
#[derive(Debug)]
pub enum Next {
    Entry(Box<RawEntry>),
    /// A zero block: GNU tar stops extracting here, whatever follows.
    EndMarker {
        offset: u64,
    },
    /// The stream ended on a block boundary without an end-of-archive marker.
    Eof,
}

/// One logical tar entry: its main header and any GNU long-name or PAX headers before it.
#[derive(Debug)]
pub struct RawEntry {
    /// Offset of the first header block of this entry (extension headers included).
    pub offset: u64,
    /// Every block from `offset` up to the entry's data, exactly as read.
    pub raw_headers: Vec<u8>,
    pub header: tar::Header,
    /// The effective name (PAX `path` > GNU long name > ustar name).
    pub path: Vec<u8>,
    /// The effective link name (PAX `linkpath` > GNU long link > ustar link name).
    pub link: Vec<u8>,
    /// The entry type byte of the main header.
    pub kind: u8,
    /// Size of the data that follows the headers (PAX `size` wins over the header's).
    pub size: u64,
}

/// A non-zero block after the end-of-archive marker.
#[derive(Debug)]
pub(crate) struct Stray {
    pub offset: u64,
    /// The entry name, when the block is a valid header.
    pub name: Option<Vec<u8>>,
}

/// A PAX record: key and value.
pub(crate) type PaxRecord = (Vec<u8>, Vec<u8>);

/// Why a tar stream could not be read further.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("archive is truncated at offset {offset} (inside {what})")]
    Truncated { offset: u64, what: &'static str },
    #[error("corrupt tar header at offset {offset}: {reason}")]
    Corrupt { offset: u64, reason: String },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A block-by-block tar reader that knows its offset in the (decompressed) stream.
pub struct TarReader<R> {
    inner: R,
    offset: u64,
}

impl<R: Read> TarReader<R> {
    pub fn new(inner: R) -> Self {
        TarReader { inner, offset: 0 }
    }

    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    pub(crate) fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Reads one block; `Ok(false)` at a clean end of stream, an error on a partial block.
    pub(crate) fn read_block(
        &mut self,
        block: &mut [u8; BLOCK],
        what: &'static str,
    ) -> Result<bool, TarError> {
        let mut filled = 0;
        while filled < BLOCK {
            match self.inner.read(&mut block[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(TarError::Io(e)),
            }
        }
        if filled == 0 {
            return Ok(false);
        }
        if filled < BLOCK {
            if block[..filled].iter().all(|b| *b == 0) && what == "padding" {
                self.offset += filled as u64;
                return Ok(false);
            }
            return Err(TarError::Truncated {
                offset: self.offset + filled as u64,
                what,
            });
        }
        self.offset += BLOCK as u64;
        Ok(true)
    }

    /// Reads the headers of the next entry, leaving its data to `data` or `skip`.
    pub fn next_entry(&mut self) -> Result<Next, TarError> {
        let offset = self.offset;
        let mut raw = Vec::new();
        let mut ext = Extensions::default();
        let mut block = [0u8; BLOCK];
        loop {
            let header_offset = self.offset;
            if let Some(end) = self.header_block(&mut block, raw.is_empty())? {
                return Ok(end);
            }
            raw.extend_from_slice(&block);
            let header = tar::Header::from_byte_slice(&block).clone();
            let kind = block[156];
            let size = header.entry_size().map_err(|e| TarError::Corrupt {
                offset: header_offset,
                reason: e.to_string(),
            })?;
            if !matches!(kind, b'L' | b'K' | b'x' | b'g') {
                let (path, link, size) = ext.resolve(&header, size, header_offset)?;
                return Ok(Next::Entry(Box::new(RawEntry {
                    offset,
                    raw_headers: raw,
                    header,
                    path,
                    link,
                    kind,
                    size,
                })));
            }
            if size > MAX_EXTENSION {
                return Err(TarError::Corrupt {
                    offset: header_offset,
                    reason: format!("extension header of {size} bytes"),
                });
            }
            let start = raw.len();
            self.read_padded(size, &mut raw)?;
            let data = raw[start..start + size as usize].to_vec();
            match kind {
                b'L' => ext.long_name = Some(trim_nul(&data).to_vec()),
                b'K' => ext.long_link = Some(trim_nul(&data).to_vec()),
                b'x' => {
                    ext.pax = parse_pax(&data).map_err(|reason| TarError::Corrupt {
                        offset: header_offset,
                        reason,
                    })?
                }
                _ => {
                    // A PAX global header stands on its own; it is copied as is.
                    return Ok(Next::Entry(Box::new(RawEntry {
                        offset,
                        raw_headers: raw,
                        header,
                        path: Vec::new(),
                        link: Vec::new(),
                        kind,
                        size: 0,
                    })));
                }
            }
        }
    }

    /// Reads one header block, checked. `Some`: the stream ends here, at its end or at an
    /// end-of-archive block, which only an entry's first header may do (`first`).
    fn header_block(
        &mut self,
        block: &mut [u8; BLOCK],
        first: bool,
    ) -> Result<Option<Next>, TarError> {
        let header_offset = self.offset;
        if !self.read_block(block, "a header")? {
            if first {
                return Ok(Some(Next::Eof));
            }
            return Err(TarError::Truncated {
                offset: header_offset,
                what: "an extension header",
            });
        }
        if block.iter().all(|b| *b == 0) {
            if first {
                return Ok(Some(Next::EndMarker {
                    offset: header_offset,
                }));
            }
            return Err(TarError::Corrupt {
                offset: header_offset,
                reason: "extension header not followed by an entry".into(),
            });
        }
        if !checksum_ok(block) {
            return Err(TarError::Corrupt {
                offset: header_offset,
                reason: "header checksum mismatch".into(),
            });
        }
        Ok(None)
    }

    fn read_padded(&mut self, size: u64, out: &mut Vec<u8>) -> Result<(), TarError> {
        let mut block = [0u8; BLOCK];
        for _ in 0..size.div_ceil(BLOCK as u64) {
            if !self.read_block(&mut block, "extension data")? {
                return Err(TarError::Truncated {
                    offset: self.offset,
                    what: "extension data",
                });
            }
            out.extend_from_slice(&block);
        }
        Ok(())
    }

    /// Streams an entry's data (padding excluded) to `sink`, consuming the padding too.
    pub fn data(
        &mut self,
        entry: &RawEntry,
        mut sink: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<(), TarError> {
        let mut remaining = entry.size;
        let mut block = [0u8; BLOCK];
        while remaining > 0 {
            if !self.read_block(&mut block, "entry data")? {
                return Err(TarError::Truncated {
                    offset: self.offset,
                    what: "entry data",
                });
            }
            let take = remaining.min(BLOCK as u64) as usize;
            sink(&block[..take])?;
            remaining -= take as u64;
        }
        Ok(())
    }

    /// Copies an entry exactly as it stands in the stream: headers, data and padding.
    pub(crate) fn copy_raw(
        &mut self,
        entry: &RawEntry,
        out: &mut impl Write,
    ) -> Result<(), TarError> {
        out.write_all(&entry.raw_headers)?;
        let mut remaining = entry.size.div_ceil(BLOCK as u64);
        let mut block = [0u8; BLOCK];
        while remaining > 0 {
            if !self.read_block(&mut block, "entry data")? {
                return Err(TarError::Truncated {
                    offset: self.offset,
                    what: "entry data",
                });
            }
            out.write_all(&block)?;
            remaining -= 1;
        }
        Ok(())
    }

    /// After an end-of-archive block, checks that only zero padding follows. Returns the
    /// offset and, when it is a valid header, the name of whatever non-zero block is found.
    pub(crate) fn find_after_end(&mut self) -> Result<Option<Stray>, TarError> {
        let mut block = [0u8; BLOCK];
        loop {
            let offset = self.offset;
            if !self.read_block(&mut block, "padding")? {
                return Ok(None);
            }
            if block.iter().all(|b| *b == 0) {
                continue;
            }
            let name = checksum_ok(&block).then(|| {
                tar::Header::from_byte_slice(&block)
                    .path_bytes()
                    .into_owned()
            });
            return Ok(Some(Stray { offset, name }));
        }
    }
}

/// The extension headers read before an entry: GNU long names, PAX records.
#[derive(Default)]
struct Extensions {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Vec<PaxRecord>,
}

impl Extensions {
    /// The last PAX record of `key`.
    fn pax_value(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.pax
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// The entry's path, link target and size, as the extensions give them over its header
    /// (PAX first, then GNU long names, then the header's own fields).
    fn resolve(
        self,
        header: &tar::Header,
        size: u64,
        header_offset: u64,
    ) -> Result<(Vec<u8>, Vec<u8>, u64), TarError> {
        let path = self
            .pax_value(b"path")
            .or_else(|| self.long_name.clone())
            .unwrap_or_else(|| header.path_bytes().into_owned());
        let link = self
            .pax_value(b"linkpath")
            .or_else(|| self.long_link.clone())
            .unwrap_or_else(|| {
                header
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default()
            });
        let size = match self.pax_value(b"size") {
            Some(v) => std::str::from_utf8(&v)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| TarError::Corrupt {
                    offset: header_offset,
                    reason: "malformed PAX size".into(),
                })?,
            None => size,
        };
        Ok((path, link, size))
    }
}

fn trim_nul(data: &[u8]) -> &[u8] {
    let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    &data[..end]
}

/// Parses PAX extended header records: `"<len> <key>=<value>\n"` repeated.
pub(crate) fn parse_pax(mut data: &[u8]) -> Result<Vec<PaxRecord>, String> {
    let mut records = Vec::new();
    while !data.is_empty() && data[0] != 0 {
        let space = data
            .iter()
            .position(|b| *b == b' ')
            .ok_or("PAX record without length")?;
        let len: usize = std::str::from_utf8(&data[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("PAX record with a bad length")?;
        if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err("PAX record with a bad length".into());
        }
        let record = &data[space + 1..len - 1];
        let eq = record
            .iter()
            .position(|b| *b == b'=')
            .ok_or("PAX record without '='")?;
        records.push((record[..eq].to_vec(), record[eq + 1..].to_vec()));
        data = &data[len..];
    }
    Ok(records)
}

/// An entry to write into a bundle: a normalised header built from scratch.
pub(crate) struct NewEntry<'a> {
    pub path: &'a str,
    pub kind: tar::EntryType,
    pub mode: u32,
    pub size: u64,
    pub link: Option<&'a str>,
    pub mtime: u64,
}

/// Writes the header blocks of `entry` (a GNU long-name or long-link header first when a
/// name does not fit). The caller writes `entry.size` bytes of data, then [`write_padding`].
/// Owner 0:0 with no user or group names, so nothing of the build machine leaks in.
pub(crate) fn write_header(
    out: &mut (impl Write + ?Sized),
    entry: &NewEntry<'_>,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    let name = if entry.kind == tar::EntryType::Directory {
        format!("{}/", entry.path)
    } else {
        entry.path.to_string()
    };
    if name.len() > 100 {
        write_long(out, tar::EntryType::GNULongName, name.as_bytes())?;
    }
    if let Some(link) = entry.link.filter(|l| l.len() > 100) {
        write_long(out, tar::EntryType::GNULongLink, link.as_bytes())?;
    }
    set_truncated(&mut header.as_old_mut().name, name.as_bytes());
    if let Some(link) = entry.link {
        set_truncated(&mut header.as_old_mut().linkname, link.as_bytes());
    }
    header.set_entry_type(entry.kind);
    header.set_mode(entry.mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(entry.mtime);
    header.set_size(entry.size);
    header.set_cksum();
    out.write_all(header.as_bytes())
}

fn write_long(
    out: &mut (impl Write + ?Sized),
    kind: tar::EntryType,
    value: &[u8],
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    set_truncated(&mut header.as_old_mut().name, b"././@LongLink");
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    let len = value.len() as u64 + 1;
    header.set_size(len);
    header.set_cksum();
    out.write_all(header.as_bytes())?;
    out.write_all(value)?;
    out.write_all(&[0])?;
    write_padding(out, len)
}

fn set_truncated(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

/// Pads entry data of `size` bytes to a whole number of blocks.
pub(crate) fn write_padding(out: &mut (impl Write + ?Sized), size: u64) -> io::Result<()> {
    let rem = (size % BLOCK as u64) as usize;
    if rem != 0 {
        out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records() {
        let data = b"20 path=long/name/x\n11 size=42\n";
        let records = parse_pax(data).unwrap();
        assert_eq!(records[0], (b"path".to_vec(), b"long/name/x".to_vec()));
        assert_eq!(records[1], (b"size".to_vec(), b"42".to_vec()));
        assert!(parse_pax(b"99 path=x\n").is_err());
        assert!(parse_pax(b"nonsense").is_err());
    }

    #[test]
    fn detect_formats() {
        assert_eq!(detect(&[0x1f, 0x8b, 8, 0]), Ok(Compression::Gzip));
        assert_eq!(detect(&[0u8; BLOCK]), Ok(Compression::None));
        assert!(detect(b"PK\x03\x04rest").unwrap_err().contains("zip"));
        assert!(detect(b"").unwrap_err().contains("empty"));
        assert!(detect(&[b'x'; BLOCK]).is_err());
    }

    #[test]
    fn long_names_round_trip_through_reader() {
        let long = format!("{}/file.txt", "d".repeat(150));
        let mut out = Vec::new();
        let entry = NewEntry {
            path: &long,
            kind: tar::EntryType::Regular,
            mode: 0o644,
            size: 3,
            link: None,
            mtime: 7,
        };
        write_header(&mut out, &entry).unwrap();
        out.extend_from_slice(b"abc");
        write_padding(&mut out, 3).unwrap();
        let mut reader = TarReader::new(&out[..]);
        let Next::Entry(e) = reader.next_entry().unwrap() else {
            panic!("expected an entry")
        };
        assert_eq!(e.path, long.as_bytes());
        let mut data = Vec::new();
        reader
            .data(&e, |chunk| {
                data.extend_from_slice(chunk);
                Ok(())
            })
            .unwrap();
        assert_eq!(data, b"abc");
        assert!(matches!(reader.next_entry().unwrap(), Next::Eof));
    }
}
