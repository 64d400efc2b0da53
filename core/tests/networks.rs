//! Whole fixed-size networks learning small tasks with the core alone (no
//! allocation in the training loops: every buffer is a fixed-size value).

use myelin_core::layers::*;
use myelin_core::train::xor::{XorTrainer, train_xor};
use myelin_core::train::{Adam, Init, Rng, argmax, cross_entropy};

#[test]
fn xor_learns_to_100_percent_from_every_seed() {
    for seed in 0..20 {
        let r = train_xor(seed, 3000);
        assert_eq!(r.correct, 4, "seed {seed}: {r:?}");
        assert!(r.loss < 0.05, "seed {seed}: {r:?}");
    }
}

#[test]
fn xor_trainer_loss_decreases() {
    let mut t = XorTrainer::new(3);
    let first = t.epoch();
    let mut last = first;
    for _ in 0..500 {
        last = t.epoch();
    }
    assert!(last < first * 0.2, "{first} -> {last}");
}

/// 8x8 images holding one horizontal (class 0) or vertical (class 1) bar of
/// length 5 at a random place, plus uniform noise.
fn bar_image(rng: &mut Rng) -> ([[[f32; 8]; 8]; 1], usize) {
    let mut img = [[[0.0f32; 8]; 8]; 1];
    for row in img[0].iter_mut() {
        for v in row.iter_mut() {
            *v = rng.range(-0.3, 0.3);
        }
    }
    let class = rng.below(2);
    let (a, b) = (rng.below(8), rng.below(4));
    for k in 0..5 {
        if class == 0 {
            img[0][a][b + k] += 1.0;
        } else {
            img[0][b + k][a] += 1.0;
        }
    }
    (img, class)
}

type BarNet = myelin_core::net![
    Conv2d<1, 8, 8, 4, 3, 1, 0, 6, 6>,
    Relu<[[[f32; 6]; 6]; 4]>,
    MaxPool2d<4, 6, 6, 2, 2, 3, 3>,
    Flatten<[[[f32; 3]; 3]; 4], 36>,
    Dense<36, 2>,
];

#[test]
fn conv_net_learns_bar_orientation() {
    let mut rng = Rng::new(5);
    let mut net = BarNet::ZERO;
    net.init(Init::HeUniform, &mut rng);
    let mut cache = <BarNet as Layer>::Cache::ZERO;
    let mut grads = <BarNet as Layer>::Grads::ZERO;
    let mut state = OptState::ZERO;
    let opt = Optimizer::Adam(Adam::new(0.01));
    const BATCH: usize = 16;
    for _ in 0..60 {
        grads.clear();
        for _ in 0..BATCH {
            let (x, class) = bar_image(&mut rng);
            let mut y = [0.0; 2];
            net.forward(&x, &mut y, &mut cache);
            let mut dy = [0.0; 2];
            cross_entropy(&y, class, &mut dy);
            let mut dx = [[[0.0; 8]; 8]; 1];
            net.backward(&x, &y, &mut cache, &dy, &mut dx, &mut grads);
        }
        grads.scale(1.0 / BATCH as f32);
        opt.step(&mut net, &grads, &mut state);
    }
    let mut test = Rng::new(1234);
    let mut correct = 0;
    for _ in 0..200 {
        let (x, class) = bar_image(&mut test);
        let mut y = [0.0; 2];
        net.forward(&x, &mut y, &mut cache);
        correct += (argmax(&y) == class) as usize;
    }
    assert!(correct >= 190, "{correct}/200 correct");
}

#[test]
fn lstm_learns_to_remember_the_first_step() {
    // Sequence of 6 steps; the class is the sign of the first step's input,
    // later steps are noise: the LSTM must carry it through its cell.
    type Net = myelin_core::net![Lstm<1, 8, 6>, LastStep<8, 6>, Dense<8, 2>];
    let mut rng = Rng::new(9);
    let mut net = Net::ZERO;
    net.init(Init::XavierUniform, &mut rng);
    let mut cache = <Net as Layer>::Cache::ZERO;
    let mut grads = <Net as Layer>::Grads::ZERO;
    let mut state = OptState::ZERO;
    let opt = Optimizer::Adam(Adam::new(0.02));
    let sample = |rng: &mut Rng| {
        let mut x = [[0.0f32; 1]; 6];
        for s in x.iter_mut() {
            s[0] = rng.range(-0.5, 0.5);
        }
        let class = rng.below(2);
        x[0][0] = if class == 1 { 1.0 } else { -1.0 };
        (x, class)
    };
    for _ in 0..150 {
        grads.clear();
        for _ in 0..16 {
            let (x, class) = sample(&mut rng);
            let mut y = [0.0; 2];
            net.forward(&x, &mut y, &mut cache);
            let mut dy = [0.0; 2];
            cross_entropy(&y, class, &mut dy);
            let mut dx = [[0.0; 1]; 6];
            net.backward(&x, &y, &mut cache, &dy, &mut dx, &mut grads);
        }
        grads.scale(1.0 / 16.0);
        opt.step(&mut net, &grads, &mut state);
    }
    let mut correct = 0;
    for _ in 0..200 {
        let (x, class) = sample(&mut rng);
        let mut y = [0.0; 2];
        net.forward(&x, &mut y, &mut cache);
        correct += (argmax(&y) == class) as usize;
    }
    assert!(correct >= 195, "{correct}/200 correct");
}
