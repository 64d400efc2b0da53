//! The trained int8 mnist-cnn on embedded test images, bit for bit against the host.
#![no_std]
#![no_main]

use myelin_fw_common::{entry, mnist};

#[entry]
fn main() -> ! {
    mnist::mnist_cnn_int8()
}
