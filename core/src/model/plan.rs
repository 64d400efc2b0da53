//! Static memory planning of a model's int8 activations: where each value
//! (the model input and every node's output) lives in one activation arena.
//!
//! Values are numbered as node inputs are (`0` the model input, `k` node
//! `k - 1`'s output). Value `v` is born at step `v` (node `v - 1` writes it;
//! the input exists before step 1) and lives through the last step that
//! reads it; the model's output lives to the end. Two values whose lifetimes
//! overlap must not share bytes, except that a node may write its output
//! over an input that dies there, at the same offset, when the node allows
//! it ([`overwrite_scratch`]): a reshape (which then moves nothing), a
//! depthwise or 1x1 convolution, an elementwise node (through a small
//! scratch, [`Placement::Smallest`]). [`plan`] places values greedily,
//! largest first, each at the lowest offset that clears every placed value
//! it overlaps in time; [`lower_bound`] is the largest sum of
//! simultaneously live values, which no plan without in-place writes beats,
//! and [`in_place_bound`] the same sum with every allowed in-place write.

use super::{
    Activation, Arithmetic, FLAG_PLANNED, H_FLAGS, HEADER_LEN, L_PLAN_ARENA, L_PLAN_INPUT,
    L_PLAN_OUT, L_PLAN_SCRATCH, LayerKind, LayerView, MAX_ELEMENTS, Model, crc32, put, shape_len,
    u32_at,
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

/// Which in-place writes a plan may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// Only those that cost no instruction (a reshape over its input): the
    /// nodes run as without a plan.
    #[default]
    Free,
    /// Every write a node allows ([`overwrite_scratch`]): the smallest arena,
    /// at the cost of copies through a small scratch (for boards short of RAM).
    Smallest,
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
    /// Whether such a shared write costs nothing ([`Placement::Free`] plans
    /// use only these); every allowed one unless a schedule says otherwise.
    fn free_alias(&self, u: usize, v: usize) -> bool {
        self.may_alias(u, v)
    }
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

    fn free_alias(&self, u: usize, v: usize) -> bool {
        may_alias(self, u, v)
            && v.checked_sub(1)
                .and_then(|i| self.layer(i))
                .is_some_and(|l| l.kind == LayerKind::Reshape)
    }
}

/// Positions of a 1x1 convolution run over its input per block (a multiple
/// of the Cortex-M0 kernel's 7 and of the DSP kernel's 2).
pub const POINTWISE_BLOCK: usize = 14;

/// Elements of an elementwise node run over its input per block.
pub const ELEMENTWISE_BLOCK: usize = 64;

