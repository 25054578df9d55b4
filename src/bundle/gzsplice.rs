//! Continuing a gzip stream without recompressing it, the technique of zlib's
//! `examples/gzappend.c`: a member's compressed bytes are kept up to the start of the deflate
//! block that holds a given uncompressed offset (the release's end-of-archive block); a new
//! deflate stream then continues the same member from the middle of the last kept byte
//! (`deflatePrime`), and the member's CRC-32 and length carry on. `gzip -d` (GNU tar `-z` on
//! the instance) reads the result as one stream; only the last block and what follows it are
//! compressed again.
//!
//! A release of several gzip members becomes one member (agent 2.x's fallback extraction reads
//! only the first): the members before the continued one are joined to it without being
//! compressed again, the technique of zlib's `examples/gzjoin.c`. Each keeps its deflate data,
//! its last block loses its final bit, an empty stored block brings it to a byte boundary, and
//! its trailer and the next member's header are left out; the CRC-32 and length carry on
//! across them ([`Joined`]).
//!
//! zlib's API (through `libz-rs-sys`, zlib-rs, pure Rust) is what exposes block boundaries:
//! `inflate` with `Z_BLOCK` stops at each one and reports in `data_type` how many bits of the
//! last byte it took belong to the next block.

use crate::base::cancel::{Cancel, CancelRead};
use libz_rs_sys as z;
use std::io::{self, Read, Write};
use std::os::raw::c_int;

/// Where a gzip stream can be continued, and what to compress again from there.
#[derive(Debug, Clone)]
pub(crate) struct Splice {
    /// Bytes of the file kept as they are: every earlier member, this member's header and its
    /// blocks before the boundary (the byte the boundary falls in excluded).
    pub keep: u64,
    /// Bits of the byte at `keep` that belong to the kept blocks (0 to 7), and their value.
    pub bits: u8,
    pub value: u8,
    /// CRC-32 and length of this member's uncompressed data before the boundary.
    pub crc: u32,
    pub len: u64,
    /// Which gzip member the boundary is in (0: the first), and where that member's deflate
    /// data starts.
    pub member: usize,
    pub data: u64,
    /// The members before it, as they are joined to it; complete (`member` of them) when the
    /// scan found the boundary, empty when [`find`] did (the bundle is then re-encoded).
    pub joined: Vec<Joined>,
    /// The uncompressed bytes from the boundary up to the cut: compressed again.
    pub tail: Vec<u8>,
}

/// A gzip member before the continued one, as the bundle joins it to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Joined {
    /// Where its deflate data starts (after its gzip header).
    pub data: u64,
    /// The byte, and the bit in it (0: the lowest), of its last block's final bit.
    pub last_block: (u64, u8),
    /// Where its deflate data ends: the bytes before `end`, and `end_bits` bits (0 to 7) of the
    /// byte at `end`.
    pub end: u64,
    pub end_bits: u8,
    /// CRC-32 and length of its uncompressed data.
    pub crc: u32,
    pub len: u64,
}

impl Splice {
    /// Whether the bundle can be written from this boundary as one gzip member: the continued
    /// member is the first, or every member before it can be joined to it.
    pub(crate) fn joinable(&self) -> bool {
        self.joined.len() == self.member
    }

    /// How many leading bytes the bundle shares with the release: up to the boundary, or, when
    /// members are joined, up to the first byte the join changes (the first member's final
    /// bit).
    pub(crate) fn release_prefix(&self) -> u64 {
        self.joined.first().map_or(self.keep, |j| j.last_block.0)
    }

    /// CRC-32 and length of all the uncompressed data before the boundary: the joined
    /// members', then this member's.
    pub(crate) fn before(&self) -> (u32, u64) {
        let mut crc = 0u32;
        let mut len = 0u64;
        for (c, l) in self
            .joined
            .iter()
            .map(|j| (j.crc, j.len))
            .chain([(self.crc, self.len)])
        {
            crc = crc32_combine(crc, c, l);
            len += l;
        }
        (crc, len)
    }

