//! Measurements that `cargo xtask report` reads: instruction-count markers,
//! peak stack by painting, and one `report` log line per measured model.
//!
//! Protocol: for the k-th measured inference a program calls [`mark`] right
//! before and right after it (see [`instructions`]), then logs
//! [`report`]. The instruction-count plugin prints the instructions between
//! consecutive stores to [`INSN_MARK`]; the report pairs the k-th `report`
//! line with the (2k+1)-th mark.

use core::mem::MaybeUninit;
use core::ptr::{addr_of, addr_of_mut};

/// Stores to this word are the instruction-count plugin's markers (xtask
/// finds it by name in the ELF). It lives in `.uninit` so that the start-up
/// code's zeroing of `.bss` does not count as a mark.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".uninit.INSN_MARK")]
pub static mut INSN_MARK: MaybeUninit<u32> = MaybeUninit::uninit();

/// The word painted on unused stack.
const PAINT: u32 = 0xC0FF_EE55;
/// Words below the stack pointer left unpainted, for [`paint_stack`]'s own frame.
const PAINT_MARGIN_WORDS: usize = 16;
/// Most bytes painted (the M4F board has megabytes of RAM; a model's
/// activation arena on the stack may take over 100 KB).
const PAINT_MAX_BYTES: usize = 256 * 1024;

unsafe extern "C" {
    /// End of `.bss`/`.uninit`: the lowest address the stack may reach (cortex-m-rt).
    static _stack_end: u32;
    /// Initial stack pointer, the top of the stack (cortex-m-rt).
    static _stack_start: u32;
}

/// Tells the instruction counter "here" (one volatile store).
#[inline(always)]
pub fn mark() {
    // SAFETY: a plain volatile store to a word no other code reads or writes
    // as a Rust value; the program is single-threaded and has no interrupts.
    unsafe { addr_of_mut!(INSN_MARK).cast::<u32>().write_volatile(1) }
}

/// Runs `f` between two [`mark`]s, so that the plugin counts its instructions.
#[inline(always)]
pub fn instructions<R>(f: impl FnOnce() -> R) -> R {
    mark();
    let r = f();
    mark();
    r
}

fn stack_bounds() -> (usize, usize) {
    (
        addr_of!(_stack_end) as usize,
        addr_of!(_stack_start) as usize,
    )
}

/// The lowest address [`paint_stack`] paints.
fn paint_floor(sp: usize) -> usize {
    let (end, _) = stack_bounds();
    end.max(sp.saturating_sub(PAINT_MAX_BYTES)) & !3
}

/// Fills the unused stack below the current stack pointer with a pattern.
/// Call it first thing in `main`; [`peak_stack`] then reads the high-water mark.
#[inline(never)]
pub fn paint_stack() {
    let sp = cortex_m::register::msp::read() as usize;
    let top = (sp & !3) - 4 * PAINT_MARGIN_WORDS;
    let mut p = paint_floor(sp);
    while p < top {
        // SAFETY: `p` is word-aligned and lies between the end of static RAM
        // (`_stack_end`) and below this function's frame: unused stack that
        // no live value occupies (there is no heap and no interrupt runs).
        unsafe { (p as *mut u32).write_volatile(PAINT) };
        p += 4;
    }
}

/// Bytes of stack used since [`paint_stack`], from the top of the stack to the
/// lowest overwritten word. Saturates at the painted window's size.
pub fn peak_stack() -> u32 {
    let (_, start) = stack_bounds();
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = paint_floor(sp);
    // SAFETY: as in `paint_stack`: word-aligned reads of the painted window,
    // which ends below the current stack pointer.
    while p < sp && unsafe { (p as *const u32).read_volatile() } == PAINT {
        p += 4;
    }
    (start - p) as u32
}

/// Logs the `report` line for one measured inference.
pub fn report(model: &str, dtype: &str, macs: u32, weights_bytes: u32, stack_bytes: u32) {
    report_with_data(model, dtype, macs, weights_bytes, 0, stack_bytes);
}

/// [`report`] for a program that also holds `data_bytes` of test data in
/// flash (images, expected outputs), which the report keeps out of its code size.
pub fn report_with_data(
    model: &str,
    dtype: &str,
    macs: u32,
    weights_bytes: u32,
    data_bytes: u32,
    stack_bytes: u32,
) {
    defmt::info!(
        "report model={=str} dtype={=str} macs={=u32} weights_bytes={=u32} data_bytes={=u32} stack_bytes={=u32}",
        model,
        dtype,
        macs,
        weights_bytes,
        data_bytes,
        stack_bytes
    );
}

/// The `report` line of a model run from its file through an activation
/// arena, with the arena's size and its lower bound.
#[derive(Debug, Clone, Copy)]
pub struct ArenaReport<'a> {
    /// Model name.
    pub model: &'a str,
    /// Arithmetic (`int8`).
    pub dtype: &'a str,
    /// Multiply-accumulates per inference.
    pub macs: u32,
    /// Bytes of the model file (weights, biases, multipliers and tables).
    pub weights_bytes: u32,
    /// Bytes of embedded test data (inputs and expected outputs).
    pub data_bytes: u32,
    /// Peak stack, the arena included when it lives on the stack.
    pub stack_bytes: u32,
    /// Bytes of the activation arena the inference used.
    pub arena_bytes: u32,
    /// Largest sum of simultaneously live activations over the schedule.
    pub arena_lower_bound: u32,
    /// The same sum with every node allowed to write over its input doing so
    /// (an in-place plan's arena may reach it, below the lower bound).
    pub arena_in_place_bound: u32,
}

impl ArenaReport<'_> {
    /// Logs the line.
    pub fn log(&self) {
        defmt::info!(
            "report model={=str} dtype={=str} macs={=u32} weights_bytes={=u32} data_bytes={=u32} stack_bytes={=u32} arena_bytes={=u32} arena_lower_bound={=u32} arena_in_place_bound={=u32}",
            self.model,
            self.dtype,
            self.macs,
            self.weights_bytes,
            self.data_bytes,
            self.stack_bytes,
            self.arena_bytes,
            self.arena_lower_bound,
            self.arena_in_place_bound
        );
    }
}
