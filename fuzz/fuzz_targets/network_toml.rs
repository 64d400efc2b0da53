//! TOML network descriptions: parse and check a description against an input
//! shape (picked from the input length); networks small enough to build in a
//! few milliseconds are built, encoded and decoded again, and ones with a
//! size field beyond what a model file holds must be refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin_core::model;
use myelin_host::net::{LayerSpec, Network, NodeOp, recipe_from_toml_str};

/// Sample shapes to check descriptions against: MNIST, a flat vector, a
/// small colour image, a sequence.
const INPUTS: [[usize; 3]; 4] = [[1, 28, 28], [1, 1, 16], [3, 8, 8], [1, 5, 7]];

/// Largest width (units, filters, hidden) built in full.
const BUILD_LIMIT: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let input = INPUTS[data.len() % INPUTS.len()];
    let Ok(recipe) = recipe_from_toml_str(text, input) else {
        return;
    };
    assert!(!recipe.layers.is_empty());
    let sizes = recipe.layers.iter().map(|node| match node.op {
        NodeOp::Layer(ref l) => match *l {
            LayerSpec::Dense { units, .. } => (units, 0),
            LayerSpec::Conv2d {
                filters, kernel, ..
            } => (filters, kernel),
            LayerSpec::Conv {
                filters, kernel, ..
            } => (filters, kernel[0].max(kernel[1])),
            LayerSpec::MaxPool2d { size, .. } => (0, size),
            LayerSpec::Pool { size, .. } => (0, size[0].max(size[1])),
            LayerSpec::Lstm { hidden } => (hidden, 0),
            _ => (0, 0),
        },
        NodeOp::Residual {
            filters, kernel, ..
        }
        | NodeOp::Separable {
            filters, kernel, ..
        } => (filters, kernel),
    });
    let (width, window) = sizes.fold((0, 0), |(w, k), (a, b)| (w.max(a), k.max(b)));
    if width > model::MAX_ELEMENTS {
        // Some tensor would exceed what a model file holds: building must
        // refuse it, and -malloc_limit_mb proves it does so without trying
        // to allocate it.
        assert!(Network::from_nodes(input, &recipe.layers).is_err());
        return;
    }
    if recipe.layers.len() > 8 || width > BUILD_LIMIT || window > 8 {
        return;
    }
    if let Ok(net) = Network::from_nodes(input, &recipe.layers) {
        let bytes = net.encode().expect("a built network encodes");
        assert_eq!(Network::decode(&bytes).expect("and decodes"), net);
    }
});