    /// The boundary reached after `consumed` input bytes, the last of them (`last_byte`)
    /// holding `unused` bits of no block yet: those before them are kept, as `bits` of
    /// `value`, for the new deflate data to start from.
    fn at(
        consumed: u64,
        unused: u8,
        last_byte: u8,
        crc: u32,
        len: u64,
        member: usize,
        data: u64,
    ) -> Splice {
        let (keep, bits, value) = if unused == 0 {
            (consumed, 0, 0)
        } else {
            let bits = 8 - unused;
            (consumed - 1, bits, last_byte & ((1u16 << bits) - 1) as u8)
        };
        Splice {
            keep,
            bits,
            value,
            crc,
            len,
            member,
            data,
            joined: Vec::new(),
            tail: Vec::new(),
        }
    }
}

/// A tail longer than this (a deflate block of many MiB, as some compressors write) is not
/// held in memory: the caller re-encodes instead.
pub(crate) const MAX_TAIL: usize = 32 << 20;

fn zerr(what: &str, code: c_int) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what} failed (zlib code {code})"),
    )
}

/// The CRC-32 of `a` then `b`, from the CRC-32 of each and the length of `b`.
fn crc32_combine(a: u32, b: u32, b_len: u64) -> u32 {
    // zlib-rs takes the length as a 64-bit offset, so no length is too long for it.
    z::crc32_combine(a.into(), b.into(), b_len as z::z_off_t) as u32
}

fn crc32(crc: u32, data: &[u8]) -> u32 {
    let mut crc = crc;
    for chunk in data.chunks(u32::MAX as usize) {
        // SAFETY: the pointer and length describe `chunk`, which outlives the call.
        crc = unsafe { z::crc32(crc.into(), chunk.as_ptr(), chunk.len() as u32) } as u32;
    }
    crc
}

/// An initialised inflate stream; boxed, since zlib's state points back at it.
struct Inflate(Box<z::z_stream>);

impl Inflate {
    /// gzip decoding (window bits 15 + 16).
    fn gzip() -> io::Result<Self> {
        let mut strm = Box::<z::z_stream>::default();
        // SAFETY: `strm` is a default (zeroed, allocator set) stream that stays boxed.
        let ret = unsafe {
            z::inflateInit2_(
                &mut *strm,
                15 + 16,
                z::zlibVersion(),
                std::mem::size_of::<z::z_stream>() as c_int,
            )
        };
        if ret != z::Z_OK {
            return Err(zerr("inflateInit2", ret));
        }
        Ok(Inflate(strm))
    }

    fn reset(&mut self) -> io::Result<()> {
        // SAFETY: initialised by `gzip`.
        let ret = unsafe { z::inflateReset(&mut *self.0) };
        if ret != z::Z_OK {
            return Err(zerr("inflateReset", ret));
        }
        Ok(())
    }

    /// One `inflate(Z_BLOCK)` call: (return code, input consumed, output produced).
    fn block(&mut self, input: &[u8], output: &mut [u8]) -> (c_int, usize, usize) {
        // SAFETY: `output` is a live, writable slice of that length.
        unsafe { self.block_raw(input, output.as_mut_ptr(), output.len()) }
    }

    /// [`Inflate::block`] into `room` bytes at `output`.
    ///
    /// # Safety
    /// `output` must be valid for writes of `room` bytes (they may be uninitialised).
    unsafe fn block_raw(
        &mut self,
        input: &[u8],
        output: *mut u8,
        room: usize,
    ) -> (c_int, usize, usize) {
        let strm = &mut *self.0;
        strm.next_in = input.as_ptr();
        strm.avail_in = input.len().min(u32::MAX as usize) as u32;
        strm.next_out = output;
        strm.avail_out = room.min(u32::MAX as usize) as u32;
        let (had_in, had_out) = (strm.avail_in, strm.avail_out);
        // SAFETY: next_in/avail_in describe a live slice, next_out/avail_out writable memory.
        let ret = unsafe { z::inflate(strm, z::Z_BLOCK) };
        let consumed = (had_in - strm.avail_in) as usize;
        let produced = (had_out - strm.avail_out) as usize;
        strm.next_in = std::ptr::null();
        strm.next_out = std::ptr::null_mut();
        (ret, consumed, produced)
    }

