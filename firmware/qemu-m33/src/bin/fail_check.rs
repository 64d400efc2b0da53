//! Must fail: a check with a wrong expected value.
#![no_std]
#![no_main]

use myelin_fw_common::{entry, programs};

#[entry]
fn main() -> ! {
    programs::fail_check()
}
