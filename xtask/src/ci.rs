//! `cargo xtask ci`: every check CI runs, one step after another.
//!
//! Each step prints `[pass]` or `[fail]`; a failed step does not stop the
//! ones after it, so one run shows everything that is wrong. The last line is
//! `N passed, N failed` and the exit status is non-zero if any step failed.
//!
//! `cargo xtask ci --skip-setup` leaves the machine alone (no `rustup`,
//! `cargo install` or `apt-get`).

use crate::util::{self, on_path, root};
use anyhow::{Context, Result, bail};
use std::process::Command;
use std::time::Instant;

/// Cortex-M targets the core must build for.
pub const THUMB_TARGETS: [&str; 3] = [
    "thumbv6m-none-eabi",
    "thumbv7em-none-eabihf",
    "thumbv8m.main-none-eabihf",
];

/// The target on which the core's tests run the NEON kernels, under `qemu-aarch64`.
const NEON_TEST_TARGET: &str = "aarch64-unknown-linux-musl";

/// Features of `myelin-core` that build on a bare-metal target (`std` needs an OS).
const BARE_METAL_FEATURES: [&str; 2] = ["defmt", "half"];

/// Seconds CI fuzzes each parser.
const CI_FUZZ_SECONDS: u64 = 30;

/// A named check.
struct Step {
    name: String,
    action: Box<dyn FnOnce() -> Result<()>>,
}

fn step(name: impl Into<String>, action: impl FnOnce() -> Result<()> + 'static) -> Step {
    Step {
        name: name.into(),
        action: Box::new(action),
    }
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn cargo_step(name: &str, args: &[&str]) -> Step {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    step(name, move || util::run(cargo().args(&args)))
}

/// Runs every CI check.
pub fn run(args: &[String]) -> Result<()> {
    let skip_setup = args.iter().any(|a| a == "--skip-setup");
    if let Some(bad) = args.iter().find(|a| a.as_str() != "--skip-setup") {
        bail!("unknown argument `{bad}` for `cargo xtask ci` (accepted: --skip-setup)");
    }

    let mut steps = Vec::new();
    if !skip_setup {
        steps.push(step("setup: rust targets and components", setup_rust));
        steps.push(step("setup: defmt-print", setup_defmt_print));
        steps.push(step("setup: qemu-system-arm", setup_qemu));
        steps.push(step("setup: nightly, cargo-fuzz and miri", || {
            crate::fuzz::setup()?;
            crate::miri::setup()
        }));
    }
    steps.push(cargo_step(
        "cargo fmt --check",
        &["fmt", "--all", "--", "--check"],
    ));
    steps.push(cargo_step(
        "cargo clippy (workspace, all targets, -D warnings)",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    ));
    steps.push(cargo_step(
        "cargo test --workspace",
        &["test", "--workspace"],
    ));
    steps.push(step(
        "cargo xtask cheader --check (capi/include/myelin.h up to date)",
        || crate::cheader::run(&["--check".to_string()]),
    ));
    steps.push(step(
        "capi: fmt --check, clippy -D warnings, unit tests, doc",
        check_capi,
    ));
    for target in THUMB_TARGETS {
        steps.push(cargo_step(
            &format!("myelin-core on {target} (no features)"),
            &["build", "-p", "myelin-core", "--target", target],
        ));
        for feature in BARE_METAL_FEATURES {
            steps.push(cargo_step(
                &format!("myelin-core on {target} (feature {feature})"),
                &[
                    "build",
                    "-p",
                    "myelin-core",
                    "--target",
                    target,
                    "--features",
                    feature,
                ],
            ));
        }
    }
    steps.push(cargo_step(
        "myelin-core on aarch64-unknown-linux-gnu (NEON, feature std)",
        &[
            "build",
            "-p",
            "myelin-core",
            "--target",
            "aarch64-unknown-linux-gnu",
            "--features",
            "std",
        ],
    ));
    steps.push(step(
        "myelin-core tests on aarch64 (NEON kernels, under qemu-aarch64)",
        test_neon,
    ));
    steps.push(step(
        "cargo xtask firmware-check (firmware fmt, clippy, tests, board builds)",
        || crate::firmware_check::run(&[]),
    ));
    steps.push(step(
        "cargo xtask qemu (firmware on emulated Cortex-M)",
        || crate::qemu::run(&[]),
    ));
    steps.push(step("cargo doc (warnings denied)", || {
        util::run(cargo().env("RUSTDOCFLAGS", "-D warnings").args([
            "doc",
            "--workspace",
            "--no-deps",
        ]))
    }));

    steps.push(step(
        format!("cargo xtask fuzz (each parser {CI_FUZZ_SECONDS} s)"),
        || crate::fuzz::fuzz(&[], CI_FUZZ_SECONDS).map(|r| crate::fuzz::print_table(&r)),
    ));
    steps.push(step(
        "cargo xtask miri (core unsafe and zero-copy code)",
        crate::miri::check,
    ));

    let (mut passed, mut failed) = (0usize, 0usize);
    let mut failures = Vec::new();
    for Step { name, action } in steps {
        eprintln!("\n==> {name}");
        let start = Instant::now();
        let outcome = action();
        let secs = start.elapsed().as_secs_f64();
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("[pass] {name} ({secs:.1} s)");
            }
            Err(e) => {
                failed += 1;
                println!("[fail] {name} ({secs:.1} s): {e:#}");
                failures.push(name);
            }
        }
    }
    println!();
    for name in &failures {
        println!("failed: {name}");
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} CI step(s) failed");
    }
    Ok(())
}

