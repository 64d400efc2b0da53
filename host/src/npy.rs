//! NumPy `.npy` files: reading and atomic writing of little-endian, C-order
//! arrays of `i8`, `u8`, `i32`, `i64`, `f32` and `f64`.
//!
//! Reading checks the header against the file before anything is allocated
//! from it: the header must fit in the file, and the shape's element count
//! times the item size must equal the bytes that follow the header exactly.
//! Memory therefore stays bounded by the file's length.

use anyhow::{Context, Result, bail};
use npyz::{DType, NpyFile, Order, TypeChar, WriteOptions, WriterBuilder};
use std::path::Path;

/// Magic bytes at the start of every `.npy` file.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The elements of an array, in C order.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// `<i1` / `|i1`.
    I8(Vec<i8>),
    /// `<u1` / `|u1`.
    U8(Vec<u8>),
    /// `<i4`.
    I32(Vec<i32>),
    /// `<i8`.
    I64(Vec<i64>),
    /// `<f4`.
    F32(Vec<f32>),
    /// `<f8`.
    F64(Vec<f64>),
}

impl NpyData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            NpyData::I8(v) => v.len(),
            NpyData::U8(v) => v.len(),
            NpyData::I32(v) => v.len(),
            NpyData::I64(v) => v.len(),
            NpyData::F32(v) => v.len(),
            NpyData::F64(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// NumPy's name of the element type (`"int8"`, `"float32"`, ...).
    pub fn dtype_name(&self) -> &'static str {
        match self {
            NpyData::I8(_) => "int8",
            NpyData::U8(_) => "uint8",
            NpyData::I32(_) => "int32",
            NpyData::I64(_) => "int64",
            NpyData::F32(_) => "float32",
            NpyData::F64(_) => "float64",
        }
    }
}

/// An array read from a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Dimensions, outermost first (empty for a scalar).
    pub shape: Vec<usize>,
    /// Elements in C order; `data.len()` is the product of `shape`.
    pub data: NpyData,
}

/// Reads a `.npy` file (format version 1, 2 or 3).
///
/// Errors name the file: unreadable, wrong magic, header longer than the
/// file, Fortran order, big-endian or unsupported dtype, data size that does
/// not match the shape.
pub fn read_npy(path: impl AsRef<Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    decode_npy(&bytes).with_context(|| format!("{}: not a usable .npy file", path.display()))
}

/// Deepest bracket nesting in a header: a plain array's is 2 (the dict and
/// its shape tuple). Deeper ones (structured dtypes) are refused before
/// npyz's literal parser, whose time grows steeply with the nesting.
fn nesting(header: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for &b in header {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Whether the `'shape': (...)` tuple of a header has dimensions whose
/// product (zeros left out, as in the strides) exceeds `u64`. npyz multiplies them without a check before it
/// returns the header (a panic in builds with overflow checks), so such
/// headers are refused first. Anything this scan does not recognise is left
/// to npyz, which parses and validates the header.
fn shape_overflows(header: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(header) else {
        return false;
    };
    let Some(tuple) = text
        .split_once("'shape'")
        .and_then(|(_, rest)| rest.split_once('('))
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(inside, _)| inside)
    else {
        return false;
    };
    let mut product = 1u64;
    for dim in tuple.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let Ok(d) = dim.parse::<u64>() else {
            return false;
        };
        match product.checked_mul(d.max(1)) {
            Some(p) => product = p,
            None => return true,
        }
    }
    false
}

/// Decodes the bytes of a `.npy` file; see [`read_npy`].
pub fn decode_npy(bytes: &[u8]) -> Result<NpyArray> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        bail!("does not start with the .npy magic \\x93NUMPY");
    }
    let major = bytes[6];
    let (header_len, prefix) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as u64, 10u64),
        2 | 3 => {
            if bytes.len() < 12 {
                bail!(
                    "truncated: {} bytes, the version {major} prefix needs 12",
                    bytes.len()
                );
            }
            let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (n as u64, 12u64)
        }
        v => bail!("format version {v} is not supported (1, 2 or 3)"),
    };
    let data_start = prefix + header_len;
    if data_start > bytes.len() as u64 {
        bail!(
            "truncated: the header ends at byte {data_start} but the file has {} bytes",
            bytes.len()
        );
    }
    let header = &bytes[prefix as usize..data_start as usize];
    if nesting(header) > 2 {
        bail!(
            "the header nests deeper than a plain array's dict and shape (structured dtypes are not supported)"
        );
    }
    if shape_overflows(header) {
        bail!("the header's shape has more than 2^64 elements");
    }
    let file = NpyFile::new(bytes).map_err(|e| anyhow::anyhow!("bad header: {e}"))?;
    if file.order() == Order::Fortran {
        bail!("Fortran order is not supported (save C-order arrays)");
    }
    let DType::Plain(ts) = file.dtype() else {
        bail!("structured or array dtypes are not supported");
    };
    let size = ts.size_field();
    let little = ts.endianness() != npyz::Endianness::Big || size == 1;
    if !little {
        bail!("dtype `{ts}` is big-endian; only little-endian is supported");
    }
    let shape: Vec<usize> = file
        .shape()
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .context("a dimension does not fit in usize")?;
    let elems = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .with_context(|| format!("shape {shape:?} has too many elements"))?;
    let have = bytes.len() as u64 - data_start;
    let need = elems.checked_mul(size);
    if need != Some(have) {
        bail!(
            "shape {shape:?} of dtype `{ts}` needs {} data bytes but the file holds {have}",
            need.map_or("more than 2^64".to_string(), |n| n.to_string())
        );
    }
    let data = match (ts.type_char(), size) {
        (TypeChar::Int, 1) => NpyData::I8(file.into_vec()?),
        (TypeChar::Uint, 1) => NpyData::U8(file.into_vec()?),
        (TypeChar::Int, 4) => NpyData::I32(file.into_vec()?),
        (TypeChar::Int, 8) => NpyData::I64(file.into_vec()?),
        (TypeChar::Float, 4) => NpyData::F32(file.into_vec()?),
        (TypeChar::Float, 8) => NpyData::F64(file.into_vec()?),
        _ => bail!("dtype `{ts}` is not supported (int8, uint8, int32, int64, float32, float64)"),
    };
    Ok(NpyArray { shape, data })
}

