//! On-device learning: the trained f32 mnist-mlp meets a shifted domain
//! (inverted digits, `255 - pixel`) and fine-tunes its last layer on the
//! board, with `myelin-core`'s `Dense::backward`, cross-entropy and SGD over
//! fixed-size buffers (no allocator).
//!
//! The head, its gradients, the SGD state and the activations live in one
//! `static` (zeroed `.bss`, about 48 KB). The embedded test images are split
//! in two: the first [`TRAIN`] (inverted) to fine-tune on, the rest
//! (inverted) held out. Accuracy on the held-out images is measured before
//! and after, with the same code.

use crate::{Checks, check, measure};
use myelin_core::layers::{Dense, DenseGrads, Layer, OptState, Optimizer, Zero};
use myelin_core::train::{Rng, Sgd, argmax, cross_entropy};
use myelin_fw_models::mnist_mlp_f32::{self as m, samples};

/// Hidden features the last layer reads.
const FEATURES: usize = 256;
/// Images fine-tuned on; the rest of the embedded ones are held out.
const TRAIN: usize = 300;
/// Passes over the fine-tuning images.
const EPOCHS: usize = 4;
/// Samples per SGD step.
const BATCH: usize = 10;
/// Learning rate and momentum.
const SGD: Sgd = Sgd::with_momentum(0.01, 0.9);

/// The trainable head: the model's last layer, copied to RAM.
type Head = Dense<FEATURES, { m::OUTPUT }>;

/// Everything that changes while learning: one fixed-size value in static
/// RAM (`.bss`), about 48 KB.
static mut STATE: State = State::ZERO;

/// Everything that changes while learning, in one fixed-size value.
struct State {
    head: Head,
    grads: DenseGrads<FEATURES, { m::OUTPUT }>,
    opt: OptState<DenseGrads<FEATURES, { m::OUTPUT }>>,
    scratch: m::Scratch,
    x: [f32; m::INPUT],
    features: [f32; FEATURES],
    logits: [f32; m::OUTPUT],
    dlogits: [f32; m::OUTPUT],
    dfeatures: [f32; FEATURES],
}

impl State {
    /// All zero (the head is copied from the trained model at start).
    const ZERO: Self = Self {
        head: Zero::ZERO,
        grads: Zero::ZERO,
        opt: Zero::ZERO,
        scratch: m::Scratch::ZERO,
        x: [0.0; m::INPUT],
        features: [0.0; FEATURES],
        logits: [0.0; m::OUTPUT],
        dlogits: [0.0; m::OUTPUT],
        dfeatures: [0.0; FEATURES],
    };

    /// The frozen body on sample `i` of the shifted domain: `features` gets the
    /// last hidden layer (after ReLU).
    fn features(&mut self, i: usize) {
        for (v, &p) in self.x.iter_mut().zip(&samples::PIXELS[i]) {
            *v = f32::from(255 - p) / 255.0;
        }
        let h1: &mut [f32; FEATURES] = first(&mut self.scratch.0);
        m::NETWORK.l1.infer(&self.x, h1);
        myelin_core::kernels::relu_inplace(h1);
        m::NETWORK.l2.infer(h1, &mut self.features);
        myelin_core::kernels::relu_inplace(&mut self.features);
    }

    /// Correct predictions of the current head on held-out samples.
    fn held_out_correct(&mut self) -> u32 {
        let mut correct = 0;
        for i in TRAIN..samples::COUNT {
            self.features(i);
            self.head.infer(&self.features, &mut self.logits);
            correct += u32::from(argmax(&self.logits) == usize::from(samples::LABELS[i]));
        }
        correct
    }

    /// Forward and backward of the head on sample `i`: adds its gradients; returns the loss.
    fn accumulate(&mut self, i: usize) -> f32 {
        self.features(i);
        self.head.forward(&self.features, &mut self.logits, &mut ());
        let loss = cross_entropy(
            &self.logits,
            usize::from(samples::LABELS[i]),
            &mut self.dlogits,
        );
        self.head.backward(
            &self.features,
            &self.logits,
            &mut (),
            &self.dlogits,
            &mut self.dfeatures,
            &mut self.grads,
        );
        loss
    }

