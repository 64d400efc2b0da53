//! The demo dense network, checked bit for bit against its integer reference.
#![no_std]
#![no_main]

use myelin_fw_common::{entry, programs};

#[entry]
fn main() -> ! {
    programs::dense()
}
