//! `cargo xtask qemu`: build and run every QEMU firmware program.

use anyhow::Result;

/// Builds and runs every QEMU firmware program.
pub fn run(_args: &[String]) -> Result<()> {
    anyhow::bail!("no firmware programs yet")
}