/// Whether node `l` may write its output over its input `u` (same offset)
/// and, if so, the `i8` scratch it then needs: `0` for a reshape (moves
/// nothing); one input plane for a depthwise convolution with one filter per
/// channel and output planes no larger than the input's (each output plane
/// depends only on its input plane); `(C + OC)` times [`POINTWISE_BLOCK`]
/// for a 1x1 convolution of stride 1 without padding (an output position
/// depends only on the same input position); a block of
/// [`ELEMENTWISE_BLOCK`] for an elementwise node (activations but softmax,
/// lookup, add over one of its two inputs).
pub fn overwrite_scratch(l: &LayerView<'_>, u: usize) -> Option<usize> {
    let reads = l.inputs().iter().filter(|&&r| r == u).count();
    if reads != 1 {
        return None;
    }
    let out = shape_len(l.out_shape);
    let elementwise = Some(out.min(ELEMENTWISE_BLOCK));
    match l.kind {
        LayerKind::Reshape if l.inputs().len() == 1 => Some(0),
        LayerKind::Add if shape_len(l.in_shape) == out => elementwise,
        LayerKind::Lookup => elementwise,
        LayerKind::Activation if l.activation != Activation::Softmax => elementwise,
        LayerKind::Conv2d => {
            let g = l.conv_geom().ok()?;
            let w = g.win;
            let [c, h, wd] = l.in_shape;
            let [oc, oh, ow] = l.out_shape;
            let unpadded = [w.pad_top, w.pad_bottom, w.pad_left, w.pad_right] == [0; 4];
            if g.is_depthwise() && oc == c && oh * ow <= h * wd {
                Some(h * wd)
            } else if g.groups == 1 && [w.k_h, w.k_w, w.stride_h, w.stride_w] == [1; 4] && unpadded
            {
                Some((c + oc) * (h * wd).min(POINTWISE_BLOCK))
            } else {
                None
            }
        }
        _ => None,
    }
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
/// offset: node `v - 1` may write over its input `u` ([`overwrite_scratch`]),
/// which dies there.
pub fn may_alias(model: &Model<'_>, u: usize, v: usize) -> bool {
    let (Some(l), Some(lu)) = (
        v.checked_sub(1).and_then(|i| model.layer(i)),
        lifetime(model, u),
    ) else {
        return false;
    };
    lu.death == v && overwrite_scratch(&l, u).is_some()
}

/// The input node `v - 1` of a planned `model` writes its output over (at
/// the same offset), if any, with the scratch that needs.
pub fn overwritten_input(model: &Model<'_>, v: usize) -> Option<(usize, usize)> {
    overwritten_at(model, v, &|r| model.value_offset(r))
}

fn overwritten_at(
    model: &Model<'_>,
    v: usize,
    offset: &impl Fn(usize) -> Option<usize>,
) -> Option<(usize, usize)> {
    let l = model.layer(v.checked_sub(1)?)?;
    let at = offset(v)?;
    let len = |r: usize| model.value_len(r).unwrap_or(0);
    l.inputs()
        .iter()
        .copied()
        .find(|&u| offset(u) == Some(at) && len(u) > 0 && len(v) > 0)
        .filter(|&u| may_alias(model, u, v))
        .and_then(|u| Some((u, overwrite_scratch(&l, u)?)))
}

/// The largest `i8` scratch a node of a planned `model` needs to write over
/// its input ([`overwritten_input`]); 0 without such a node.
pub fn overwrite_scratch_len(model: &Model<'_>) -> usize {
    scratch_len_at(model, &|r| model.value_offset(r))
}

fn scratch_len_at(model: &Model<'_>, offset: &impl Fn(usize) -> Option<usize>) -> usize {
    (1..=model.layer_count())
        .filter_map(|v| overwritten_at(model, v, offset))
        .map(|(_, s)| s)
        .max()
        .unwrap_or(0)
}

/// The largest sum of the lengths of values live at one step.
pub fn lower_bound(model: &impl Schedule) -> usize {
    live_bound(model, false)
}

/// [`lower_bound`] when every node writes over an input it may
/// ([`Schedule::may_alias`]): at its step the output and that input count
/// once, as the larger of the two. A [`Placement::Smallest`] plan may reach
/// it, below [`lower_bound`] (the scratch of the in-place nodes not counted).
pub fn in_place_bound(model: &impl Schedule) -> usize {
    live_bound(model, true)
}

fn live_bound(model: &impl Schedule, in_place: bool) -> usize {
    let n = model.values();
    (0..n)
        .filter_map(|s| model.lifetime(s).map(|t| (s, t)))
        .map(|(s, ts)| {
            // Values live when value `s` is born (the schedule's steps).
            let live = || {
                (0..n)
                    .filter_map(|v| model.lifetime(v).map(|t| (v, t)))
                    .filter(move |(_, t)| t.birth <= ts.birth && ts.birth <= t.death)
            };
            let sum: usize = live().map(|(_, t)| t.len).sum();
            // The largest input node `s - 1` may write over shares its bytes.
            let shared = live()
                .filter(|&(u, _)| in_place && u < s && model.may_alias(u, s))
                .map(|(_, t)| t.len.min(ts.len))
                .max()
                .unwrap_or(0);
            sum - shared
        })
        .max()
        .unwrap_or(0)
}

/// Places every value of `model`: `offsets[v]` receives value `v`'s offset
/// in the arena; returns the arena's length. `offsets` and `order` (working
/// space) hold at least `layer_count() + 1` entries (`None` when shorter,
/// or on overflow). Only free in-place writes ([`Placement::Free`]).
pub fn plan(model: &impl Schedule, offsets: &mut [usize], order: &mut [usize]) -> Option<usize> {
    plan_for(model, Placement::Free, offsets, order)
}

/// [`plan`] with the in-place writes `placement` allows.
pub fn plan_for(
    model: &impl Schedule,
    placement: Placement,
    offsets: &mut [usize],
    order: &mut [usize],
) -> Option<usize> {
    let n = model.values();
    let (offsets, order) = (offsets.get_mut(..n)?, order.get_mut(..n)?);
    let len = |v: usize| model.lifetime(v).map_or(0, |t| t.len);
    let alias = |u: usize, v: usize| match placement {
        Placement::Free => model.free_alias(u, v),
        Placement::Smallest => model.may_alias(u, v),
    };
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
        // A value that may sit over a placed one first tries its bytes
        // (an output over its input, or an input under its output).
        let over = placed
            .iter()
            .find(|&&u| alias(u.min(v), u.max(v)) && u != v)
            .map(|&u| offsets[u]);
        let at = match over {
            Some(a) if clash(model, &alias, offsets, placed, v, a)?.is_none() => a,
            _ => {
                // First fit: step past each clashing value until none clashes.
                let mut at = 0;
                while let Some(past) = clash(model, &alias, offsets, placed, v, at)? {
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
    alias: &impl Fn(usize, usize) -> bool,
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
        if alias(u.min(v), u.max(v)) && offsets[u] == at {
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

/// Plans the int8 model file in `bytes` ([`plan`]: free in-place writes
/// only) and stores the plan in it
/// (header flag [`FLAG_PLANNED`], offsets in the node
/// table; `docs/model-format.md`), rewriting the checksum; returns the
/// arena's length. `work` holds at least `2 * (layer_count() + 1)` entries.
/// The file is validated before and after.
///
/// # Errors
/// Those of [`Model::parse`]; [`Error::Unsupported`] for a float (or
/// version 1) file, [`Error::ShapeMismatch`] for short `work`.
pub fn write_plan(bytes: &mut [u8], work: &mut [usize]) -> Result<usize, Error> {
    write_plan_for(bytes, Placement::Free, work)
}

/// [`write_plan`] with the in-place writes `placement` allows (a file
/// planned with [`Placement::Smallest`] replaces any plan it had).
///
/// # Errors
/// As [`write_plan`].
pub fn write_plan_for(
    bytes: &mut [u8],
    placement: Placement,
    work: &mut [usize],
) -> Result<usize, Error> {
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
    let arena = plan_for(&m, placement, offsets, order)
        .filter(|&a| a <= MAX_ELEMENTS)
        .ok_or(Error::Unsupported {
            what: "activation arena larger than the format allows",
        })?;
    let entry = m.layer_entry_len();
    let scratch = scratch_len_at(&m, &|v| offsets.get(v).copied());
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
    store(bytes, HEADER_LEN + L_PLAN_SCRATCH, scratch)?;
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
    put(bytes, HEADER_LEN + L_PLAN_INPUT, &[0; 12])?;
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
