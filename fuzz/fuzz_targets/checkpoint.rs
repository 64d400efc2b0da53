//! Training checkpoints on arbitrary bytes, then with a matching CRC so
//! mutations reach the block table and the JSON metadata. A decoded
//! checkpoint must encode and decode again to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin_fuzz::fix_trailing_crc;
use myelin_host::checkpoint::Checkpoint;

fuzz_target!(|data: &[u8]| {
    let _ = Checkpoint::decode(data);
    let Some(fixed) = fix_trailing_crc(data) else {
        return;
    };
    if let Ok(c) = Checkpoint::decode(&fixed) {
        let bytes = c.encode().expect("a decoded checkpoint encodes");
        let again = Checkpoint::decode(&bytes).expect("a re-encoded checkpoint decodes");
        assert_eq!(
            again.encode().expect("and encodes again"),
            bytes,
            "encode/decode is not stable"
        );
    }
});
