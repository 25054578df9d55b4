//! Continuing a gzip stream without recompressing it, the technique of zlib's
//! `examples/gzappend.c`: a member's compressed bytes are kept up to the start of the deflate
//! block that holds a given uncompressed offset (the release's end-of-archive block); a new
//! deflate stream then continues the same member from the middle of the last kept byte
//! (`deflatePrime`), and the member's CRC-32 and length carry on. `gzip -d` (GNU tar `-z` on
//! the instance) reads the result as one stream; only the last block and what follows it are
//! compressed again.
//!
//! zlib's API (through `libz-rs-sys`, zlib-rs, pure Rust) is what exposes block boundaries:
//! `inflate` with `Z_BLOCK` stops at each one and reports in `data_type` how many bits of the
//! last byte it took belong to the next block.

use crate::cancel::{Cancel, CancelRead};
use libz_rs_sys as z;
use std::io::{self, Read, Write};
use std::os::raw::c_int;

/// Where a gzip stream can be continued, and what to compress again from there.
#[derive(Debug, Clone)]
pub struct Splice {
    /// Bytes of the file kept as they are: every earlier member, this member's header and its
    /// blocks before the boundary (the byte the boundary falls in excluded).
    pub keep: u64,
    /// Bits of the byte at `keep` that belong to the kept blocks (0 to 7), and their value.
    pub bits: u8,
    pub value: u8,
    /// CRC-32 and length of this member's uncompressed data before the boundary.
    pub crc: u32,
    pub len: u64,
    /// The uncompressed bytes from the boundary up to the cut: compressed again.
    pub tail: Vec<u8>,
}

/// A tail longer than this (a deflate block of many MiB, as some compressors write) is not
/// held in memory: the caller re-encodes instead.
pub const MAX_TAIL: usize = 32 << 20;

fn zerr(what: &str, code: c_int) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what} failed (zlib code {code})"),
    )
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
        let strm = &mut *self.0;
        strm.next_in = input.as_ptr();
        strm.avail_in = input.len().min(u32::MAX as usize) as u32;
        strm.next_out = output.as_mut_ptr();
        strm.avail_out = output.len().min(u32::MAX as usize) as u32;
        let (had_in, had_out) = (strm.avail_in, strm.avail_out);
        // SAFETY: next_in/avail_in and next_out/avail_out describe live slices.
        let ret = unsafe { z::inflate(strm, z::Z_BLOCK) };
        let consumed = (had_in - strm.avail_in) as usize;
        let produced = (had_out - strm.avail_out) as usize;
        strm.next_in = std::ptr::null();
        strm.next_out = std::ptr::null_mut();
        (ret, consumed, produced)
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
pub fn find(input: impl Read, cut: u64, cancel: &Cancel) -> io::Result<Option<Splice>> {
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
            let unused = (inflate.data_type() & 7) as u8;
            let consumed_total = in_start + in_off as u64;
            let (keep, bits, value) = if unused == 0 {
                (consumed_total, 0, 0)
            } else {
                let bits = 8 - unused;
                (
                    consumed_total - 1,
                    bits,
                    last_byte & ((1u16 << bits) - 1) as u8,
                )
            };
            best = Some(Splice {
                keep,
                bits,
                value,
                crc: member_crc,
                len: member_len,
                tail: Vec::new(),
            });
        }
        if ret == z::Z_BUF_ERROR && consumed == 0 && produced == 0 && in_off < in_len {
            return Err(zerr("inflate (no progress)", ret));
        }
    }
}

/// Continues a spliced gzip member: what is written is compressed (raw deflate, starting
/// with the kept bits) and counted into the member's CRC-32 and length; `finish` ends the
/// deflate stream and writes the gzip trailer.
pub struct Continue<W: Write> {
    strm: Box<z::z_stream>,
    /// Taken by `finish`.
    out: Option<W>,
    crc: u32,
    len: u64,
    buf: Vec<u8>,
}

impl<W: Write> Continue<W> {
    pub fn new(out: W, splice: &Splice, level: i32) -> io::Result<Self> {
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
        let mut this = Continue {
            strm,
            out: Some(out),
            crc: splice.crc,
            len: splice.len,
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
    pub fn finish(mut self) -> io::Result<W> {
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
