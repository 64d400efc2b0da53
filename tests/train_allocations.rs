//! A training run allocates nothing and starts no thread per step: a run of
//! 40 steps makes exactly as many heap allocations (all threads counted) as
//! a run of 10. The binary holds this one test, so nothing else allocates
//! while it counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use myelin::core::model::Activation;
use myelin::core::train::Rng;
use myelin::host::data::Dataset;
use myelin::host::net::{Hyper, LayerSpec, Network, OptimizerKind, Schedule};
use myelin::host::train::{Options, Trainer};

/// The system allocator, counting allocations and reallocations.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// `n` 8x8 images whose class lights one of four rows, plus noise.
fn rows(n: usize, seed: u64) -> Dataset {
    let mut r = Rng::new(seed);
    let mut inputs = Vec::with_capacity(n * 64);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % 4;
        for y in 0..8 {
            for _ in 0..8 {
                let on = if y / 2 == c { 0.8 } else { 0.0 };
                inputs.push(on + 0.2 * r.uniform());
            }
        }
        labels.push(c as u8);
    }
    Dataset {
        sample_dims: vec![8, 8],
        inputs,
        labels,
    }
}

/// Heap allocations of one epoch over `n` samples (batch 16, 2 threads).
fn allocations_of_an_epoch(n: usize, opt: OptimizerKind, clip: f32) -> usize {
    let specs = [
        LayerSpec::Conv2d {
            filters: 3,
            kernel: 3,
            stride: 1,
            padding: 1,
            activation: Activation::Relu,
        },
        LayerSpec::MaxPool2d { size: 2, stride: 2 },
        LayerSpec::Dense {
            units: 4,
            activation: Activation::Identity,
        },
    ];
    let mut net = Network::from_specs([1, 8, 8], &specs).unwrap();
    net.init(&mut Rng::new(1));
    let hyper = Hyper {
        epochs: 1,
        batch: 16,
        lr: 0.01,
        optimizer: opt,
        schedule: Schedule::Constant,
        weight_decay: 1e-4,
        patience: 0,
        validation: 0,
        clip_grad_norm: clip,
        augment_shift: 1,
    };
    let train = rows(n, 2);
    let val = rows(40, 3);
    let opts = Options {
        checkpoint: None,
        progress: false,
    };
    let mut t = Trainer::new(net, "alloc", hyper, 4, 2);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let s = t.run(&train, &val, &opts).unwrap();
    let count = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(s.history.len(), 1);
    count
}

#[test]
fn a_training_step_allocates_nothing() {
    // The test thread's first wait on a channel allocates its parking
    // context once per process: a first run takes it.
    allocations_of_an_epoch(160, OptimizerKind::SGD, 0.0);
    for (opt, clip) in [(OptimizerKind::SGD, 0.0), (OptimizerKind::ADAM, 0.5)] {
        let short = allocations_of_an_epoch(160, opt, clip);
        let long = allocations_of_an_epoch(640, opt, clip);
        assert!(short > 0, "the run's setup allocates");
        // The helper thread's own first wait may fall in either run.
        assert!(
            long.abs_diff(short) <= 1,
            "{opt:?}: {long} allocations in 40 steps, {short} in 10"
        );
    }
}
