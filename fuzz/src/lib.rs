//! Helpers shared by the fuzz targets: checksum fix-ups that let mutated
//! inputs reach the checks behind a file's CRC, and walks that touch every
//! accessor of a parsed value.

#![forbid(unsafe_code)]

use myelin_core::model::{self, HEADER_LEN, Model, crc32};

/// A copy of `data` with a known format version (kept if it is one), the
/// file length and the trailing CRC-32 set to match, so mutations reach the
/// structural checks.
/// `None` when `data` is too short to hold a header and a CRC.
pub fn fix_model(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < HEADER_LEN + 4 || u32::try_from(data.len()).is_err() {
        return None;
    }
    let mut b = data.to_vec();
    let version = u16::from_le_bytes([b[8], b[9]]);
    if !(model::MIN_VERSION..=model::VERSION).contains(&version) {
        b[8..10].copy_from_slice(&model::VERSION.to_le_bytes());
    }
    b[16..20].copy_from_slice(&(data.len() as u32).to_le_bytes());
    let body = b.len() - 4;
    let c = crc32(&b[..body]);
    b[body..].copy_from_slice(&c.to_le_bytes());
    Some(b)
}

/// A copy of `data` with a correct trailing CRC-32 (checkpoint files), or
/// `None` when it is too short to hold one.
pub fn fix_trailing_crc(data: &[u8]) -> Option<Vec<u8>> {
    let body = data.len().checked_sub(4)?;
    let mut b = data.to_vec();
    let c = crc32(&b[..body]);
    b[body..].copy_from_slice(&c.to_le_bytes());
    Some(b)
}

/// Reads everything a parsed model exposes and checks what parsing promised:
/// consecutive layer shapes, tensors inside the file, parameter counts
/// (weights and biases, not requantization multipliers), and the ways of
/// reading a tensor (element by element, as a slice) agree bit for bit.
pub fn walk_model(m: &Model<'_>) {
    let file = m.bytes().as_ptr_range();
    let mut shape = m.input_shape();
    assert!(m.layer_count() >= 1);
    for (i, l) in m.layers().enumerate() {
        assert_eq!(l.index, i);
        assert_eq!(
            l.in_shape, shape,
            "layer {i} does not follow its predecessor"
        );
        shape = l.out_shape;
        let _ = (l.kind.name(), l.activation.name(), l.param_count());
        for j in 0..l.tensor_count() {
            assert!(l.tensor(j).is_some(), "layer {i} tensor {j} missing");
        }
        assert!(l.tensor(l.tensor_count()).is_none());
    }
    assert_eq!(m.output_len(), model::shape_len(shape));
    assert!(m.layer(m.layer_count()).is_none());
    assert!(m.tensor(m.tensor_count()).is_none());
    let mut params = 0usize;
    for t in (0..m.tensor_count()).map(|i| m.tensor(i).expect("validated tensor")) {
        let range = t.data.as_ptr_range();
        assert!(file.start <= range.start && range.end <= file.end);
        assert_eq!(t.len(), t.shape().iter().product::<usize>());
        if t.dtype != model::DType::Requant {
            params += t.len();
        }
        if let Some(q) = t.quant {
            for c in 0..q.channels() {
                assert!(q.scale(c).is_some());
                let _ = (q.zero_point(c), q.multiplier(c), q.shift(c));
            }
            assert!(q.scale(q.channels()).is_none());
        }
        match t.dtype {
            model::DType::Requant => {
                let all: Vec<_> = (0..t.len())
                    .map(|k| t.requant_at(k).expect("in range"))
                    .collect();
                if let Some(s) = t.as_requant() {
                    assert_eq!(s, &all[..]);
                }
            }
            model::DType::I32 => {
                let all: Vec<_> = (0..t.len())
                    .map(|k| t.i32_at(k).expect("in range"))
                    .collect();
                if let Some(s) = t.as_i32() {
                    assert_eq!(s, &all[..]);
                }
            }
            model::DType::F16 => {
                let all: Vec<_> = (0..t.len())
                    .map(|k| t.f16_bits_at(k).expect("in range"))
                    .collect();
                if let Some(s) = t.as_f16() {
                    assert!(s.iter().zip(&all).all(|(a, b)| a.to_bits() == *b));
                }
            }
            _ => {}
        }
        if t.dtype == model::DType::F32 {
            let mut out = vec![0.0f32; t.len()];
            t.read_f32(&mut out).expect("f32 tensor reads");
            for (k, v) in out.iter().enumerate() {
                assert_eq!(t.f32_at(k).map(f32::to_bits), Some(v.to_bits()));
            }
            assert!(t.f32_at(t.len()).is_none());
            if let Some(s) = t.as_f32() {
                assert!(s.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        } else {
            assert!(t.f32_at(0).is_none() && t.as_f32().is_none());
        }
    }
    assert_eq!(m.param_count(), params);
}

/// Largest scratch (in elements) the fuzz targets give inference, so every
/// input runs in milliseconds.
pub const MAX_SCRATCH: usize = 1 << 14;

/// Runs one sample through a parsed model with the core's float or int8
/// inference, from the given bytes and from a copy at an odd address (the
/// unaligned paths). Errors are fine; a panic is a bug.
pub fn infer_model(m: &Model<'_>) {
    let mut shifted = vec![0u8; m.bytes().len() + 1];
    shifted[1..].copy_from_slice(m.bytes());
    let copy = Model::parse(&shifted[1..]).expect("the same bytes parse at any address");
    for m in [m, &copy] {
        match m.arithmetic() {
            model::Arithmetic::Float => {
                let need = model::scratch_len(m);
                if need > MAX_SCRATCH {
                    continue;
                }
                let input: Vec<f32> = (0..m.input_len()).map(|i| (i % 7) as f32 - 3.0).collect();
                let mut scratch = vec![0.0f32; need];
                if let Ok(out) = m.infer(&input, &mut scratch) {
                    assert_eq!(out.len(), m.output_len());
                }
            }
            model::Arithmetic::Int8 => {
                let need = model::int8_scratch_len(m);
                if need.act > MAX_SCRATCH || need.cell > MAX_SCRATCH {
                    continue;
                }
                let input: Vec<i8> = (0..m.input_len())
                    .map(|i| (i * 37 % 256) as u8 as i8)
                    .collect();
                let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
                if let Ok(out) = m.infer_int8(&input, &mut act, &mut cell) {
                    assert_eq!(out.len(), m.output_len());
                }
            }
            _ => {}
        }
    }
}
