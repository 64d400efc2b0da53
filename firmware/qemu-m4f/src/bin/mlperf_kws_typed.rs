//! MLPerf Tiny keyword spotting (DS-CNN) as a typed network over its memory plan, on golden inputs, bit for bit.
#![no_std]
#![no_main]

use myelin_fw_common::{entry, mlperf};

#[entry]
fn main() -> ! {
    mlperf::kws_typed()
}
