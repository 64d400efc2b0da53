//! The trained f32 mnist-mlp from its model file (`include_bytes!`, parsed in place), against the host.
#![no_std]
#![no_main]

use myelin_fw_common::{entry, mnist};

#[entry]
fn main() -> ! {
    mnist::mnist_mlp_file()
}
