//! `cargo xtask cheader [--check]`: `capi/include/myelin.h` from the C API
//! crate by cbindgen (settings in `capi/cbindgen.toml`). With `--check` it
//! writes nothing and fails when the committed header differs.

use crate::util::root;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;

/// The committed header.
pub fn header_path() -> PathBuf {
    root().join("capi/include/myelin.h")
}

/// The header cbindgen generates from `capi/` now.
pub fn generate() -> Result<String> {
    let dir = root().join("capi");
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml"))
        .map_err(|e| anyhow::anyhow!("capi/cbindgen.toml: {e}"))?;
    let bindings = cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .context("cbindgen: generating capi/include/myelin.h")?;
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).context("cbindgen wrote non-UTF-8")
}

/// Runs `cargo xtask cheader [--check]`.
pub fn run(args: &[String]) -> Result<()> {
    let check = match args {
        [] => false,
        [a] if a == "--check" => true,
        _ => bail!("usage: cargo xtask cheader [--check]"),
    };
    let text = generate()?;
    let path = header_path();
    if check {
        let committed = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        if committed != text {
            bail!(
                "{} is stale: the C API changed; run `cargo xtask cheader` and commit the header",
                path.display()
            );
        }
        println!("{} is up to date", path.display());
        return Ok(());
    }
    let tmp = path.with_extension("h.tmp");
    std::fs::write(&tmp, &text).with_context(|| format!("{}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("{}", path.display()))?;
    println!("wrote {} ({} bytes)", path.display(), text.len());
    Ok(())
}
