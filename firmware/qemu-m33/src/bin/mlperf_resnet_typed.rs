//! MLPerf Tiny image classification (ResNet-8) as a typed network over its memory plan, on golden inputs, bit for bit.
#![no_std]
#![no_main]

use myelin_fw_common::{entry, mlperf};

#[entry]
fn main() -> ! {
    mlperf::resnet_typed()
}
