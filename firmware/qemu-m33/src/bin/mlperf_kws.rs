//! MLPerf Tiny keyword spotting (DS-CNN, imported from TFLite) on golden inputs, bit for bit against TFLite's reference kernels.
#![no_std]
#![no_main]

use myelin_fw_common::{entry, mlperf};

#[entry]
fn main() -> ! {
    mlperf::kws()
}
