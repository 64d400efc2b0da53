//! `cargo xtask ci`.
use anyhow::Result;
/// Runs every CI check.
pub fn run(_args: &[String]) -> Result<()> {
    Ok(())
}
