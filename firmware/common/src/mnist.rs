//! Programs on the trained MNIST models of `myelin-fw-models`: each runs a
//! model exported by `myelin export` on the test images embedded with it and
//! checks every prediction against what the host computed for the same image.
//!
//! Only boards that enable a model's feature (flash permitting) compile the
//! programs that use it.

use crate::Checks;
#[cfg(any(
    feature = "mnist-mlp-f32",
    feature = "mnist-mlp-int8",
    feature = "mnist-cnn-int8",
    feature = "resnet8-int8"
))]
use crate::measure;

/// The network input for raw pixels: `pixel / 255`, as the host computes it.
#[inline(never)]
pub fn pixels_to_input(pixels: &[u8], x: &mut [f32]) {
    for (v, &p) in x.iter_mut().zip(pixels) {
        *v = f32::from(p) / 255.0;
    }
}

/// Whether an f32 output computed here agrees with the host's: the two
/// sum in different orders (scalar here, SIMD there), so they may differ in
/// the last bits, never more than this.
fn close(got: f32, want: f32) -> bool {
    let d = got - want;
    let tol = 1e-4 * (1.0 + if want < 0.0 { -want } else { want });
    -tol <= d && d <= tol
}

/// Agreement with the host and accuracy over the embedded samples.
#[derive(Debug, Default)]
pub struct Tally {
    samples: u32,
    same_class: u32,
    same_outputs: u32,
    correct: u32,
    host_correct: u32,
}

impl Tally {
    /// No samples yet.
    pub const fn new() -> Self {
        Self {
            samples: 0,
            same_class: 0,
            same_outputs: 0,
            correct: 0,
            host_correct: 0,
        }
    }

    /// Counts sample `i`: its class here and the host's, whether the outputs
    /// agree, and the true label. Logs every disagreement.
    pub fn add(&mut self, i: usize, class: u8, host_class: u8, outputs_agree: bool, label: u8) {
        self.samples += 1;
        self.same_class += u32::from(class == host_class);
        self.same_outputs += u32::from(outputs_agree);
        self.correct += u32::from(class == label);
        self.host_correct += u32::from(host_class == label);
        if class != host_class || !outputs_agree {
            defmt::error!(
                "sample {}: class {} (host {}), outputs agree: {}",
                i,
                class,
                host_class,
                outputs_agree
            );
        }
    }

    /// Counts an f32 sample: outputs agree when each is [`close`] to the host's.
    pub fn add_f32(&mut self, i: usize, y: &[f32], host: &[f32], host_class: u8, label: u8) {
        let class = myelin_core::train::argmax(y) as u8;
        let agree = y.len() == host.len() && y.iter().zip(host).all(|(&a, &b)| close(a, b));
        self.add(i, class, host_class, agree, label);
    }

    /// Counts an int8 sample: outputs agree when they are equal, bit for bit.
    pub fn add_i8(&mut self, i: usize, y: &[i8], host: &[i8], host_class: u8, label: u8) {
        let class = argmax_i8(y) as u8;
        self.add(i, class, host_class, y == host, label);
    }

    /// Logs the accuracy and records the checks: every class equals the
    /// host's, every output agrees, accuracy equals the host's (and is sane).
    pub fn check(&self, t: &mut Checks, what: &str, exact: bool) {
        let n = self.samples.max(1);
        defmt::info!(
            "{=str}: accuracy {}/{} = {}.{}% (host {}/{}); class == host on {}/{}, outputs {=str} on {}/{}",
            what,
            self.correct,
            self.samples,
            self.correct * 100 / n,
            self.correct * 1000 / n % 10,
            self.host_correct,
            self.samples,
            self.same_class,
            self.samples,
            if exact { "bit-exact" } else { "within 1e-4" },
            self.same_outputs,
            self.samples
        );
        t.record(self.samples > 0, "samples ran");
        t.record(self.same_class == self.samples, "every class == host's");
        t.record(
            self.same_outputs == self.samples,
            if exact {
                "every output == host's, bit for bit"
            } else {
                "every output within 1e-4 (relative) of host's"
            },
        );
        t.record(
            self.correct == self.host_correct,
            "accuracy == host's on the same samples",
        );
        t.record(self.correct * 10 >= self.samples * 9, "accuracy >= 90%");
    }

