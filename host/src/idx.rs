//! The IDX file format (raw or gzip-compressed), as MNIST ships it.
//!
//! An IDX file is two zero bytes, an element-type byte, a rank byte, `rank`
//! big-endian `u32` dimensions, then the elements in row-major order. Only
//! unsigned bytes (type `0x08`) are accepted: the type every image and label
//! set in this format uses.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Largest element count a header may claim (1 GiB of bytes): checked before
/// anything is allocated.
pub const MAX_ELEMENTS: u64 = 1 << 30;

/// The largest rank accepted.
pub const MAX_RANK: usize = 4;

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    /// The dimensions from the header, outermost first (for images: count, rows, columns).
    pub dims: Vec<usize>,
    /// The elements, row-major.
    pub data: Vec<u8>,
}

/// Reads and validates an IDX file; gzip is recognized by its magic bytes.
///
/// Errors name the file and the problem: wrong magic, unsupported element
/// type, bad rank, a zero or oversized dimension, or a length that does not
/// match the header.
pub fn read(path: &Path) -> Result<Idx> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = std::io::BufReader::new(file);
    let mut magic = [0u8; 2];
    let got = read_up_to(&mut reader, &mut magic).with_context(|| format!("{}", path.display()))?;
    let head = &magic[..got];
    let result = if head == [0x1f, 0x8b] {
        let chained = std::io::Cursor::new(magic).chain(reader);
        decode(flate2::read::MultiGzDecoder::new(chained), None)
    } else {
        decode(std::io::Cursor::new(head.to_vec()).chain(reader), Some(len))
    };
    result.with_context(|| format!("{}", path.display()))
}

/// Decodes an IDX stream. `raw_len`, when known, is checked against the
/// header before allocating.
pub fn decode<R: Read>(mut r: R, raw_len: Option<u64>) -> Result<Idx> {
    let mut head = [0u8; 4];
    let got = read_up_to(&mut r, &mut head).context("reading the IDX header")?;
    if got < 4 {
        bail!("truncated IDX header: {got} of 4 bytes");
    }
    if head[0] != 0 || head[1] != 0 {
        bail!(
            "not an IDX file (magic {:02x} {:02x}, expected 00 00)",
            head[0],
            head[1]
        );
    }
    if head[2] != 0x08 {
        bail!(
            "unsupported IDX element type 0x{:02x} (only 0x08, unsigned byte)",
            head[2]
        );
    }
    let rank = head[3] as usize;
    if rank == 0 || rank > MAX_RANK {
        bail!("unsupported IDX rank {rank} (expected 1 to {MAX_RANK})");
    }
    let mut dim_bytes = [0u8; 4 * MAX_RANK];
    let got = read_up_to(&mut r, &mut dim_bytes[..4 * rank]).context("reading the IDX header")?;
    if got < 4 * rank {
        bail!(
            "truncated IDX header: {} of {} bytes",
            4 + got,
            4 + 4 * rank
        );
    }
    let mut dims = Vec::with_capacity(rank);
    let mut count: u64 = 1;
    for (i, c) in dim_bytes[..4 * rank].chunks_exact(4).enumerate() {
        let d = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        if d == 0 {
            bail!("IDX dimension {i} is zero");
        }
        count = count.saturating_mul(u64::from(d));
        dims.push(d as usize);
    }
    if count > MAX_ELEMENTS {
        bail!(
            "IDX header claims {count} elements (dims {dims:?}), more than the limit of {MAX_ELEMENTS}"
        );
    }
    let header_len = 4 + 4 * rank as u64;
    if let Some(len) = raw_len {
        let expected = header_len + count;
        if len != expected {
            let what = if len < expected {
                "truncated"
            } else {
                "trailing bytes"
            };
            bail!("{what}: header (dims {dims:?}) needs {expected} bytes, file has {len}");
        }
    }
    // Read at most one byte more than needed, growing as data arrives, so a
    // short compressed stream never causes a large allocation.
    let mut data = Vec::new();
    r.take(count + 1)
        .read_to_end(&mut data)
        .context("reading IDX data")?;
    let have = data.len() as u64;
    if have < count {
        bail!("truncated: header (dims {dims:?}) needs {count} data bytes, found {have}");
    }
    if have > count {
        bail!("trailing bytes after the {count} data bytes the header (dims {dims:?}) declares");
    }
    Ok(Idx { dims, data })
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Encodes `data` with `dims` as an uncompressed IDX file (for tests and tools).
pub fn encode(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(bytes: &[u8]) -> Result<Idx> {
        decode(bytes, Some(bytes.len() as u64))
    }

    #[test]
    fn round_trip() {
        let bytes = encode(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let idx = dec(&bytes).unwrap();
        assert_eq!(idx.dims, vec![2, 3]);
        assert_eq!(idx.data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn gzip_round_trip_and_truncation() {
        use std::io::Write;
        let bytes = encode(&[4, 2], &[9; 8]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        let gz = gz.finish().unwrap();
        let idx = decode(flate2::read::MultiGzDecoder::new(&gz[..]), None).unwrap();
        assert_eq!(idx.dims, vec![4, 2]);
        for cut in 0..gz.len() {
            let r = decode(flate2::read::MultiGzDecoder::new(&gz[..cut]), None);
            assert!(r.is_err(), "cut at {cut} accepted");
        }
    }

    #[test]
    fn rejects_bad_headers() {
        let good = encode(&[2, 2], &[0; 4]);
        let msg = |b: &[u8]| format!("{:#}", dec(b).unwrap_err());
        let mut m = good.clone();
        m[0] = 7;
        assert!(msg(&m).contains("not an IDX file"));
        let mut t = good.clone();
        t[2] = 0x0d;
        assert!(msg(&t).contains("element type"));
        let mut r = good.clone();
        r[3] = 9;
        assert!(msg(&r).contains("rank"));
        assert!(msg(&good[..good.len() - 1]).contains("truncated"));
        let mut long = good.clone();
        long.push(0);
        assert!(msg(&long).contains("trailing"));
        assert!(msg(&encode(&[0, 2], &[])).contains("zero"));
        for cut in 0..good.len() {
            assert!(dec(&good[..cut]).is_err());
        }
    }

    #[test]
    fn refuses_huge_claims_before_allocating() {
        let huge = encode(&[u32::MAX, u32::MAX, u32::MAX], &[1, 2, 3]);
        let e = format!("{:#}", decode(&huge[..], None).unwrap_err());
        assert!(e.contains("limit"), "{e}");
        // A plausible claim with a short stream is refused by length.
        let claim = encode(&[60_000, 28, 28], &[1; 10]);
        let e = format!("{:#}", decode(&claim[..], None).unwrap_err());
        assert!(e.contains("truncated"), "{e}");
    }
}
