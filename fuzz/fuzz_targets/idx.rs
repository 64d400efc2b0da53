//! The IDX reader on arbitrary bytes: as a raw file of known length, as a
//! stream of unknown length, and through gzip when the bytes start like gzip.
//! Accepted raw files must re-encode to exactly the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin_host::idx;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = idx::decode(data, Some(data.len() as u64)) {
        assert_eq!(v.data.len(), v.dims.iter().product::<usize>());
        let dims: Vec<u32> = v.dims.iter().map(|&d| d as u32).collect();
        assert_eq!(idx::encode(&dims, &v.data), data);
    }
    let streamed = idx::decode(data, None);
    if let Ok(v) = &streamed {
        assert_eq!(v.data.len(), v.dims.iter().product::<usize>());
    }
    if data.starts_with(&[0x1f, 0x8b]) {
        let _ = idx::decode(flate2::read::MultiGzDecoder::new(data), None);
    }
});
