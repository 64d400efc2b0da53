//! On-target training: the core's no_std XOR network learns XOR from several
//! seeds with no allocator, as the host test does.
#![no_std]
#![no_main]

use myelin_core::train::xor::train_xor;
use myelin_fw_common::{Checks, check, entry};

#[entry]
fn main() -> ! {
    let mut t = Checks::new();
    for seed in [1u64, 7, 42] {
        let report = train_xor(seed, 200);
        defmt::info!(
            "seed {}: {} epochs, loss {}, {}/4 correct",
            seed,
            report.epochs,
            report.loss,
            report.correct
        );
        check!(t, report.correct == 4);
        check!(t, report.loss < 0.05);
    }
    t.finish()
}
