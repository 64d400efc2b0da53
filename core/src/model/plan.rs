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

use super::{
    Arithmetic, FLAG_PLANNED, H_FLAGS, HEADER_LEN, L_PLAN_ARENA, L_PLAN_INPUT, L_PLAN_OUT,
    LayerKind, LayerView, MAX_ELEMENTS, Model, crc32, put, shape_len, u32_at,
};
use crate::Error;

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

/// The values of a schedule and their lifetimes: what [`plan`], [`check`]
/// and [`lower_bound`] read. [`Model`] is one; tests build others.
pub trait Schedule {
    /// Number of values (a model: its nodes plus the input).
    fn values(&self) -> usize;
    /// The lifetime of value `v` (`None` past the last).
    fn lifetime(&self, v: usize) -> Option<Lifetime>;
    /// Whether value `v` may share the bytes of value `u < v` at the same offset.
    fn may_alias(&self, u: usize, v: usize) -> bool;
}

impl Schedule for Model<'_> {
    fn values(&self) -> usize {
        self.layer_count() + 1
    }

    fn lifetime(&self, v: usize) -> Option<Lifetime> {
        lifetime(self, v)
    }

    fn may_alias(&self, u: usize, v: usize) -> bool {
        may_alias(self, u, v)
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
    if v > steps {
        return None;
    }
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
pub fn lower_bound(model: &impl Schedule) -> usize {
    let n = model.values();
    (0..n)
        .filter_map(|s| model.lifetime(s))
        .map(|ts| {
            // Values live when value `s` is born (the schedule's steps).
            (0..n)
                .filter_map(|v| model.lifetime(v))
                .filter(|t| t.birth <= ts.birth && ts.birth <= t.death)
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
pub fn plan(model: &impl Schedule, offsets: &mut [usize], order: &mut [usize]) -> Option<usize> {
    let n = model.values();
    let (offsets, order) = (offsets.get_mut(..n)?, order.get_mut(..n)?);
    let len = |v: usize| model.lifetime(v).map_or(0, |t| t.len);
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
        let t = model.lifetime(v)?;
        let placed = &order[..rank];
        // A value that may sit over a placed one first tries its bytes.
        let alias = placed
            .iter()
            .find(|&&u| u < v && model.may_alias(u, v))
            .map(|&u| offsets[u]);
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
    model: &impl Schedule,
    offsets: &[usize],
    placed: &[usize],
    v: usize,
    at: usize,
) -> Option<Option<usize>> {
    let t = model.lifetime(v)?;
    let v_end = at.checked_add(t.len)?;
    for &u in placed {
        let tu = model.lifetime(u)?;
        if !t.overlaps(&tu) || t.len == 0 || tu.len == 0 {
            continue;
        }
        if model.may_alias(u.min(v), u.max(v)) && offsets[u] == at {
            continue;
        }
        let u_end = offsets[u].checked_add(tu.len)?;
        if offsets[u] < v_end && at < u_end {
            return Some(Some(u_end));
        }
    }
    Some(None)
}

/// Whether `offset` (value to its offset in the arena) with arena length
/// `arena` is a valid plan: every value inside the arena, no two values live
/// at once sharing bytes unless one node writes over its input
/// ([`may_alias`]) at the same offset.
pub fn check(model: &impl Schedule, offset: impl Fn(usize) -> Option<usize>, arena: usize) -> bool {
    let n = model.values();
    let placed = |v: usize| Some((offset(v)?, model.lifetime(v)?));
    for v in 0..n {
        let Some((at, t)) = placed(v) else {
            return false;
        };
        if at.checked_add(t.len).is_none_or(|e| e > arena) {
            return false;
        }
        for u in 0..v {
            let Some((au, tu)) = placed(u) else {
                return false;
            };
            let shared = au < at + t.len && at < au + tu.len && t.len > 0 && tu.len > 0;
            if shared && t.overlaps(&tu) && !(model.may_alias(u, v) && au == at) {
                return false;
            }
        }
    }
    true
}

/// Plans the int8 model file in `bytes` ([`plan`]) and stores the plan in it
/// (header flag [`FLAG_PLANNED`], offsets in the node
/// table; `docs/model-format.md`), rewriting the checksum; returns the
/// arena's length. `work` holds at least `2 * (layer_count() + 1)` entries.
/// The file is validated before and after.
///
/// # Errors
/// Those of [`Model::parse`]; [`Error::Unsupported`] for a float (or
/// version 1) file, [`Error::ShapeMismatch`] for short `work`.
pub fn write_plan(bytes: &mut [u8], work: &mut [usize]) -> Result<usize, Error> {
    let m = Model::parse(bytes)?;
    if m.arithmetic() != Arithmetic::Int8 || m.version() < 2 {
        return Err(Error::Unsupported {
            what: "memory plans are for int8 model files (version 2 or 3)",
        });
    }
    let n = m.layer_count() + 1;
    if work.len() < 2 * n {
        return Err(Error::ShapeMismatch {
            expected: 2 * n,
            found: work.len(),
        });
    }
    let (offsets, order) = work.split_at_mut(n);
    let arena = plan(&m, offsets, order)
        .filter(|&a| a <= MAX_ELEMENTS)
        .ok_or(Error::Unsupported {
            what: "activation arena larger than the format allows",
        })?;
    let entry = m.layer_entry_len();
    let store = |bytes: &mut [u8], at: usize, v: usize| -> Result<(), Error> {
        put(
            bytes,
            at,
            &u32::try_from(v).unwrap_or(u32::MAX).to_le_bytes(),
        )
    };
    let flags = u32_at(bytes, H_FLAGS)? | FLAG_PLANNED;
    store(bytes, H_FLAGS, flags as usize)?;
    store(bytes, HEADER_LEN + L_PLAN_INPUT, offsets[0])?;
    store(bytes, HEADER_LEN + L_PLAN_ARENA, arena)?;
    for (i, &o) in offsets[1..].iter().enumerate() {
        store(bytes, HEADER_LEN + i * entry + L_PLAN_OUT, o)?;
    }
    reseal(bytes)?;
    Ok(arena)
}

/// Removes the memory plan of the model file in `bytes`, if any (the file
/// then runs with one slot per value, as files without a plan do),
/// rewriting the checksum.
///
/// # Errors
/// Those of [`Model::parse`].
pub fn clear_plan(bytes: &mut [u8]) -> Result<(), Error> {
    let m = Model::parse(bytes)?;
    if m.planned_arena().is_none() {
        return Ok(());
    }
    let (layers, entry) = (m.layer_count(), m.layer_entry_len());
    let flags = u32_at(bytes, H_FLAGS)? & !FLAG_PLANNED;
    put(bytes, H_FLAGS, &flags.to_le_bytes())?;
    put(bytes, HEADER_LEN + L_PLAN_INPUT, &[0; 8])?;
    for i in 0..layers {
        put(bytes, HEADER_LEN + i * entry + L_PLAN_OUT, &[0; 4])?;
    }
    reseal(bytes)
}

/// Rewrites the checksum of `bytes` and validates the file.
fn reseal(bytes: &mut [u8]) -> Result<(), Error> {
    let body = bytes.len().saturating_sub(4);
    let c = crc32(bytes.get(..body).unwrap_or(&[]));
    put(bytes, body, &c.to_le_bytes())?;
    Model::parse(bytes).map(|_| ())
}