    /// What a failed `inflate` says, with zlib's own reason ("incorrect data check", ...).
    fn error(&self, code: c_int, member: usize) -> io::Error {
        let reason = if self.0.msg.is_null() {
            format!("zlib code {code}")
        } else {
            // SAFETY: zlib sets `msg` to a static, NUL-terminated string.
            unsafe { std::ffi::CStr::from_ptr(self.0.msg) }
                .to_string_lossy()
                .into_owned()
        };
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("gzip member {member}: {reason}"),
        )
    }

    fn data_type(&self) -> c_int {
        self.0.data_type
    }
}

impl Drop for Inflate {
    fn drop(&mut self) {
        // SAFETY: initialised by `gzip`.
        unsafe { z::inflateEnd(&mut *self.0) };
    }
}

/// Finds the last deflate block boundary at or before the uncompressed offset `cut` of the
/// gzip stream `input`. `None` when the tail to compress again would exceed [`MAX_TAIL`].
pub(crate) fn find(input: impl Read, cut: u64, cancel: &Cancel) -> io::Result<Option<Splice>> {
    let mut input = CancelRead::new(input, cancel);
    let mut inflate = Inflate::gzip()?;
    let mut inbuf = vec![0u8; 256 << 10];
    let mut outbuf = vec![0u8; 256 << 10];
    let (mut in_start, mut in_len, mut in_off) = (0u64, 0usize, 0usize);
    let mut last_byte = 0u8;
    let mut out_pos = 0u64;
    let (mut member_crc, mut member_len) = (0u32, 0u64);
    let mut best: Option<Splice> = None;
    let mut member_done = false;
    let mut member = 0;
    let mut member_data = None;
    loop {
        if in_off == in_len {
            in_start += in_len as u64;
            in_len = input.read(&mut inbuf)?;
            in_off = 0;
            if in_len == 0 {
                return match best {
                    Some(found) if out_pos >= cut => Ok(Some(found)),
                    _ => Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the gzip stream ends before the end of the tar data",
                    )),
                };
            }
        }
        if member_done {
            // The next member (or zero padding after the last one).
            if inbuf[in_off] != 0x1f {
                return best.filter(|_| out_pos >= cut).map(Some).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "no gzip member holds the cut")
                });
            }
            inflate.reset()?;
            (member_crc, member_len, member_done) = (0, 0, false);
            member_data = None;
        }
        let (ret, consumed, produced) = inflate.block(&inbuf[in_off..in_len], &mut outbuf);
        if consumed > 0 {
            last_byte = inbuf[in_off + consumed - 1];
        }
        in_off += consumed;
        let data = &outbuf[..produced];
        if let Some(found) = best.as_mut() {
            let room = cut.saturating_sub(out_pos).min(produced as u64) as usize;
            found.tail.extend_from_slice(&data[..room]);
            if found.tail.len() > MAX_TAIL {
                return Ok(None);
            }
        }
        member_crc = crc32(member_crc, data);
        member_len += produced as u64;
        out_pos += produced as u64;
        match ret {
            z::Z_OK | z::Z_BUF_ERROR => {}
            z::Z_STREAM_END => {
                member_done = true;
                member += 1;
                continue;
            }
            code => return Err(zerr("inflate", code)),
        }
        if out_pos > cut && best.is_some() {
            return Ok(best);
        }
        // At a block boundary (after the header, or after an end-of-block code) that is not
        // after the member's final block (bit 64: nothing may follow a block marked final):
        // the stream can be continued from here.
        if inflate.data_type() & 128 != 0 && inflate.data_type() & 64 == 0 && out_pos <= cut {
            let consumed = in_start + in_off as u64;
            let unused = (inflate.data_type() & 7) as u8;
            // The member's first boundary is its header's end.
            let data = *member_data.get_or_insert(consumed);
            best = Some(Splice::at(
                consumed, unused, last_byte, member_crc, member_len, member, data,
            ));
        }
        if ret == z::Z_BUF_ERROR && consumed == 0 && produced == 0 && in_off < in_len {
            return Err(zerr("inflate (no progress)", ret));
        }
    }
}