    /// One SGD step on the accumulated gradients, averaged over `n` samples.
    fn step(&mut self, n: usize) {
        use myelin_core::layers::Params;
        self.grads.scale(1.0 / n as f32);
        Optimizer::Sgd(SGD).step(&mut self.head, &self.grads, &mut self.opt);
        self.grads.clear();
    }
}

fn first<const N: usize>(buf: &mut [f32; m::SCRATCH_A]) -> &mut [f32; N] {
    const { assert!(N <= m::SCRATCH_A) };
    match buf.first_chunk_mut::<N>() {
        Some(p) => p,
        None => unreachable!(),
    }
}

/// Percent with one decimal, as two integers.
fn percent(correct: u32, n: u32) -> (u32, u32) {
    let n = n.max(1);
    (correct * 100 / n, correct * 1000 / n % 10)
}

/// Bytes of the test data this program links: the images and their labels
/// (the host's outputs, which the inference programs compare against, are
/// not used here).
fn learn_data_bytes() -> u32 {
    (core::mem::size_of_val(&samples::PIXELS) + core::mem::size_of_val(&samples::LABELS)) as u32
}

/// Fine-tunes the last layer on inverted digits and checks that held-out
/// accuracy improved. One fine-tuning sample (forward through the frozen
/// body, head backward) is measured for the report.
pub fn learn_f32() -> ! {
    const { assert!(TRAIN < samples::COUNT && TRAIN.is_multiple_of(BATCH)) };
    measure::paint_stack();
    let mut t = Checks::new();
    // SAFETY: this function runs once (it never returns), on one core, with no
    // interrupt handler that touches STATE: this is the only reference to it.
    let s = unsafe { &mut *core::ptr::addr_of_mut!(STATE) };
    s.head = m::NETWORK.l3;
    let held_out = (samples::COUNT - TRAIN) as u32;
    let before = s.held_out_correct();
    let (bp, bd) = percent(before, held_out);
    defmt::info!(
        "inverted digits, held out: {}/{} = {}.{}% before fine-tuning",
        before,
        held_out,
        bp,
        bd
    );

    let mut order = [0u16; TRAIN];
    for (k, o) in order.iter_mut().enumerate() {
        *o = k as u16;
    }
    let mut rng = Rng::new(7);
    let train_macs = (m::MACS + 2 * FEATURES * m::OUTPUT) as u32;
    let weights = m::WEIGHTS_BYTES as u32;
    let mut measured = false;
    for epoch in 0..EPOCHS {
        rng.shuffle(&mut order);
        let mut loss = 0.0;
        for batch in order.chunks(BATCH) {
            for &i in batch {
                if !measured {
                    loss += measure::instructions(|| s.accumulate(usize::from(i)));
                    let stack = measure::peak_stack();
                    measure::report_with_data(
                        "mnist-mlp-finetune",
                        "f32-train",
                        train_macs,
                        weights,
                        learn_data_bytes(),
                        stack,
                    );
                    measured = true;
                } else {
                    loss += s.accumulate(usize::from(i));
                }
            }
            s.step(batch.len());
        }
        defmt::info!("epoch {}: mean loss {}", epoch + 1, loss / TRAIN as f32);
    }

    let after = s.held_out_correct();
    let (ap, ad) = percent(after, held_out);
    defmt::info!(
        "inverted digits, held out: {}/{} = {}.{}% after fine-tuning the last layer on {} images ({} SGD steps)",
        after,
        held_out,
        ap,
        ad,
        TRAIN,
        EPOCHS * TRAIN / BATCH
    );
    check!(t, after > before);
    check!(t, s.opt.t as usize == EPOCHS * TRAIN / BATCH);
    // The original domain still works with the original head (the body is frozen).
    let mut y = [0.0; m::OUTPUT];
    crate::mnist::pixels_to_input(&samples::PIXELS[0], &mut s.x);
    m::NETWORK.infer(&s.x, &mut y, &mut s.scratch);
    check!(t, argmax(&y) == usize::from(samples::CLASSES[0]));
    t.finish()
}
