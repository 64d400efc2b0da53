//! Sets `cfg(myelin_arm_dsp)` on Arm targets with the DSP extension,
//! `cfg(myelin_cortex_m_fpu)` on Cortex-M targets with a fused-multiply-add
//! FPU, and `cfg(myelin_armv6m)` on Armv6-M (`thumbv6m`).
//!
//! Stable Rust does not expose `cfg(target_feature = "dsp")` on Arm, so the
//! int8 kernels cannot select their SMLAD path from it. Every `thumbv7em`
//! target (Cortex-M4/M7) has the DSP extension; other Arm targets with it (a
//! Cortex-M33 that has DSP) can opt in with `RUSTFLAGS="--cfg myelin_arm_dsp
//! -C target-feature=+dsp"`.

use std::env;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(myelin_arm_dsp)");
    println!("cargo::rustc-check-cfg=cfg(myelin_cortex_m_fpu)");
    println!("cargo::rustc-check-cfg=cfg(myelin_armv6m)");
    println!("cargo::rerun-if-changed=build.rs");
    let target = env::var("TARGET").unwrap_or_default();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let has_dsp_feature = features.split(',').any(|f| f == "dsp");
    if arch == "arm" && (target.starts_with("thumbv7em") || has_dsp_feature) {
        println!("cargo::rustc-cfg=myelin_arm_dsp");
    }
    // Armv6-M (Cortex-M0/M0+): Thumb-1 only, no DSP; the int8 convolution
    // of `quant::m0` in assembly.
    if target.starts_with("thumbv6m") {
        println!("cargo::rustc-cfg=myelin_armv6m");
    }
    // Cortex-M cores whose single-precision FPU has fused multiply-add
    // (FPv4-SP, FPv5): the f32 kernels of `kernels::cortex_m`.
    if target == "thumbv7em-none-eabihf" || target == "thumbv8m.main-none-eabihf" {
        println!("cargo::rustc-cfg=myelin_cortex_m_fpu");
    }
}