/// A deflate block boundary seen while reading: where the stream could be continued.
#[derive(Debug, Clone, Copy)]
struct Boundary {
    /// Offset in the uncompressed output (all members) where the next block starts.
    at: u64,
    keep: u64,
    bits: u8,
    value: u8,
    crc: u32,
    len: u64,
    member: usize,
    /// Where that member's deflate data starts.
    data: u64,
}

/// Inflates every member of a multi-member gzip stream, as `gzip -d` does (zero padding after
/// the last member tolerated, anything else refused), and remembers on the way the deflate
/// block boundaries near what has been read, with the output since the oldest of them: once
/// the reader's consumer knows where the tar data ends, [`Members::splice_at`] gives the
/// [`Splice`] there without a second pass over the file.
pub(crate) struct Members<R> {
    input: R,
    inbuf: Box<[u8]>,
    in_start: u64,
    in_off: usize,
    in_len: usize,
    in_eof: bool,
    last_byte: u8,
    inflate: Inflate,
    /// Inside a member (false before the first and after each one).
    in_member: bool,
    members: usize,
    member_crc: u32,
    member_len: u64,
    /// The current member's deflate start (its first boundary), its latest block start (its
    /// last block's, once that is read) and where its last block ends.
    member_data: Option<u64>,
    member_last_block: (u64, u8),
    member_end: Option<(u64, u8)>,
    /// The members read to their end, as a join needs them: always the first ones, one per
    /// member, up to the first that could not be seen whole (none should be).
    joined: Vec<Joined>,
    /// Uncompressed output, from offset `base`; `pos` is the next byte to hand out.
    out: Vec<u8>,
    base: u64,
    pos: usize,
    boundaries: std::collections::VecDeque<Boundary>,
}

/// Output inflated per call.
const CHUNK: usize = 256 << 10;
/// How far before the reader's position the end of the tar data may lie when its consumer
/// finds it: the consumer reads 512-byte blocks and stops one block after the end.
const CUT_MARGIN: u64 = 2048;

impl<R: Read> Members<R> {
    pub(crate) fn new(input: R) -> io::Result<Self> {
        Ok(Members {
            input,
            inbuf: vec![0u8; 256 << 10].into_boxed_slice(),
            in_start: 0,
            in_off: 0,
            in_len: 0,
            in_eof: false,
            last_byte: 0,
            inflate: Inflate::gzip()?,
            in_member: false,
            members: 0,
            member_crc: 0,
            member_len: 0,
            member_data: None,
            member_last_block: (0, 0),
            member_end: None,
            joined: Vec::new(),
            out: Vec::with_capacity(CHUNK),
            base: 0,
            pos: 0,
            boundaries: Default::default(),
        })
    }

    /// The splice for a cut at uncompressed offset `cut`, which must lie at most a few blocks
    /// before what was read (the end of the tar data, found by the reader's consumer, before
    /// it reads on). `None` when no boundary before the cut is held: the block that holds it
    /// is longer than [`MAX_TAIL`], or the cut is not where this reader has been.
    pub(crate) fn splice_at(&self, cut: u64) -> Option<Splice> {
        let end = self.base + self.out.len() as u64;
        if cut > end {
            return None;
        }
        let found = self.boundaries.iter().rev().find(|b| b.at <= cut)?;
        let from = usize::try_from(found.at.checked_sub(self.base)?).ok()?;
        let to = (cut - self.base) as usize;
        (to - from <= MAX_TAIL).then(|| Splice {
            keep: found.keep,
            bits: found.bits,
            value: found.value,
            crc: found.crc,
            len: found.len,
            member: found.member,
            data: found.data,
            joined: self.joined[..found.member.min(self.joined.len())].to_vec(),
            tail: self.out[from..to].to_vec(),
        })
    }

