//! With feature `vectors-32`, cortex-m-rt's `link.x` includes a `device.x`
//! (normally a device crate's list of interrupt handler names); the table
//! here names none, so an empty one goes on the linker's search path.
use std::{env, fs, path::PathBuf};

fn main() {
    if env::var_os("CARGO_FEATURE_VECTORS_32").is_some() {
        let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
        fs::write(
            out.join("device.x"),
            "/* Every interrupt runs DefaultHandler (myelin-fw-common's vectors). */\n",
        )
        .expect("write device.x");
        println!("cargo:rustc-link-search={}", out.display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}