/// Encodes an array as the bytes of a version 1.0 `.npy` file (little-endian,
/// C order). Fails when `data.len()` is not the product of `shape`.
pub fn encode_npy(shape: &[usize], data: &NpyData) -> Result<Vec<u8>> {
    let elems = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .with_context(|| format!("shape {shape:?} has too many elements"))?;
    if elems != data.len() {
        bail!(
            "shape {shape:?} has {elems} elements but {} {} values were given",
            data.len(),
            data.dtype_name()
        );
    }
    let shape64: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut out = Vec::new();
    fn put<T: npyz::Serialize + npyz::AutoSerialize + Copy>(
        out: &mut Vec<u8>,
        shape: &[u64],
        v: &[T],
    ) -> std::io::Result<()> {
        let mut w = WriteOptions::<T>::new()
            .default_dtype()
            .shape(shape)
            .writer(out)
            .begin_nd()?;
        w.extend(v.iter().copied())?;
        w.finish()
    }
    match data {
        NpyData::I8(v) => put(&mut out, &shape64, v),
        NpyData::U8(v) => put(&mut out, &shape64, v),
        NpyData::I32(v) => put(&mut out, &shape64, v),
        NpyData::I64(v) => put(&mut out, &shape64, v),
        NpyData::F32(v) => put(&mut out, &shape64, v),
        NpyData::F64(v) => put(&mut out, &shape64, v),
    }
    .context("cannot encode .npy")?;
    Ok(out)
}