    /// Drops boundaries no cut can need any more and the output before the oldest one kept.
    fn forget(&mut self) {
        let read = self.base + self.pos as u64;
        let lowest_cut = (read / 512 * 512).saturating_sub(CUT_MARGIN);
        while self.boundaries.len() > 1 && self.boundaries[1].at <= lowest_cut {
            self.boundaries.pop_front();
        }
        let produced = self.base + self.out.len() as u64;
        // A block too long to compress again: its boundary is of no use.
        while self
            .boundaries
            .front()
            .is_some_and(|b| produced - b.at > MAX_TAIL as u64 + CHUNK as u64)
        {
            self.boundaries.pop_front();
        }
        let keep_from = self.boundaries.front().map_or(read, |b| b.at.min(read));
        let dead = (keep_from - self.base) as usize;
        // Moved only when that costs no more than what was handed out since: linear overall.
        if dead >= (1 << 20) && dead >= self.out.len() - dead {
            self.out.drain(..dead);
            self.base += dead as u64;
            self.pos -= dead;
        }
    }

    /// Fills `inbuf` when it is used up; false at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.in_off < self.in_len {
            return Ok(true);
        }
        if self.in_eof {
            return Ok(false);
        }
        self.in_start += self.in_len as u64;
        self.in_off = 0;
        self.in_len = loop {
            match self.input.read(&mut self.inbuf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        self.in_eof = self.in_len == 0;
        Ok(!self.in_eof)
    }

    /// Between members: starts the next one. False at the end of the data.
    fn next_member(&mut self) -> io::Result<bool> {
        if !self.fill()? {
            return Ok(false);
        }
        if self.inbuf[self.in_off] == 0x1f {
            self.inflate.reset()?;
            (self.in_member, self.member_crc, self.member_len) = (true, 0, 0);
            (self.member_data, self.member_end) = (None, None);
            return Ok(true);
        }
        // gzip -d tolerates zero padding after the last member.
        while self.members > 0 && self.inbuf[self.in_off..self.in_len].iter().all(|b| *b == 0) {
            self.in_off = self.in_len;
            if !self.fill()? {
                return Ok(false);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "trailing garbage after gzip member {}; gzip -d on the instance fails on it",
                self.members
            ),
        ))
    }

    /// Inflates more output; false at the end of the data.
    fn refill(&mut self) -> io::Result<bool> {
        self.forget();
        loop {
            if !self.in_member && !self.next_member()? {
                return Ok(false);
            }
            if !self.fill()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the data ends inside gzip member {} (truncated file?)",
                        self.members + 1
                    ),
                ));
            }
            self.out.reserve(CHUNK);
            let len = self.out.len();
            let room = self.out.capacity() - len;
            let input = &self.inbuf[self.in_off..self.in_len];
            // SAFETY: the pointer and `room` describe the vector's spare capacity, which
            // inflate only writes; `set_len` below covers exactly the bytes it produced.
            let (ret, consumed, produced) = unsafe {
                self.inflate
                    .block_raw(input, self.out.as_mut_ptr().add(len), room)
            };
            // SAFETY: inflate initialised these `produced` bytes.
            unsafe { self.out.set_len(len + produced) };
            if consumed > 0 {
                self.last_byte = input[consumed - 1];
            }
            self.in_off += consumed;
            self.member_crc = crc32(self.member_crc, &self.out[len..]);
            self.member_len += produced as u64;
            match ret {
                z::Z_OK | z::Z_BUF_ERROR => {}
                z::Z_STREAM_END => {
                    self.in_member = false;
                    self.member_ended();
                    self.members += 1;
                }
                code => return Err(self.inflate.error(code, self.members + 1)),
            }
            self.note_boundary();
            if produced > 0 {
                return Ok(true);
            }
            if ret == z::Z_BUF_ERROR && consumed == 0 && self.in_off < self.in_len {
                return Err(zerr("inflate (no progress)", ret));
            }
        }
    }
}

