//! The trained f32 mnist-mlp (typed network, static weights) on embedded test images, against the host.
#![no_std]
#![no_main]

use myelin_fw_common::{entry, mnist};

#[entry]
fn main() -> ! {
    mnist::mnist_mlp_f32()
}