/// Writes an array to `path` as a version 1.0 `.npy` file, atomically: a
/// temporary file in the same directory is renamed over `path`, so a failure
/// leaves the old file (or none), never a half-written one.
pub fn write_npy(path: impl AsRef<Path>, shape: &[usize], data: &NpyData) -> Result<()> {
    let path = path.as_ref();
    let bytes = encode_npy(shape, data).with_context(|| format!("{}", path.display()))?;
    crate::checkpoint::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("myelin-npy-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A version 1.0 file with the given header dictionary and data bytes,
    /// padded as NumPy pads it.
    fn raw(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut h = dict.to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut out = MAGIC.to_vec();
        out.extend([1, 0]);
        out.extend((h.len() as u16).to_le_bytes());
        out.extend(h.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn round_trips_every_dtype() {
        let d = tmpdir("rt");
        let cases = [
            (vec![2, 3], NpyData::I8(vec![-128, -1, 0, 1, 2, 127])),
            (vec![6], NpyData::U8(vec![0, 1, 2, 128, 254, 255])),
            (
                vec![3, 1, 2],
                NpyData::I32(vec![i32::MIN, -7, 0, 5, 9, i32::MAX]),
            ),
            (
                vec![2, 3],
                NpyData::I64(vec![i64::MIN, -1, 0, 1, 2, i64::MAX]),
            ),
            (
                vec![3, 2],
                NpyData::F32(vec![-0.0, 1.5, f32::MAX, f32::MIN_POSITIVE, 3.25, -2.0]),
            ),
            (
                vec![1, 6],
                NpyData::F64(vec![0.1, -0.2, 1e300, -1e-300, 7.0, 8.5]),
            ),
            (vec![0, 4], NpyData::F32(vec![])),
            (vec![], NpyData::I64(vec![42])),
        ];
        for (i, (shape, data)) in cases.into_iter().enumerate() {
            let p = d.join(format!("a{i}.npy"));
            write_npy(&p, &shape, &data).unwrap();
            let back = read_npy(&p).unwrap();
            assert_eq!(back.shape, shape);
            assert_eq!(back.data, data);
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn reads_a_hand_built_version_1_file() {
        let data: Vec<u8> = [1i32, -2, 3, 4, 5, 6]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let b = raw(
            "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }",
            &data,
        );
        let a = decode_npy(&b).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, NpyData::I32(vec![1, -2, 3, 4, 5, 6]));
    }

    fn err(bytes: &[u8]) -> String {
        format!("{:#}", decode_npy(bytes).unwrap_err())
    }

    #[test]
    fn refuses_bad_files_with_reasons() {
        let good = encode_npy(&[2, 2], &NpyData::F32(vec![1.0, 2.0, 3.0, 4.0])).unwrap();
        assert!(err(&good[..good.len() - 1]).contains("needs 16 data bytes but the file holds 15"));
        assert!(err(&good[..20]).contains("truncated"));
        assert!(err(&good[..5]).contains("magic"));
        let mut bad = good.clone();
        bad[1] = b'X';
        assert!(err(&bad).contains("magic"));
        let f = raw(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
            &[0; 16],
        );
        assert!(err(&f).contains("Fortran"));
        let c = raw(
            "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }",
            &[0; 16],
        );
        assert!(err(&c).contains("not supported"));
        let u2 = raw(
            "{'descr': '<u2', 'fortran_order': False, 'shape': (2,), }",
            &[0; 4],
        );
        assert!(err(&u2).contains("not supported"));
        let be = raw(
            "{'descr': '>i4', 'fortran_order': False, 'shape': (1,), }",
            &[0; 4],
        );
        assert!(err(&be).contains("big-endian"));
        let huge = raw(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
            &[0; 8],
        );
        assert!(err(&huge).contains("more than 2^64"), "{}", err(&huge));
        let nested = raw(
            &format!(
                "{{'descr': [('a', '<f4', {}2{})], 'fortran_order': False, 'shape': (1,), }}",
                "(".repeat(40),
                ")".repeat(40)
            ),
            &[0; 8],
        );
        assert!(err(&nested).contains("nests deeper"));
        let empty_huge = raw(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }",
            &[],
        );
        assert!(err(&empty_huge).contains("more than 2^64"));
        let big = raw(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000,), }",
            &[0; 8],
        );
        assert!(err(&big).contains("needs 8000000000 data bytes but the file holds 8"));
        let mut v9 = good.clone();
        v9[6] = 9;
        assert!(err(&v9).contains("version 9"));
        let mut long_header = good.clone();
        long_header[8] = 0xff;
        long_header[9] = 0xff;
        assert!(err(&long_header).contains("truncated"));
    }

    #[test]
    fn errors_name_the_file() {
        let d = tmpdir("name");
        let p = d.join("broken.npy");
        std::fs::write(&p, b"nope").unwrap();
        let e = format!("{:#}", read_npy(&p).unwrap_err());
        assert!(e.contains("broken.npy") && e.contains("magic"), "{e}");
        let missing = format!("{:#}", read_npy(d.join("missing.npy")).unwrap_err());
        assert!(missing.contains("missing.npy"), "{missing}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn write_refuses_a_shape_mismatch_and_leaves_the_old_file() {
        let d = tmpdir("mismatch");
        let p = d.join("a.npy");
        write_npy(&p, &[2], &NpyData::U8(vec![1, 2])).unwrap();
        let e = write_npy(&p, &[3], &NpyData::U8(vec![1, 2])).unwrap_err();
        assert!(format!("{e:#}").contains("has 3 elements but 2 uint8"));
        assert_eq!(read_npy(&p).unwrap().data, NpyData::U8(vec![1, 2]));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn reads_the_mlperf_tiny_golden_inputs() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/mlperf-tiny/goldens");
        for name in ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant"] {
            let m: serde_json::Value = serde_json::from_slice(
                &std::fs::read(root.join(name).join("manifest.json")).unwrap(),
            )
            .unwrap();
            let a = read_npy(root.join(name).join("inputs.npy")).unwrap();
            let mut want: Vec<usize> = vec![m["n"].as_u64().unwrap() as usize];
            want.extend(
                m["input"]["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize),
            );
            // Samples, then the model's input shape without its leading batch of 1.
            assert_eq!(want[1], 1, "{name}");
            want.remove(1);
            assert_eq!(a.shape, want, "{name}");
            let NpyData::I8(v) = &a.data else {
                panic!("{name}: {:?}", a.data.dtype_name())
            };
            assert_eq!(v.len(), want.iter().product::<usize>());
            // Drawn uniformly over the code range: both ends occur.
            assert!(v.contains(&-128) && v.contains(&127), "{name}");
            let out = read_npy(root.join(name).join("outputs.npy")).unwrap();
            assert_eq!(out.shape[0], 16, "{name}");
        }
    }
}