    /// Correct predictions so far.
    pub fn correct(&self) -> u32 {
        self.correct
    }
}

/// Index of the largest value (the first on ties), as the host's argmax.
pub fn argmax_i8(y: &[i8]) -> usize {
    let mut best = 0;
    for (i, &v) in y.iter().enumerate() {
        if v > y[best] {
            best = i;
        }
    }
    best
}

/// Bytes of the f32 mnist-mlp's embedded test data.
#[cfg(feature = "mnist-mlp-f32")]
pub fn f32_sample_bytes() -> u32 {
    use core::mem::size_of_val;
    use myelin_fw_models::mnist_mlp_f32::samples as s;
    (size_of_val(&s::PIXELS)
        + size_of_val(&s::LABELS)
        + size_of_val(&s::OUTPUTS)
        + size_of_val(&s::CLASSES)) as u32
}

/// The f32 mnist-mlp as a typed network (static weights) on every embedded
/// test image, against the host's outputs; the first inference is measured.
#[cfg(feature = "mnist-mlp-f32")]
pub fn mnist_mlp_f32() -> ! {
    use myelin_fw_models::mnist_mlp_f32::{self as m, samples};
    measure::paint_stack();
    let mut t = Checks::new();
    let mut scratch = m::Scratch::ZERO;
    let mut x = [0.0f32; m::INPUT];
    let mut y = [0.0f32; m::OUTPUT];
    pixels_to_input(&samples::PIXELS[0], &mut x);
    let x0 = core::hint::black_box(&x);
    measure::instructions(|| m::NETWORK.infer(x0, &mut y, &mut scratch));
    let stack = measure::peak_stack();
    measure::report_with_data(
        "mnist-mlp",
        "f32",
        m::MACS as u32,
        m::WEIGHTS_BYTES as u32,
        f32_sample_bytes(),
        stack,
    );
    let mut tally = Tally::new();
    for i in 0..samples::COUNT {
        pixels_to_input(&samples::PIXELS[i], &mut x);
        m::NETWORK.infer(&x, &mut y, &mut scratch);
        tally.add_f32(
            i,
            &y,
            &samples::OUTPUTS[i],
            samples::CLASSES[i],
            samples::LABELS[i],
        );
    }
    tally.check(&mut t, "mnist-mlp f32 (typed, static weights)", false);
    t.finish()
}

/// The same mnist-mlp from its model file embedded with `include_bytes!`,
/// parsed in place and run by `Model::infer`; checked like [`mnist_mlp_f32`].
#[cfg(all(feature = "mnist-mlp-f32", feature = "mnist-mlp-file"))]
pub fn mnist_mlp_file() -> ! {
    use myelin_core::model::{Model, scratch_len};
    use myelin_fw_models::{MNIST_MLP_FILE, mnist_mlp_f32::samples};
    /// Floats of scratch for `Model::infer` (three activations and a row).
    const SCRATCH: usize = 4 * 784;
    measure::paint_stack();
    let mut t = Checks::new();
    let model = match Model::parse(&MNIST_MLP_FILE.0) {
        Ok(m) => m,
        Err(e) => {
            defmt::error!("model file: {}", e);
            crate::exit_failure()
        }
    };
    let need = scratch_len(&model);
    defmt::info!(
        "model file: {} bytes, {} layers, scratch {} floats",
        MNIST_MLP_FILE.0.len(),
        model.layer_count(),
        need
    );
    if !t.record(need <= SCRATCH, "scratch fits") {
        t.finish()
    }
    let mut scratch = [0.0f32; SCRATCH];
    let mut x = [0.0f32; 784];
    pixels_to_input(&samples::PIXELS[0], &mut x);
    let x0 = core::hint::black_box(&x);
    let first = measure::instructions(|| model.infer(x0, &mut scratch).is_ok());
    let stack = measure::peak_stack();
    let weights: usize = model.tensors().map(|t| t.data.len()).sum();
    // The file's tables and padding count as weights: they are the model.
    measure::report_with_data(
        "mnist-mlp-file",
        "f32",
        myelin_fw_models::mnist_mlp_f32::MACS as u32,
        MNIST_MLP_FILE.0.len().max(weights) as u32,
        f32_sample_bytes(),
        stack,
    );
    t.record(first, "first inference ran");
    let mut tally = Tally::new();
    for i in 0..samples::COUNT {
        pixels_to_input(&samples::PIXELS[i], &mut x);
        match model.infer(&x, &mut scratch) {
            Ok(y) => tally.add_f32(
                i,
                y,
                &samples::OUTPUTS[i],
                samples::CLASSES[i],
                samples::LABELS[i],
            ),
            Err(e) => {
                defmt::error!("sample {}: {}", i, e);
                tally.add(i, u8::MAX, samples::CLASSES[i], false, samples::LABELS[i]);
            }
        }
    }
    tally.check(&mut t, "mnist-mlp f32 (model file, zero-copy)", false);
    t.finish()
}

