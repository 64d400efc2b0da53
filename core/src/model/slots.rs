//! Value slots of a graph run without a memory plan: the model input, then
//! every node's output, one after another in node order.

use super::{Model, shape_len};
use core::ops::Range;

/// Elements of the model input and of every node's output.
pub(super) fn slots_len(model: &Model<'_>) -> usize {
    model.layers().fold(model.input_len(), |n, l| {
        n.saturating_add(shape_len(l.out_shape))
    })
}

/// Elements of value `r` (0 the input, `k` node `k - 1`'s output) in the
/// slots; empty at the end of the slots for a node that does not exist.
pub(super) fn value_slot(model: &Model<'_>, r: usize) -> Range<usize> {
    if r == 0 {
        return 0..model.input_len();
    }
    let start = model
        .layers()
        .take(r - 1)
        .fold(model.input_len(), |n, l| n + shape_len(l.out_shape));
    let len = model
        .layer(r - 1)
        .map(|l| shape_len(l.out_shape))
        .unwrap_or(0);
    start..start + len
}
