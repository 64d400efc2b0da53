//! Static memory planning of a model's int8 activations: where each value
//! (the model input and every node's output) lives in one activation arena.
//!
//! Values are numbered as node inputs are (`0` the model input, `k` node
//! `k - 1`'s output). Value `v` is born at step `v` (node `v - 1` writes it;
//! the input exists before step 1) and lives through the last step that
//! reads it; the model's output lives to the end. Two values whose lifetimes
//! overlap must not share bytes, except that a node may write its output
//! over its only input when the input dies there and the node allows it
//! ([`in_place`]: reshape). [`plan`] places values greedily, largest first,
//! each at the lowest offset that clears every placed value it overlaps in
//! time; [`lower_bound`] is the largest sum of simultaneously live values,
//! which no plan without in-place writes beats.

use super::{LayerKind, LayerView, Model, shape_len};

/// The lifetime of one value over the schedule, in steps (node `k - 1` runs
/// at step `k`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// `i8` elements.
    pub len: usize,
    /// The step that writes it (0 for the model input).
    pub birth: usize,
    /// The last step that reads it (the step count for the model output).
    pub death: usize,
}

impl Lifetime {
    /// Whether the two values are ever live at the same step.
    pub fn overlaps(&self, o: &Lifetime) -> bool {
        self.birth <= o.death && o.birth <= self.death
    }
}

/// Whether a node may write its output over its input (same bytes, same
/// offset): it reads each input element only to write the same element.
pub fn in_place(l: &LayerView<'_>) -> bool {
    l.kind == LayerKind::Reshape && l.inputs().len() == 1
}

/// The lifetime of value `v` of `model` (`None` past the last node).
pub fn lifetime(model: &Model<'_>, v: usize) -> Option<Lifetime> {
    let steps = model.layer_count();
    let len = match v {
        0 => model.input_len(),
        _ => shape_len(model.layer(v - 1)?.out_shape),
    };
    let death = if v == steps {
        steps
    } else {
        model
            .layers()
            .enumerate()
            .filter(|(_, l)| l.inputs().contains(&v))
            .map(|(i, _)| i + 1)
            .max()
            .unwrap_or(v)
    };
    Some(Lifetime {
        len,
        birth: v,
        death,
    })
}

/// Whether value `v` may share the bytes of value `u` (`u < v`) at the same
/// offset: node `v - 1` writes over its only input `u`, which dies there.
pub fn may_alias(model: &Model<'_>, u: usize, v: usize) -> bool {
    let (Some(l), Some(lu)) = (
        v.checked_sub(1).and_then(|i| model.layer(i)),
        lifetime(model, u),
    ) else {
        return false;
    };
    in_place(&l) && l.inputs() == [u] && lu.death == v
}

/// The largest sum of the lengths of values live at one step.
pub fn lower_bound(model: &Model<'_>) -> usize {
    (0..=model.layer_count())
        .map(|s| {
            (0..=model.layer_count())
                .filter_map(|v| lifetime(model, v))
                .filter(|t| t.birth <= s && s <= t.death)
                .map(|t| t.len)
                .sum()
        })
        .max()
        .unwrap_or(0)
}

/// Places every value of `model`: `offsets[v]` receives value `v`'s offset
/// in the arena; returns the arena's length. `offsets` and `order` (working
/// space) hold at least `layer_count() + 1` entries (`None` when shorter,
/// or on overflow).
pub fn plan(model: &Model<'_>, offsets: &mut [usize], order: &mut [usize]) -> Option<usize> {
    let n = model.layer_count() + 1;
    let (offsets, order) = (offsets.get_mut(..n)?, order.get_mut(..n)?);
    let len = |v: usize| lifetime(model, v).map_or(0, |t| t.len);
    // Largest first, ties in schedule order (insertion sort: no allocation).
    for i in 0..n {
        order[i] = i;
        let mut j = i;
        while j > 0 && len(order[j - 1]) < len(order[j]) {
            order.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut end = 0usize;
    for rank in 0..n {
        let v = order[rank];
        let t = lifetime(model, v)?;
        let placed = &order[..rank];
        // A node that may write over its input first tries the input's bytes.
        let alias = v
            .checked_sub(1)
            .and_then(|i| model.layer(i))
            .and_then(|l| match *l.inputs() {
                [u] if may_alias(model, u, v) && placed.contains(&u) => Some(offsets[u]),
                _ => None,
            });
        let at = match alias {
            Some(a) if clash(model, offsets, placed, v, a)?.is_none() => a,
            _ => {
                // First fit: step past each clashing value until none clashes.
                let mut at = 0;
                while let Some(past) = clash(model, offsets, placed, v, at)? {
                    at = past;
                }
                at
            }
        };
        offsets[v] = at;
        end = end.max(at.checked_add(t.len)?);
    }
    Some(end)
}

/// The end of a `placed` value that value `v` at offset `at` would clash
/// with (live at the same step, sharing bytes, not an allowed alias), if any.
fn clash(
    model: &Model<'_>,
    offsets: &[usize],
    placed: &[usize],
    v: usize,
    at: usize,
) -> Option<Option<usize>> {
    let t = lifetime(model, v)?;
    let v_end = at.checked_add(t.len)?;
    for &u in placed {
        let tu = lifetime(model, u)?;
        if !t.overlaps(&tu) || t.len == 0 || tu.len == 0 {
            continue;
        }
        if may_alias(model, u.min(v), u.max(v)) && offsets[u] == at {
            continue;
        }
        let u_end = offsets[u].checked_add(tu.len)?;
        if offsets[u] < v_end && at < u_end {
            return Some(Some(u_end));
        }
    }
    Some(None)
}

/// Whether `offsets` (one per value) with arena length `arena` is a valid
/// plan: every value inside the arena, no two values live at once sharing
/// bytes unless one node writes over its input ([`may_alias`]) at the same
/// offset.
pub fn check(model: &Model<'_>, offsets: &[usize], arena: usize) -> bool {
    let n = model.layer_count() + 1;
    if offsets.len() < n {
        return false;
    }
    for v in 0..n {
        let Some(t) = lifetime(model, v) else {
            return false;
        };
        if offsets[v].checked_add(t.len).is_none_or(|e| e > arena) {
            return false;
        }
        for u in 0..v {
            let Some(tu) = lifetime(model, u) else {
                return false;
            };
            if !t.overlaps(&tu) || t.len == 0 || tu.len == 0 {
                continue;
            }
            if may_alias(model, u, v) && offsets[u] == offsets[v] {
                continue;
            }
            let (a, b) = (offsets[u], offsets[u] + tu.len);
            let (c, d) = (offsets[v], offsets[v] + t.len);
            if a < d && c < b {
                return false;
            }
        }
    }
    true
}