/// The input codes of raw pixels, through the model's pixel-to-code table.
#[inline(never)]
pub fn pixels_to_codes(pixels: &[u8], table: &[i8; 256], x: &mut [i8]) {
    for (v, &p) in x.iter_mut().zip(pixels) {
        *v = table[usize::from(p)];
    }
}

/// A program running an int8 model of `myelin-fw-models` on every embedded
/// test image, checking the raw output codes against the host's bit for bit.
macro_rules! int8_program {
    ($(#[$doc:meta])* $name:ident, $module:ident, $model:literal) => {
        $(#[$doc])*
        pub fn $name() -> ! {
            use core::mem::size_of_val;
            use myelin_fw_models::$module::{self as m, samples};
            measure::paint_stack();
            let mut t = Checks::new();
            let mut scratch = m::Scratch::ZERO;
            let mut x = [0i8; m::INPUT];
            let mut y = [0i8; m::OUTPUT];
            pixels_to_codes(&samples::PIXELS[0], &m::PIXEL_CODES, &mut x);
            let x0 = core::hint::black_box(&x);
            let ran = measure::instructions(|| m::NETWORK.infer(x0, &mut y, &mut scratch));
            let stack = measure::peak_stack();
            let data = size_of_val(&samples::PIXELS)
                + size_of_val(&samples::LABELS)
                + size_of_val(&samples::OUTPUTS)
                + size_of_val(&samples::CLASSES)
                + size_of_val(&m::PIXEL_CODES);
            measure::report_with_data(
                $model,
                "int8",
                m::MACS as u32,
                m::WEIGHTS_BYTES as u32,
                data as u32,
                stack,
            );
            t.record(ran.is_ok(), "measured inference ran");
            let mut tally = Tally::new();
            for i in 0..samples::COUNT {
                pixels_to_codes(&samples::PIXELS[i], &m::PIXEL_CODES, &mut x);
                if m::NETWORK.infer(&x, &mut y, &mut scratch).is_err() {
                    defmt::error!("sample {}: inference failed", i);
                    y = [i8::MIN; m::OUTPUT];
                }
                tally.add_i8(i, &y, &samples::OUTPUTS[i], samples::CLASSES[i], samples::LABELS[i]);
            }
            tally.check(&mut t, concat!($model, " int8"), true);
            t.finish()
        }
    };
}

#[cfg(feature = "mnist-mlp-int8")]
int8_program!(
    /// The int8 mnist-mlp (typed network, static weights; `SMLAD` where the
    /// core has DSP) on every embedded test image, bit for bit against the
    /// host; the first inference is measured.
    mnist_mlp_int8,
    mnist_mlp_int8,
    "mnist-mlp"
);

#[cfg(feature = "mnist-cnn-int8")]
int8_program!(
    /// The int8 mnist-cnn (two convolutions, two max pools, dense) on every
    /// embedded test image, bit for bit against the host; the first inference
    /// is measured.
    mnist_cnn_int8,
    mnist_cnn_int8,
    "mnist-cnn"
);

#[cfg(feature = "resnet8-int8")]
int8_program!(
    /// The int8 ResNet-8 graph (three residual stages with stride-2 and 1x1
    /// projections, global average pool, dense) from its model file, parsed
    /// in place, on every embedded test image, bit for bit against the host;
    /// the first inference (parse and checksum included) is measured.
    resnet8_int8,
    resnet8_int8,
    "resnet8"
);
