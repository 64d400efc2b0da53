//! The NumPy .npy reader on arbitrary bytes. An accepted file holds exactly
//! the product of its shape in elements and encodes back to an array that
//! decodes to the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin_host::npy;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = npy::decode_npy(data) {
        let elems: usize = a.shape.iter().product();
        assert_eq!(a.data.len(), elems);
        let again = npy::encode_npy(&a.shape, &a.data).expect("an accepted array re-encodes");
        let b = npy::decode_npy(&again).expect("a written array reads back");
        assert_eq!(b.shape, a.shape);
        assert_eq!(b.data.len(), a.data.len());
    }
});
