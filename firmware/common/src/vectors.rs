//! The interrupt half of the vector table for a board with 32 interrupt
//! lines. Without a device crate cortex-m-rt fills all 240 entries the
//! architecture allows; the boards run here have 32 (QEMU's mps2-an386 and
//! the micro:bit's nRF51), so 832 bytes of flash were entries no interrupt can
//! reach. No program enables an interrupt: every entry is this crate's
//! `DefaultHandler`, which logs the interrupt number and exits QEMU with failure.

/// Interrupt lines of the boards that enable feature `vectors-32`.
const LINES: usize = 32;

unsafe extern "C" {
    /// cortex-m-rt's entry point of this crate's `#[exception] DefaultHandler`.
    fn DefaultHandler();
}

/// Placed by cortex-m-rt's `link.x` right after the 16 system exceptions.
#[unsafe(link_section = ".vector_table.interrupts")]
#[unsafe(no_mangle)]
#[used]
static __INTERRUPTS: [unsafe extern "C" fn(); LINES] = [DefaultHandler; LINES];