impl<R: Read> Members<R> {
    /// At the end of a member: what joining it needs, when it was all seen (its deflate start
    /// and its final block's end) and every member before it was too.
    fn member_ended(&mut self) {
        if let (Some(data), Some((end, end_bits))) = (self.member_data, self.member_end) {
            if self.joined.len() == self.members {
                self.joined.push(Joined {
                    data,
                    last_block: self.member_last_block,
                    end,
                    end_bits,
                    crc: self.member_crc,
                    len: self.member_len,
                });
            }
        }
    }

    /// After an `inflate(Z_BLOCK)` inside a member: remembers a block boundary (where a block
    /// starts: the stream can be continued there, and the last one before the member's final
    /// block is that block's start) or the end of the member's final block.
    fn note_boundary(&mut self) {
        let data_type = self.inflate.data_type();
        if !self.in_member || data_type & 128 == 0 {
            return;
        }
        let unused = (data_type & 7) as u8;
        let consumed_total = self.in_start + self.in_off as u64;
        let (keep, bits) = if unused == 0 {
            (consumed_total, 0)
        } else {
            (consumed_total - 1, 8 - unused)
        };
        if data_type & 64 != 0 {
            // The end of the final block: nothing may follow it in this member.
            self.member_end = Some((keep, bits));
            return;
        }
        let value = self.last_byte & ((1u16 << bits) - 1) as u8;
        let data = *self.member_data.get_or_insert(keep);
        self.member_last_block = (keep, bits);
        self.boundaries.push_back(Boundary {
            at: self.base + self.out.len() as u64,
            keep,
            bits,
            value,
            crc: self.member_crc,
            len: self.member_len,
            member: self.members,
            data,
        });
    }
}

impl<R: Read> Read for Members<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos == self.out.len() && !self.refill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Continues a spliced gzip member: what is written is compressed (raw deflate, starting
/// with the kept bits) and counted into the member's CRC-32 and length; `finish` ends the
/// deflate stream and writes the gzip trailer.
pub(crate) struct Continue<W: Write> {
    strm: Box<z::z_stream>,
    /// Taken by `finish`.
    out: Option<W>,
    crc: u32,
    len: u64,
    buf: Vec<u8>,
}

impl<W: Write> Continue<W> {
    pub(crate) fn new(out: W, splice: &Splice, level: i32) -> io::Result<Self> {
        let mut strm = Box::<z::z_stream>::default();
        // SAFETY: a default stream, boxed for the rest of its life.
        let ret = unsafe {
            z::deflateInit2_(
                &mut *strm,
                level,
                z::Z_DEFLATED,
                -15,
                8,
                z::Z_DEFAULT_STRATEGY,
                z::zlibVersion(),
                std::mem::size_of::<z::z_stream>() as c_int,
            )
        };
        if ret != z::Z_OK {
            return Err(zerr("deflateInit2", ret));
        }
        let (crc, len) = splice.before();
        let mut this = Continue {
            strm,
            out: Some(out),
            crc,
            len,
            buf: vec![0u8; 128 << 10],
        };
        if splice.bits > 0 {
            // SAFETY: initialised above.
            let ret = unsafe {
                z::deflatePrime(&mut *this.strm, splice.bits.into(), splice.value.into())
            };
            if ret != z::Z_OK {
                return Err(zerr("deflatePrime", ret));
            }
        }
        Ok(this)
    }

    fn run(&mut self, input: &[u8], flush: c_int) -> io::Result<c_int> {
        let strm = &mut *self.strm;
        strm.next_in = input.as_ptr();
        strm.avail_in = input.len() as u32;
        loop {
            strm.next_out = self.buf.as_mut_ptr();
            strm.avail_out = self.buf.len() as u32;
            // SAFETY: next_in/avail_in and next_out/avail_out describe live slices.
            let ret = unsafe { z::deflate(strm, flush) };
            let produced = self.buf.len() - strm.avail_out as usize;
            self.out
                .as_mut()
                .expect("written before finish")
                .write_all(&self.buf[..produced])?;
            match ret {
                z::Z_OK | z::Z_BUF_ERROR if strm.avail_in == 0 && strm.avail_out != 0 => {
                    strm.next_in = std::ptr::null();
                    return Ok(ret);
                }
                z::Z_OK | z::Z_BUF_ERROR => {}
                z::Z_STREAM_END => {
                    strm.next_in = std::ptr::null();
                    return Ok(ret);
                }
                code => return Err(zerr("deflate", code)),
            }
        }
    }

    /// Ends the deflate stream and writes the member's trailer (CRC-32, length mod 2^32).
    pub(crate) fn finish(mut self) -> io::Result<W> {
        while self.run(&[], z::Z_FINISH)? != z::Z_STREAM_END {}
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.to_le_bytes());
        trailer[4..].copy_from_slice(&(self.len as u32).to_le_bytes());
        let mut out = self.out.take().expect("finished once");
        out.write_all(&trailer)?;
        Ok(out)
    }
}