/// The C API crate, its own workspace (`capi/`): what the root workspace's
/// fmt, clippy, test and doc steps do for the others.
fn check_capi() -> Result<()> {
    let capi = || {
        let mut cmd = crate::qemu::cargo_in(&root().join("capi"));
        cmd.env_remove("CARGO_TARGET_DIR");
        cmd
    };
    util::run(capi().args(["fmt", "--", "--check"]))?;
    util::run(capi().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
    util::run(capi().args(["test", "--lib"]))?;
    util::run(
        capi()
            .env("RUSTDOCFLAGS", "-D warnings")
            .args(["doc", "--no-deps"]),
    )
}

fn setup_rust() -> Result<()> {
    let mut add = Command::new("rustup");
    add.current_dir(root())
        .args(["target", "add"])
        .args(THUMB_TARGETS)
        .args(["aarch64-unknown-linux-gnu", NEON_TEST_TARGET]);
    util::run(&mut add)?;
    util::run(Command::new("rustup").current_dir(root()).args([
        "component",
        "add",
        "clippy",
        "rustfmt",
        "llvm-tools",
    ]))
}

/// Runs the core's tests, NEON kernels included, on aarch64 Linux under
/// user-mode QEMU (statically linked musl binaries, linked by rust-lld).
fn test_neon() -> Result<()> {
    if !on_path("qemu-aarch64") {
        bail!("qemu-aarch64 is missing (Debian package qemu-user)");
    }
    let target_env = NEON_TEST_TARGET.to_uppercase().replace('-', "_");
    util::run(
        cargo()
            .args(["test", "-p", "myelin-core", "--features", "std", "--target"])
            .arg(NEON_TEST_TARGET)
            .env(format!("CARGO_TARGET_{target_env}_LINKER"), "rust-lld")
            .env(format!("CARGO_TARGET_{target_env}_RUNNER"), "qemu-aarch64"),
    )
}

fn setup_defmt_print() -> Result<()> {
    if on_path("defmt-print") {
        eprintln!("defmt-print already installed");
        return Ok(());
    }
    util::run(cargo().args(["install", "defmt-print", "--locked", "--version", "1.2.0"]))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn setup_qemu() -> Result<()> {
    const PACKAGES: [&str; 7] = [
        "qemu-system-arm",
        "binutils-arm-none-eabi",
        "qemu-user",
        "gcc-arm-none-eabi",
        "libnewlib-arm-none-eabi",
        "gcc",
        "g++",
    ];
    if [
        "qemu-system-arm",
        "arm-none-eabi-nm",
        "qemu-aarch64",
        "arm-none-eabi-gcc",
        "cc",
        "c++",
    ]
    .iter()
    .all(|t| on_path(t))
    {
        eprintln!(
            "qemu-system-arm, qemu-aarch64, the GNU Arm toolchain, cc and c++ already installed"
        );
        return Ok(());
    }
    if !is_root() {
        bail!(
            "qemu-system-arm is missing; install it with \
             `sudo apt-get install -y --no-install-recommends {}` and run again",
            PACKAGES.join(" ")
        );
    }
    util::run(
        Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    util::run(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(PACKAGES)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .context("apt-get could not install QEMU")
}
