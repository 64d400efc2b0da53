//! MLPerf Tiny anomaly detection (ad01 dense autoencoder) as a typed network over its memory plan, on golden inputs, bit for bit.
#![no_std]
#![no_main]

use myelin_fw_common::{entry, mlperf};

#[entry]
fn main() -> ! {
    mlperf::ad01_typed()
}
