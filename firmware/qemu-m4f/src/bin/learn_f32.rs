//! On-device learning: fine-tunes the mnist-mlp's last layer on inverted digits.
#![no_std]
#![no_main]

use myelin_fw_common::{entry, learn};

#[entry]
fn main() -> ! {
    learn::learn_f32()
}
