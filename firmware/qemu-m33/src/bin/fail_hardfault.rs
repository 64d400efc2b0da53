//! Must fail: a HardFault.
#![no_std]
#![no_main]

use myelin_fw_common::{entry, programs};

#[entry]
fn main() -> ! {
    programs::fail_hardfault()
}
