//! Programs on the MLPerf Tiny models of `myelin-fw-models` (imported from
//! TFLite by `myelin import`): each parses its model file in place, runs
//! the golden inputs embedded with it and checks every output code, bit for
//! bit, against TFLite's reference kernels (which the host matched when the
//! module was generated). The activations live where the file's static
//! memory plan puts them, in an arena of the size fixed at export. The first
//! inference is measured, the parse not included.
//!
//! Only boards that enable a model's feature (flash permitting) compile the
//! programs that use it.

/// Runs `infer` (input codes into output codes) on every golden input, logs how many gave exactly the
/// golden output codes (and how many codes differ where not), records the
/// checks and ends the program.
#[cfg(any(
    feature = "mlperf-ad01",
    feature = "mlperf-kws",
    feature = "mlperf-kws-small",
    feature = "mlperf-resnet",
    feature = "mlperf-ad01-typed",
    feature = "mlperf-kws-typed",
    feature = "mlperf-resnet-typed"
))]
pub fn check_goldens<const I: usize, const O: usize>(
    mut t: crate::Checks,
    model: &str,
    inputs: &[[i8; I]],
    outputs: &[[i8; O]],
    mut infer: impl FnMut(&[i8; I], &mut [i8; O]) -> Result<(), myelin_core::Error>,
) -> ! {
    let (mut same, mut out) = (0, [0i8; O]);
    for (i, (x, want)) in inputs.iter().zip(outputs).enumerate() {
        match infer(x, &mut out) {
            Ok(()) if &out == want => same += 1,
            Ok(()) => {
                let differ = out.iter().zip(want).filter(|(a, b)| a != b).count();
                defmt::error!(
                    "sample {}: {} of {} output codes differ",
                    i,
                    differ,
                    want.len()
                );
            }
            Err(e) => defmt::error!("sample {}: {}", i, e),
        }
    }
    defmt::info!(
        "{=str} int8: output codes bit-exact on {}/{} golden inputs",
        model,
        same,
        inputs.len()
    );
    t.record(!inputs.is_empty(), "samples ran");
    t.record(
        same == inputs.len(),
        "every output code == TFLite's, bit for bit",
    );
    t.finish()
}

