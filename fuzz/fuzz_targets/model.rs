//! The core's zero-copy model-file parser on arbitrary bytes, then on the
//! same bytes with a matching version, length and CRC (so mutations reach the
//! tables). Parsed files are walked through every accessor and run through
//! the core's float or int8 inference; f32 files must also survive the
//! host's decode/encode round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin_core::model::Model;
use myelin_fuzz::{fix_model, infer_model, walk_model};
use myelin_host::net::Network;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Model::parse(data) {
        walk_model(&m);
    }
    let Some(fixed) = fix_model(data) else {
        return;
    };
    let Ok(m) = Model::parse(&fixed) else {
        return;
    };
    walk_model(&m);
    infer_model(&m);
    if let Ok(net) = Network::from_model(&m) {
        let once = net.encode().expect("a parsed f32 model re-encodes");
        let again = Network::decode(&once).expect("a re-encoded model parses");
        let twice = again.encode().expect("and encodes again");
        assert_eq!(once, twice, "encode/decode is not stable");
    }
});
