//! Every layer's backward against central finite differences (loss `r · y`
//! accumulated in f64, so the check sees only the layer's own rounding).

#[path = "common.rs"]
mod common;

use common::{check_grad, data, dot64};
use myelin_core::layers::*;
use myelin_core::train::{Init, Rng};

fn loss<L: Layer>(layer: &L, x: &L::Input, r: &[f32]) -> f64 {
    let mut y = L::Output::ZERO;
    let mut cache = L::Cache::ZERO;
    layer.forward(x, &mut y, &mut cache);
    dot64(y.flat(), r)
}

/// Adds `delta` to element `i` of parameter tensor `j`.
fn nudge<L: Layer>(layer: &mut L, j: usize, i: usize, delta: f32) {
    let (g, mut s1, mut s2) = (L::Grads::ZERO, L::Grads::ZERO, L::Grads::ZERO);
    let mut k = 0;
    layer.visit_params(&g, &mut s1, &mut s2, &mut |p, _, _, _| {
        if k == j {
            p[i] += delta;
        }
        k += 1;
    });
}

/// Checks input and parameter gradients of `layer` at input `x`.
fn check_layer<L: Layer>(name: &str, layer: &mut L, x: &L::Input, h: f32, tol: f64) {
    let r = data(L::Output::LEN, 99);
    let mut y = L::Output::ZERO;
    let mut cache = L::Cache::ZERO;
    layer.forward(x, &mut y, &mut cache);
    let mut dy = L::Output::ZERO;
    dy.flat_mut().copy_from_slice(&r);
    let mut dx = L::Input::ZERO;
    dx.flat_mut().fill(f32::NAN);
    let mut grads = L::Grads::ZERO;
    layer.backward(x, &y, &mut cache, &dy, &mut dx, &mut grads);

    check_grad(&format!("{name} dx"), x.flat(), dx.flat(), h, tol, |v| {
        let mut xi = *x;
        xi.flat_mut().copy_from_slice(v);
        loss(layer, &xi, &r)
    });

    let mut analytic: Vec<Vec<f32>> = Vec::new();
    grads.for_each(&mut |t| analytic.push(t.to_vec()));
    for (j, a) in analytic.iter().enumerate() {
        for (i, &ai) in a.iter().enumerate() {
            nudge(layer, j, i, h);
            let lp = loss(layer, x, &r);
            nudge(layer, j, i, -2.0 * h);
            let lm = loss(layer, x, &r);
            nudge(layer, j, i, h);
            let num = (lp - lm) / (2.0 * h as f64);
            assert!(
                (ai as f64 - num).abs() <= tol * num.abs().max(1.0),
                "{name} param {j}[{i}]: analytic {ai}, numeric {num}"
            );
        }
    }
    // Backward accumulates: a second call doubles the parameter gradients.
    let sum_abs = |g: &L::Grads| {
        let mut n = 0.0;
        g.for_each(&mut |t| n += t.iter().map(|v| v.abs()).sum::<f32>());
        n
    };
    let n1 = sum_abs(&grads);
    layer.backward(x, &y, &mut cache, &dy, &mut dx, &mut grads);
    let n2 = sum_abs(&grads);
    assert!(
        (n2 - 2.0 * n1).abs() <= 1e-4 * n1.max(1.0),
        "{name}: gradients must accumulate"
    );
}

fn input<T: Tensor>(seed: u64) -> T {
    let mut x = T::ZERO;
    x.flat_mut().copy_from_slice(&data(T::LEN, seed));
    // Keep values away from ReLU's kink.
    for v in x.flat_mut() {
        if v.abs() < 0.05 {
            *v += 0.1;
        }
    }
    x
}

fn init<L: Layer + Zero>(init: Init, seed: u64) -> L {
    let mut l = L::ZERO;
    l.init(init, &mut Rng::new(seed));
    l
}

#[test]
fn dense() {
    let mut l: Dense<5, 3> = init(Init::XavierUniform, 1);
    l.bias = [0.1, -0.2, 0.3];
    check_layer("dense", &mut l, &input(2), 1e-2, 1e-3);
}