/// A program running one MLPerf Tiny model module on its golden samples.
#[cfg(any(
    feature = "mlperf-ad01",
    feature = "mlperf-kws",
    feature = "mlperf-kws-small",
    feature = "mlperf-resnet"
))]
macro_rules! mlperf_program {
    ($(#[$doc:meta])* $name:ident, $module:ident, $model:literal) => {
        $(#[$doc])*
        pub fn $name() -> ! {
            use core::mem::size_of_val;
            use myelin_core::model::{arena_in_place_bound, arena_lower_bound};
            use myelin_fw_models::$module::{self as m, samples};
            use $crate::{Checks, measure};
            measure::paint_stack();
            let mut t = Checks::new();
            let model = match m::model() {
                Ok(model) => model,
                Err(e) => {
                    defmt::error!("{=str}: model file: {}", $model, e);
                    $crate::exit_failure()
                }
            };
            let mut scratch = m::Scratch::ZERO;
            let mut y = [0i8; m::OUTPUT];
            let x0 = core::hint::black_box(&samples::INPUTS[0]);
            let ran = measure::instructions(|| {
                model
                    .infer_int8(x0, &mut scratch.0, &mut scratch.1)
                    .map(|out| y.copy_from_slice(out))
            });
            let stack = measure::peak_stack();
            measure::ArenaReport {
                model: $model,
                dtype: "int8",
                macs: m::MACS as u32,
                weights_bytes: m::FILE_BYTES as u32,
                data_bytes: (size_of_val(&samples::INPUTS) + size_of_val(&samples::OUTPUTS)) as u32,
                stack_bytes: stack,
                arena_bytes: size_of_val(&scratch) as u32,
                arena_lower_bound: arena_lower_bound(&model) as u32,
                arena_in_place_bound: arena_in_place_bound(&model) as u32,
            }
            .log();
            t.record(ran.is_ok(), "measured inference ran");
            t.record(
                model.planned_arena().is_some_and(|a| a <= m::SCRATCH_ACT),
                "the file's memory plan fixes the arena (within the scratch)",
            );
            $crate::mlperf::check_goldens(t, $model, &samples::INPUTS, &samples::OUTPUTS, |x, y| {
                model
                    .infer_int8(x, &mut scratch.0, &mut scratch.1)
                    .map(|out| y.copy_from_slice(out))
            })
        }
    };
}

#[cfg(feature = "mlperf-ad01")]
mlperf_program!(
    /// MLPerf Tiny anomaly detection (ad01: a 640-128x4-8-128x4-640 dense
    /// autoencoder) on its golden inputs, bit for bit.
    ad01,
    mlperf_ad01,
    "mlperf-ad01"
);

#[cfg(feature = "mlperf-kws")]
mlperf_program!(
    /// MLPerf Tiny keyword spotting (DS-CNN: a 10x4 strided convolution, four
    /// depthwise 3x3 and pointwise 1x1 pairs, average pool, dense, softmax)
    /// on its golden inputs, bit for bit.
    kws,
    mlperf_kws,
    "mlperf-kws"
);

#[cfg(feature = "mlperf-resnet")]
mlperf_program!(
    /// MLPerf Tiny image classification (ResNet-8 on CIFAR-10: three residual
    /// stages, average pool, dense, softmax) on its golden inputs, bit for bit.
    resnet,
    mlperf_resnet,
    "mlperf-resnet"
);

/// A program running one typed MLPerf Tiny module (`myelin export --typed`:
/// weights as statics, activations at the file's planned offsets, one
/// kernel call per node) on its golden samples, bit for bit. No parser and
/// no node dispatch are linked: the code figure is the kernels it calls.
#[cfg(any(
    feature = "mlperf-ad01-typed",
    feature = "mlperf-kws-typed",
    feature = "mlperf-resnet-typed"
))]
macro_rules! mlperf_typed_program {
    ($(#[$doc:meta])* $name:ident, $module:ident, $model:literal) => {
        $(#[$doc])*
        pub fn $name() -> ! {
            use core::mem::size_of_val;
            use myelin_fw_models::$module::{self as m, samples, NETWORK};
            use $crate::{Checks, measure};
            measure::paint_stack();
            let mut t = Checks::new();
            let mut scratch = m::Scratch::ZERO;
            let mut y = [0i8; m::OUTPUT];
            let x0 = core::hint::black_box(&samples::INPUTS[0]);
            let ran = measure::instructions(|| NETWORK.infer(x0, &mut y, &mut scratch));
            let stack = measure::peak_stack();
            measure::ArenaReport {
                model: $model,
                dtype: "int8",
                macs: m::MACS as u32,
                weights_bytes: m::WEIGHTS_BYTES as u32,
                data_bytes: (size_of_val(&samples::INPUTS) + size_of_val(&samples::OUTPUTS)) as u32,
                stack_bytes: stack,
                arena_bytes: size_of_val(&scratch) as u32,
                arena_lower_bound: m::ARENA_LOWER_BOUND as u32,
                arena_in_place_bound: m::ARENA_IN_PLACE_BOUND as u32,
            }
            .log();
            t.record(ran.is_ok(), "measured inference ran");
            $crate::mlperf::check_goldens(t, $model, &samples::INPUTS, &samples::OUTPUTS, |x, y| {
                NETWORK.infer(x, y, &mut scratch)
            })
        }
    };
}

#[cfg(feature = "mlperf-ad01-typed")]
mlperf_typed_program!(
    /// The model of `ad01` as a typed network over its memory plan.
    ad01_typed,
    mlperf_ad01_typed,
    "mlperf-ad01-typed"
);

#[cfg(feature = "mlperf-kws-typed")]
mlperf_typed_program!(
    /// The model of `kws` as a typed network over its memory plan.
    kws_typed,
    mlperf_kws_typed,
    "mlperf-kws-typed"
);

#[cfg(feature = "mlperf-resnet-typed")]
mlperf_typed_program!(
    /// The model of `resnet` as a typed network over its memory plan.
    resnet_typed,
    mlperf_resnet_typed,
    "mlperf-resnet-typed"
);

#[cfg(feature = "mlperf-kws-small")]
mlperf_program!(
    /// MLPerf Tiny keyword spotting planned for the smallest arena (its
    /// depthwise and pointwise layers written over their input, through a
    /// small scratch): what fits the Cortex-M0's 16 KiB of RAM; bit for bit.
    kws_small,
    mlperf_kws_small,
    "mlperf-kws-small"
);
