//! Support for myelin's firmware under QEMU.
//!
//! Linking this crate brings:
//! - a defmt global logger over semihosting (decode with `defmt-print -e ELF`);
//! - a panic handler and `HardFault`/default exception handlers that log and
//!   exit QEMU with failure, so a crash can never hang or pass;
//! - [`exit_success`], [`exit_failure`] and the [`Checks`] harness with its
//!   [`check!`] macro, which ends with an `N passed, N failed` line;
//! - [`measure`]: instruction-count markers, stack painting and the `report`
//!   lines `cargo xtask report` reads;
//! - [`programs`]: the program bodies every board's `src/bin/*.rs` calls;
//! - [`mnist`] and [`learn`]: programs on the trained MNIST models, for the
//!   boards that enable their features;
//! - [`mlperf`]: the MLPerf Tiny models on their golden inputs.
#![no_std]
#![deny(missing_docs)]

pub mod checks;
#[cfg(feature = "mnist-mlp-f32")]
pub mod learn;
pub mod measure;
pub mod mlperf;
pub mod mnist;
pub mod programs;
#[cfg(feature = "vectors-32")]
mod vectors;

pub use checks::Checks;
pub use cortex_m_rt::entry;

use cortex_m_rt::{ExceptionFrame, exception};
use cortex_m_semihosting::debug;
use defmt_semihosting as _;

/// Exits QEMU with status 0.
pub fn exit_success() -> ! {
    debug::exit(debug::EXIT_SUCCESS);
    unreachable_exit()
}

/// Exits QEMU with a non-zero status.
pub fn exit_failure() -> ! {
    debug::exit(debug::EXIT_FAILURE);
    unreachable_exit()
}

/// Semihosting exit returns only when no debugger or emulator serves it.
fn unreachable_exit() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

/// Logs where the panic happened (and its message when that is a plain
/// string) without `core::fmt`, whose formatting code would otherwise be a
/// large part of every program's flash.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let message = info.message().as_str().unwrap_or("(formatted message)");
    match info.location() {
        Some(l) => defmt::error!(
            "panicked at {=str}:{=u32}: {=str}",
            l.file(),
            l.line(),
            message
        ),
        None => defmt::error!("panicked: {=str}", message),
    }
    exit_failure()
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!(
        "HardFault at pc={=u32:#010x} lr={=u32:#010x}",
        frame.pc(),
        frame.lr()
    );
    exit_failure()
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    defmt::error!("unexpected exception or interrupt {=i16}", irqn);
    exit_failure()
}