#[test]
fn activations() {
    let x: [f32; 9] = input(3);
    check_layer("relu", &mut Relu::<[f32; 9]>::new(), &x, 1e-2, 1e-3);
    check_layer("sigmoid", &mut Sigmoid::<[f32; 9]>::new(), &x, 1e-2, 1e-3);
    check_layer("tanh", &mut Tanh::<[f32; 9]>::new(), &x, 1e-2, 1e-3);
    check_layer("softmax", &mut Softmax::<[f32; 9]>::new(), &x, 1e-2, 1e-3);
    let x3: [[[f32; 3]; 2]; 2] = input(4);
    check_layer(
        "relu 3-d",
        &mut Relu::<[[[f32; 3]; 2]; 2]>::new(),
        &x3,
        1e-2,
        1e-3,
    );
}

#[test]
fn conv2d() {
    let mut l: Conv2d<2, 6, 5, 3, 3, 1, 1, 6, 5> = init(Init::HeUniform, 5);
    l.bias = [0.1, 0.0, -0.1];
    check_layer("conv2d s1 p1", &mut l, &input(6), 1e-2, 1e-3);
    let mut l: Conv2d<2, 7, 6, 2, 3, 2, 0, 3, 2> = init(Init::HeNormal, 7);
    check_layer("conv2d s2 p0", &mut l, &input(8), 1e-2, 1e-3);
}

#[test]
fn conv1d() {
    let mut l: Conv1d<2, 9, 3, 3, 2, 1, 5> = init(Init::XavierNormal, 9);
    check_layer("conv1d", &mut l, &input(10), 1e-2, 1e-3);
}

#[test]
fn pooling_and_flatten() {
    // Distinct values 0.1 apart, so no window maximum changes under the step.
    let mut x = [[[0.0f32; 6]; 4]; 2];
    for (i, v) in x.flat_mut().iter_mut().enumerate() {
        *v = ((i * 29) % 48) as f32 * 0.1 - 2.0;
    }
    check_layer(
        "max_pool",
        &mut MaxPool2d::<2, 4, 6, 2, 2, 2, 3>,
        &x,
        1e-3,
        1e-3,
    );
    check_layer(
        "avg_pool",
        &mut AvgPool2d::<2, 4, 6, 2, 2, 2, 3>,
        &x,
        1e-2,
        1e-3,
    );
    check_layer(
        "max_pool overlap",
        &mut MaxPool2d::<2, 4, 6, 3, 1, 2, 4>,
        &x,
        1e-3,
        1e-3,
    );
    check_layer(
        "flatten",
        &mut Flatten::<[[[f32; 6]; 4]; 2], 48>::new(),
        &x,
        1e-2,
        1e-3,
    );
}

#[test]
fn lstm() {
    let mut l: Lstm<3, 4, 5> = init(Init::XavierUniform, 11);
    check_layer("lstm", &mut l, &input(12), 1e-2, 2e-3);
    check_layer("last_step", &mut LastStep::<4, 5>, &input(13), 1e-2, 1e-3);
}

#[test]
fn residual_and_chain() {
    let mut l: Residual<Chain<Dense<4, 4>, Tanh<[f32; 4]>>> = init(Init::XavierUniform, 14);
    check_layer("residual", &mut l, &input(15), 1e-2, 1e-3);
    type Deep = Chain<
        Conv2d<1, 6, 6, 2, 3, 1, 0, 4, 4>,
        Chain<
            Sigmoid<[[[f32; 4]; 4]; 2]>,
            Chain<
                AvgPool2d<2, 4, 4, 2, 2, 2, 2>,
                Chain<Flatten<[[[f32; 2]; 2]; 2], 8>, Dense<8, 3>>,
            >,
        >,
    >;
    let mut net: Deep = init(Init::XavierUniform, 16);
    check_layer("chain", &mut net, &input(17), 1e-2, 1e-3);
    assert_eq!(net.param_count(), 2 * 9 + 2 + 8 * 3 + 3);
}
