//! Sets `cfg(myelin_arm_dsp)` on Arm targets with the DSP extension.
//!
//! Stable Rust does not expose `cfg(target_feature = "dsp")` on Arm, so the
//! int8 kernels cannot select their SMLAD path from it. Every `thumbv7em`
//! target (Cortex-M4/M7) has the DSP extension; other Arm targets with it (a
//! Cortex-M33 that has DSP) can opt in with `RUSTFLAGS="--cfg myelin_arm_dsp
//! -C target-feature=+dsp"`.

use std::env;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(myelin_arm_dsp)");
    println!("cargo::rerun-if-changed=build.rs");
    let target = env::var("TARGET").unwrap_or_default();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let has_dsp_feature = features.split(',').any(|f| f == "dsp");
    if arch == "arm" && (target.starts_with("thumbv7em") || has_dsp_feature) {
        println!("cargo::rustc-cfg=myelin_arm_dsp");
    }
}
