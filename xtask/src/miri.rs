//! `cargo xtask miri`: runs the core's tests that exercise its unsafe code
//! and zero-copy views under Miri, which reports undefined behaviour (out of
//! bounds, misalignment, invalid values, uninitialized reads).
//!
//! Two passes over the same tests: the scalar kernels (Miri detects no CPU
//! features at run time), then with AVX2 and FMA enabled at compile time on
//! x86-64, so the intrinsic kernels and their pointer loads and stores run
//! under Miri as well. Tests are chosen for small sizes; property tests with
//! many cases are left to the normal test run, and so is code that reaches
//! libm's `sqrt` (inline assembly on x86-64, which Miri cannot run).

use crate::util::{self, root};
use anyhow::{Context, Result, bail};
use std::process::{Command, Stdio};

/// Library tests of `myelin-core` run under Miri (name filters).
pub const LIB_TESTS: [&str; 15] = [
    // The model format: zero-copy views, `align_to` casts, every truncation.
    "model::tests::round_trip_views",
    "model::tests::tensor_data_is_aligned_in_the_file",
    "model::tests::every_truncation_is_an_error",
    "model::tests::specific_errors",
    "model::tests::conv_pool_lstm_shapes_validate",
    "model::tests::infer_matches_reference_aligned_or_not",
    "model::crc::",
    // Kernels: SIMD against scalar on edge cases and odd lengths.
    "kernels::tests::special_values",
    "kernels::tests::softmax_is_stable_and_normalized",
    "kernels::tests::softmax_cross_entropy_matches_closed_form",
    // int8 kernels: x86 loads, portable DSP emulation, dispatch.
    "quant::dot::",
    "quant::int8::",
    "quant::fixed::",
    // Packed dense: the word view of the aligned weights, the DSP emulation.
    "quant::packed::tests::layout_by_hand",
    "quant::packed::tests::extremes_and_wrapping_sums_agree",
];

/// `cargo xtask miri`: installs Miri if missing, then runs [`check`].
pub fn run(args: &[String]) -> Result<()> {
    if let Some(bad) = args.first() {
        bail!("unknown argument `{bad}` for `cargo xtask miri`");
    }
    setup()?;
    check()
}

/// Runs the Miri passes (Miri must be installed, see [`setup`]).
pub fn check() -> Result<()> {
    let (passed, skipped) = pass(None)?;
    eprintln!("miri (scalar): {passed} tests passed, {skipped} filtered out");
    if cfg!(target_arch = "x86_64") {
        let (passed, _) = pass(Some("-Ctarget-feature=+avx2,+fma"))?;
        eprintln!("miri (avx2+fma): {passed} tests passed");
    }
    Ok(())
}

/// Installs the nightly Miri component (and `rust-src`, which it needs) if missing.
pub fn setup() -> Result<()> {
    let ok = Command::new("cargo")
        .args(["+nightly", "miri", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        util::run(Command::new("rustup").args([
            "+nightly",
            "component",
            "add",
            "miri",
            "rust-src",
        ]))?;
    }
    Ok(())
}

/// One `cargo miri test` over [`LIB_TESTS`]; returns (passed, filtered out).
fn pass(rustflags: Option<&str>) -> Result<(usize, usize)> {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root())
        .args(["+nightly", "miri", "test", "-p", "myelin-core", "--lib"])
        // Separate target directories keep the two passes from rebuilding each other.
        .env(
            "CARGO_TARGET_DIR",
            root().join("target").join(if rustflags.is_some() {
                "miri-avx2"
            } else {
                "miri-scalar"
            }),
        )
        .env("MIRIFLAGS", "-Zmiri-strict-provenance")
        .env_remove("RUSTFLAGS")
        .arg("--")
        .args(LIB_TESTS);
    if let Some(f) = rustflags {
        cmd.env("RUSTFLAGS", f);
    }
    eprintln!("$ {}", util::show(&cmd));
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo miri")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    if !out.status.success() {
        bail!("miri found a problem or a test failed ({})", out.status);
    }
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("test result:"))
        .context("no test summary in cargo miri's output")?;
    let count = |key: &str| -> usize {
        summary
            .split(';')
            .find(|p| p.contains(key))
            .and_then(|p| {
                p.split_whitespace()
                    .find_map(|w| w.trim_start_matches("ok.").parse().ok())
            })
            .unwrap_or(0)
    };
    let ran: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test ")?.split(" ... ").next())
        .collect();
    let stale: Vec<&str> = LIB_TESTS
        .iter()
        .copied()
        .filter(|f| !ran.iter().any(|t| t.contains(f)))
        .collect();
    if !stale.is_empty() {
        bail!("no test matches {stale:?}: update the list in xtask/src/miri.rs");
    }
    Ok((count("passed"), count("filtered out")))
}
