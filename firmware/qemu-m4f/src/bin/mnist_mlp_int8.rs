//! The trained int8 mnist-mlp on embedded test images, bit for bit against the host.
#![no_std]
#![no_main]

use myelin_fw_common::{entry, mnist};

#[entry]
fn main() -> ! {
    mnist::mnist_mlp_int8()
}
