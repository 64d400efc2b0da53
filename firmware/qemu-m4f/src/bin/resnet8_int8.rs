//! The trained int8 ResNet-8 graph (model file, parsed in place) on embedded test images, bit for bit against the host.
#![no_std]
#![no_main]

use myelin_fw_common::{entry, mnist};

#[entry]
fn main() -> ! {
    mnist::resnet8_int8()
}
