//! `cargo xtask firmware-check`: the firmware workspace's static checks, host
//! tests and builds, for CI.
//!
//! - `cargo fmt --check` of the firmware workspace's members;
//! - `cargo clippy -D warnings` of the host-testable crates and of every
//!   board crate for its own target;
//! - `cargo test` of the host-testable crates (`firmware/app`: application
//!   logic against embedded-hal mocks);
//! - `cargo build --release` of every board, the real ones (flashed with
//!   probe-rs, never in CI) included.
//!
//! Each step prints `[pass]` or `[fail]`; the last line is `N passed, N failed`
//! and the exit status is non-zero if any step failed. Running the QEMU
//! programs is `cargo xtask qemu`.

use crate::qemu::{self, firmware_cargo};
use crate::util;
use anyhow::{Result, bail};

/// Crates of the firmware workspace that build and test on the host.
const HOST_CRATES: [&str; 1] = ["myelin-app"];

/// A check to run.
type Action = Box<dyn FnOnce() -> Result<()>>;

/// Runs every firmware check.
pub fn run(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("unknown argument `{a}` (usage: cargo xtask firmware-check)");
    }
    let fw = qemu::firmware_dir();
    let mut steps: Vec<(String, Action)> = Vec::new();
    {
        let fw = fw.clone();
        steps.push((
            "firmware: cargo fmt --check".into(),
            Box::new(move || util::run(firmware_cargo(&fw).args(["fmt", "--", "--check"]))),
        ));
    }
    for krate in HOST_CRATES {
        let dir = fw.clone();
        steps.push((
            format!("{krate}: clippy (host)"),
            Box::new(move || {
                util::run(firmware_cargo(&dir).args([
                    "clippy",
                    "-p",
                    krate,
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]))
            }),
        ));
        let dir = fw.clone();
        steps.push((
            format!("{krate}: tests (host)"),
            Box::new(move || util::run(firmware_cargo(&dir).args(["test", "-p", krate]))),
        ));
    }
    for board in qemu::boards()? {
        let what = if board.qemu.is_some() {
            "QEMU"
        } else {
            "hardware"
        };
        let b = board.clone();
        steps.push((
            format!("{}: clippy ({}, {what})", board.name, board.target),
            Box::new(move || {
                util::run(firmware_cargo(&b.dir).args([
                    "clippy",
                    "--release",
                    "--bins",
                    "--",
                    "-D",
                    "warnings",
                ]))
            }),
        ));
        steps.push((
            format!("{}: build ({}, {what})", board.name, board.target),
            Box::new(move || board.build()),
        ));
    }

    let (mut passed, mut failed) = (0, Vec::new());
    for (name, action) in steps {
        println!("--- {name}");
        match action() {
            Ok(()) => {
                println!("[pass] {name}");
                passed += 1;
            }
            Err(e) => {
                println!("[fail] {name}: {e:#}");
                failed.push(name);
            }
        }
    }
    println!();
    for f in &failed {
        println!("failed: {f}");
    }
    println!("{passed} passed, {} failed", failed.len());
    if !failed.is_empty() {
        bail!("{} firmware check(s) failed", failed.len());
    }
    Ok(())
}
