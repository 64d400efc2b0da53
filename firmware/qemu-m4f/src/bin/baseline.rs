//! No model: start-up, logging, one measured empty call and the check harness (the code every program carries).
#![no_std]
#![no_main]

use myelin_fw_common::{entry, programs};

#[entry]
fn main() -> ! {
    programs::baseline()
}
