//! `cargo xtask`: the project's scripts.
//!
//! - `cargo xtask ci`: every check CI runs, one step after another.
//! - `cargo xtask qemu`: build and run every QEMU firmware program.
//! - `cargo xtask firmware-check`: fmt, clippy, host tests and builds of every firmware crate.
//! - `cargo xtask fuzz [--seconds N]`: fuzz the parsers (model file, IDX, TOML, checkpoint).
//! - `cargo xtask miri`: the core's unsafe and zero-copy code under Miri.
//! - `cargo xtask report [--json]`: instructions, flash, RAM and stack per firmware program.
//! - `cargo xtask cheader [--check]`: the C API's header `capi/include/myelin.h`, by cbindgen.
//! - `cargo xtask gen-firmware-models [--export | --check]`: train and export the models the firmware runs.

#![forbid(unsafe_code)]

mod cfirmware;
mod cheader;
mod ci;
mod firmware_check;
mod fuzz;
mod gen_models;
mod miri;
mod qemu;
mod report;
mod util;

use anyhow::{Result, bail};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<()> {
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("help", &[][..]),
    };
    match cmd {
        "ci" => ci::run(rest),
        "qemu" => qemu::run(rest),
        "firmware-check" => firmware_check::run(rest),
        "report" => report::run(rest),
        "fuzz" => fuzz::run(rest),
        "miri" => miri::run(rest),
        "gen-firmware-models" => gen_models::run(rest),
        "cheader" => cheader::run(rest),
        "help" | "--help" | "-h" => {
            println!("usage: cargo xtask <command>");
            println!(
                "  ci              every check CI runs (setup, fmt, clippy, tests, thumb builds, firmware, qemu, docs)"
            );
            println!(
                "  qemu            build and run every QEMU firmware program; non-zero exit if any fails"
            );
            println!(
                "  firmware-check  fmt, clippy, host tests and release builds of the firmware crates"
            );
            println!(
                "  report [--json] instructions per inference, flash, RAM and stack of each firmware program"
            );
            println!(
                "  gen-firmware-models [--export | --check]  train, quantize and export the firmware's models (--export: only export; --check: committed sources match)"
            );
            println!(
                "  cheader [--check]  write capi/include/myelin.h by cbindgen (--check: fail when stale)"
            );
            println!(
                "  fuzz [--seconds N] [TARGET...]  run each parser fuzz target for N seconds (default {})",
                fuzz::DEFAULT_SECONDS
            );
            println!(
                "  miri           the core's unsafe and zero-copy code under Miri (scalar and AVX2)"
            );
            Ok(())
        }
        other => bail!("unknown command `{other}` (try `cargo xtask help`)"),
    }
}