impl<W: Write> Write for Continue<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let data = &data[..data.len().min(1 << 30)];
        self.crc = crc32(self.crc, data);
        self.len += data.len() as u64;
        self.run(data, z::Z_NO_FLUSH)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }
}

impl<W: Write> Drop for Continue<W> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`.
        unsafe { z::deflateEnd(&mut *self.strm) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn gzip_members_are_all_read_and_garbage_is_refused() {
        use flate2::{write::GzEncoder, Compression as Level};
        let member = |text: &[u8]| {
            let mut enc = GzEncoder::new(Vec::new(), Level::default());
            enc.write_all(text).unwrap();
            enc.finish().unwrap()
        };
        let mut both = member(b"one ");
        both.extend(member(b"two"));
        let mut text = String::new();
        Members::new(&both[..])
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "one two");

        let mut padded = both.clone();
        padded.extend([0u8; 100]);
        let mut text = String::new();
        Members::new(&padded[..])
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "one two");

        let mut garbage = both;
        garbage.extend(b"junk");
        let err = Members::new(&garbage[..])
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("trailing garbage"), "{err}");
    }

    /// Text and incompressible bytes, so that the compressor writes both kinds of block.
    fn mixed(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed;
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if (state >> 33) % 3 == 0 {
                for _ in 0..4096 {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    out.push((state >> 56) as u8);
                }
            } else {
                out.extend(format!("line {} of some text, {}\n", state >> 40, state % 977).bytes());
            }
        }
        out.truncate(len);
        out
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn the_splice_found_while_reading_is_the_one_a_second_pass_finds() {
        let first = mixed(1 << 20, 1);
        let second = mixed(3 << 20, 2);
        let mut file = gzip(&first);
        file.extend(gzip(&second));
        let total = (first.len() + second.len()) as u64;
        for cut in [
            total - 512,
            total - 300 * 1024,
            (4 << 20) - 2 * 1024 * 1024,
            first.len() as u64 + 512,
            first.len() as u64 - 1024,
            4096,
        ] {
            // As the tar reader does: 512-byte blocks, one block past the cut.
            let mut members = Members::new(&file[..]).unwrap();
            let mut block = [0u8; 512];
            let mut read = 0u64;
            while read < cut + 512 {
                members.read_exact(&mut block).unwrap();
                read += 512;
            }
            let during = members.splice_at(cut).expect("a boundary before the cut");
            let after = find(&file[..], cut, &Cancel::default()).unwrap().unwrap();
            assert_eq!(
                (
                    during.keep,
                    during.bits,
                    during.value,
                    during.crc,
                    during.len
                ),
                (after.keep, after.bits, after.value, after.crc, after.len),
                "cut {cut}"
            );
            assert_eq!(during.tail, after.tail, "cut {cut}");
        }
    }

    #[test]
    fn a_member_with_a_bad_check_is_refused_with_zlibs_reason() {
        let mut file = gzip(&mixed(100_000, 3));
        let n = file.len();
        file[n - 8] ^= 0xff;
        let err = Members::new(&file[..])
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("gzip member 1: incorrect data check"),
            "{err}"
        );
        let err = Members::new(&file[..n - 20])
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(
            err.to_string().contains("ends inside gzip member 1"),
            "{err}"
        );
    }
}
