//! MLPerf Tiny keyword spotting (DS-CNN) with its smallest memory plan on
//! the golden inputs, bit for bit.
#![no_std]
#![no_main]

use myelin_fw_common::{entry, mlperf};

#[entry]
fn main() -> ! {
    mlperf::kws_small()
}
