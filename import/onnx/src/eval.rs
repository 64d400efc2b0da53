//! Evaluation of the shape-computing ops on constant tensors: small, exact,
//! with every result size checked against a budget before allocating.

use crate::error::OnnxError;
use crate::graph::Node;
use crate::tensor::{Tensor, TensorData, dtype, element_count};

/// A bound on the elements all folded results may hold together.
#[derive(Debug)]
pub(crate) struct Budget {
    /// Elements still allowed.
    pub left: usize,
}

impl Budget {
    /// Takes `n` elements, or explains why a node's result is too large.
    pub fn take(&mut self, node: &Node, dims: &[usize]) -> Result<usize, OnnxError> {
        let n = element_count(dims).filter(|&n| n <= self.left).ok_or_else(|| {
            node.error(format!("folded result of dims {dims:?} is larger than the model file can justify ({} elements left)", self.left))
        })?;
        self.left -= n;
        Ok(n)
    }
}

/// Normalizes a possibly negative axis against `rank` (`rank_plus` for
/// Unsqueeze, where the axis indexes the output).
pub(crate) fn axis(node: &Node, a: i64, rank: usize) -> Result<usize, OnnxError> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if (0..r).contains(&v) {
        Ok(v as usize)
    } else {
        Err(node.error(format!("axis {a} is out of range for rank {rank}")))
    }
}

/// Row-major strides.
fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// Applies `f` to the elements whatever their type.
fn map<F32, I64>(t: &Tensor, f32: F32, i64: I64) -> Result<TensorData, OnnxError>
where
    F32: FnOnce(&[f32]) -> Result<Vec<f32>, OnnxError>,
    I64: FnOnce(&[i64]) -> Result<Vec<i64>, OnnxError>,
{
    Ok(match &t.data {
        TensorData::F32(v) => TensorData::F32(f32(v)?),
        TensorData::I64(v) => TensorData::I64(i64(v)?),
    })
}

/// Gathers `indices` along `axis` of `data`.
pub(crate) fn gather(
    node: &Node,
    data: &Tensor,
    indices: &Tensor,
    ax: i64,
    budget: &mut Budget,
) -> Result<Tensor, OnnxError> {
    let idx = indices
        .as_i64()
        .ok_or_else(|| node.error("indices must be integers"))?;
    if data.dims.is_empty() {
        return Err(node.error("cannot gather from a scalar"));
    }
    let ax = axis(node, ax, data.dims.len())?;
    let n = data.dims[ax];
    let mut picks = Vec::with_capacity(idx.len());
    for &i in idx {
        let j = if i < 0 { i + n as i64 } else { i };
        if !(0..n as i64).contains(&j) {
            return Err(node.error(format!(
                "index {i} is out of range for axis {ax} of size {n}"
            )));
        }
        picks.push(j as usize);
    }
    let mut dims = data.dims[..ax].to_vec();
    dims.extend_from_slice(&indices.dims);
    dims.extend_from_slice(&data.dims[ax + 1..]);
    budget.take(node, &dims)?;
    let outer: usize = data.dims[..ax].iter().product();
    let inner: usize = data.dims[ax + 1..].iter().product();
    fn run<T: Copy>(v: &[T], outer: usize, n: usize, inner: usize, picks: &[usize]) -> Vec<T> {
        let mut out = Vec::with_capacity(outer * picks.len() * inner);
        for o in 0..outer {
            for &p in picks {
                let start = (o * n + p) * inner;
                out.extend_from_slice(&v[start..start + inner]);
            }
        }
        out
    }
    let data = map(
        data,
        |v| Ok(run(v, outer, n, inner, &picks)),
        |v| Ok(run(v, outer, n, inner, &picks)),
    )?;
    Ok(Tensor { dims, data })
}

/// Concatenates `parts` along `axis`.
pub(crate) fn concat(
    node: &Node,
    parts: &[&Tensor],
    ax: i64,
    budget: &mut Budget,
) -> Result<Tensor, OnnxError> {
    let first = parts
        .first()
        .ok_or_else(|| node.error("needs at least one input"))?;
    if first.dims.is_empty() {
        return Err(node.error("cannot concatenate scalars"));
    }
    let ax = axis(node, ax, first.dims.len())?;
    let mut dims = first.dims.clone();
    dims[ax] = 0;
    for p in parts {
        let same = p.dims.len() == first.dims.len()
            && p.dims
                .iter()
                .zip(&first.dims)
                .enumerate()
                .all(|(i, (a, b))| i == ax || a == b)
            && p.type_name() == first.type_name();
        if !same {
            return Err(node.error(format!(
                "inputs {:?} ({}) and {:?} ({}) do not concatenate on axis {ax}",
                first.dims,
                first.type_name(),
                p.dims,
                p.type_name()
            )));
        }
        dims[ax] = dims[ax]
            .checked_add(p.dims[ax])
            .ok_or_else(|| node.error("result too large"))?;
    }
    budget.take(node, &dims)?;
    let outer: usize = first.dims[..ax].iter().product();
    let data = match &first.data {
        TensorData::F32(_) => TensorData::F32(concat_run(parts, outer, |t| t.as_f32())),
        TensorData::I64(_) => TensorData::I64(concat_run(parts, outer, |t| t.as_i64())),
    };
    Ok(Tensor { dims, data })
}

fn concat_run<T: Copy>(
    parts: &[&Tensor],
    outer: usize,
    get: impl Fn(&Tensor) -> Option<&[T]>,
) -> Vec<T> {
    let mut out = Vec::new();
    for o in 0..outer {
        for p in parts {
            let v = get(p).unwrap_or(&[]);
            let chunk = v.len() / outer.max(1);
            out.extend_from_slice(&v[o * chunk..(o + 1) * chunk]);
        }
    }
    out
}

/// Slices `data` with ONNX Slice semantics (clamped starts and ends, any step but 0).
pub(crate) fn slice(
    node: &Node,
    data: &Tensor,
    starts: &[i64],
    ends: &[i64],
    axes: Option<&[i64]>,
    steps: Option<&[i64]>,
    budget: &mut Budget,
) -> Result<Tensor, OnnxError> {
    let rank = data.dims.len();
    if starts.len() != ends.len()
        || axes.is_some_and(|a| a.len() != starts.len())
        || steps.is_some_and(|s| s.len() != starts.len())
    {
        return Err(node.error("starts, ends, axes and steps differ in length"));
    }
    // Per axis: first index, step, count.
    let mut plan: Vec<(i64, i64, usize)> = data.dims.iter().map(|&d| (0, 1, d)).collect();
    let mut seen = vec![false; rank];
    for k in 0..starts.len() {
        let ax = axis(node, axes.map_or(k as i64, |a| a[k]), rank)?;
        if std::mem::replace(&mut seen[ax], true) {
            return Err(node.error(format!("axis {ax} is sliced twice")));
        }
        let step = steps.map_or(1, |s| s[k]);
        if step == 0 {
            return Err(node.error("step 0"));
        }
        let d = data.dims[ax] as i64;
        let fix = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
        let (s, e) = (fix(starts[k]), fix(ends[k]));
        let (s, count) = if d == 0 {
            (0, 0)
        } else if step > 0 {
            let s = s.clamp(0, d);
            let e = e.clamp(0, d);
            (
                s,
                if e > s {
                    ((e - s - 1) / step + 1) as usize
                } else {
                    0
                },
            )
        } else {
            let s = s.clamp(0, d - 1);
            let e = e.clamp(-1, d - 1);
            (
                s,
                if s > e {
                    ((s - e - 1) / (-step) + 1) as usize
                } else {
                    0
                },
            )
        };
        plan[ax] = (s, step, count);
    }
    let dims: Vec<usize> = plan.iter().map(|p| p.2).collect();
    let n = budget.take(node, &dims)?;
    let st = strides(&data.dims);
    let index = |flat: usize| {
        let mut rem = flat;
        let mut src = 0usize;
        for (a, &(s, step, _)) in plan.iter().enumerate().rev() {
            let c = dims[a].max(1);
            let i = rem % c;
            rem /= c;
            src += (s + step * i as i64) as usize * st[a];
        }
        src
    };
    let data = map(
        data,
        |v| Ok((0..n).map(|f| v[index(f)]).collect()),
        |v| Ok((0..n).map(|f| v[index(f)]).collect()),
    )?;
    Ok(Tensor { dims, data })
}

/// Casts to FLOAT or an integer type (INT64, INT32, BOOL are all kept as i64).
pub(crate) fn cast(node: &Node, t: &Tensor, to: i64) -> Result<Tensor, OnnxError> {
    let data = match (to as i32, &t.data) {
        (dtype::FLOAT, TensorData::F32(v)) => TensorData::F32(v.clone()),
        (dtype::FLOAT, TensorData::I64(v)) => {
            TensorData::F32(v.iter().map(|&x| x as f32).collect())
        }
        (dtype::INT64 | dtype::INT32, TensorData::I64(v)) => TensorData::I64(v.clone()),
        (dtype::INT64 | dtype::INT32, TensorData::F32(v)) => {
            TensorData::I64(v.iter().map(|&x| x as i64).collect())
        }
        (dtype::BOOL, TensorData::I64(v)) => {
            TensorData::I64(v.iter().map(|&x| i64::from(x != 0)).collect())
        }
        (dtype::BOOL, TensorData::F32(v)) => {
            TensorData::I64(v.iter().map(|&x| i64::from(x != 0.0)).collect())
        }
        (c, _) => return Err(node.error(format!("cast to {} is not supported", dtype::name(c)))),
    };
    Ok(Tensor {
        dims: t.dims.clone(),
        data,
    })
}

/// The dims of a Reshape to `shape` (0 copies the input dim, one -1 is inferred).
pub(crate) fn reshape_dims(
    node: &Node,
    from: &[usize],
    shape: &[i64],
    allowzero: bool,
) -> Result<Vec<usize>, OnnxError> {
    let total = element_count(from).unwrap_or(0);
    let mut dims = Vec::with_capacity(shape.len());
    let mut infer = None;
    for (i, &s) in shape.iter().enumerate() {
        match s {
            -1 if infer.is_none() => {
                infer = Some(i);
                dims.push(1);
            }
            0 if !allowzero => dims.push(*from.get(i).ok_or_else(|| {
                node.error(format!(
                    "shape {shape:?}: 0 at axis {i} has no input dim to copy"
                ))
            })?),
            s if s >= 0 => dims.push(s as usize),
            _ => return Err(node.error(format!("shape {shape:?} is not a valid Reshape target"))),
        }
    }
    let known =
        element_count(&dims).ok_or_else(|| node.error(format!("shape {shape:?} is too large")))?;
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(node.error(format!("cannot reshape {from:?} to {shape:?}")));
        }
        dims[i] = total / known;
    } else if known != total {
        return Err(node.error(format!(
            "cannot reshape {from:?} ({total} elements) to {shape:?}"
        )));
    }
    Ok(dims)
}

/// The dims after Unsqueeze with `axes` (which index the output).
pub(crate) fn unsqueeze_dims(
    node: &Node,
    from: &[usize],
    axes: &[i64],
) -> Result<Vec<usize>, OnnxError> {
    let rank = from.len() + axes.len();
    let mut put = vec![false; rank];
    for &a in axes {
        let a = axis(node, a, rank)?;
        if std::mem::replace(&mut put[a], true) {
            return Err(node.error(format!("axis {a} appears twice")));
        }
    }
    let mut src = from.iter();
    Ok(put
        .iter()
        .map(|&p| {
            if p {
                1
            } else {
                src.next().copied().unwrap_or(1)
            }
        })
        .collect())
}

/// The dims after Squeeze of `axes` (all size-1 axes when `None`).
pub(crate) fn squeeze_dims(
    node: &Node,
    from: &[usize],
    axes: Option<&[i64]>,
) -> Result<Vec<usize>, OnnxError> {
    let mut drop = vec![false; from.len()];
    match axes {
        None => from
            .iter()
            .zip(drop.iter_mut())
            .for_each(|(&d, x)| *x = d == 1),
        Some(axes) => {
            for &a in axes {
                let a = axis(node, a, from.len())?;
                if from[a] != 1 {
                    return Err(node.error(format!("axis {a} has size {}, not 1", from[a])));
                }
                drop[a] = true;
            }
        }
    }
    Ok(from
        .iter()
        .zip(&drop)
        .filter(|(_, x)| !**x)
        .map(|(&d, _)| d)
        .collect())
}

/// Range(start, limit, delta) on scalars.
pub(crate) fn range(
    node: &Node,
    start: &Tensor,
    limit: &Tensor,
    delta: &Tensor,
    budget: &mut Budget,
) -> Result<Tensor, OnnxError> {
    let scalar = |t: &Tensor| {
        (t.len() == 1)
            .then_some(())
            .ok_or_else(|| node.error("start, limit and delta must be scalars"))
    };
    scalar(start)?;
    scalar(limit)?;
    scalar(delta)?;
    match (&start.data, &limit.data, &delta.data) {
        (TensorData::I64(s), TensorData::I64(l), TensorData::I64(d)) => {
            let (s, l, d) = (s[0], l[0], d[0]);
            if d == 0 {
                return Err(node.error("delta 0"));
            }
            let (diff, dd) = (l as i128 - s as i128, d as i128);
            let n = if (diff > 0) == (dd > 0) && diff != 0 {
                (diff.abs() + dd.abs() - 1) / dd.abs()
            } else {
                0
            };
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            budget.take(node, &[n])?;
            Ok(Tensor {
                dims: vec![n],
                data: TensorData::I64(
                    (0..n as i128)
                        .map(|i| (s as i128 + i * d as i128) as i64)
                        .collect(),
                ),
            })
        }
        (TensorData::F32(s), TensorData::F32(l), TensorData::F32(d)) => {
            let (s, l, d) = (s[0], l[0], d[0]);
            let count = ((l - s) / d).ceil();
            if !count.is_finite() {
                return Err(node.error("start, limit and delta give no finite count"));
            }
            let n = count.max(0.0) as usize;
            budget.take(node, &[n])?;
            Ok(Tensor {
                dims: vec![n],
                data: TensorData::F32((0..n).map(|i| s + i as f32 * d).collect()),
            })
        }
        _ => Err(node.error("start, limit and delta differ in type")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn node() -> Node {
        Node {
            name: "n".into(),
            op_type: "Slice".into(),
            inputs: vec![],
            outputs: vec![],
            attributes: BTreeMap::new(),
        }
    }

    /// Python's slice rule on one axis, as a list of indices.
    fn picks(d: i64, start: i64, end: i64, step: i64) -> Vec<i64> {
        let norm = |v: i64, lo: i64, hi: i64| if v < 0 { (v + d).max(lo) } else { v.min(hi) };
        let mut out = Vec::new();
        if step > 0 {
            let (mut i, e) = (norm(start, 0, d), norm(end, 0, d));
            while i < e {
                out.push(i);
                i += step;
            }
        } else {
            let (mut i, e) = (norm(start, -1, d - 1), norm(end, -1, d - 1));
            while i > e {
                out.push(i);
                i += step;
            }
        }
        out
    }

    #[test]
    fn slice_matches_index_lists_on_every_axis_and_step() {
        let dims = [4usize, 5];
        let data: Vec<i64> = (0..20).collect();
        let t = Tensor {
            dims: dims.to_vec(),
            data: TensorData::I64(data.clone()),
        };
        for (s0, e0, st0) in [
            (0, 4, 1),
            (-1, -5, -1),
            (1, i64::MAX, 2),
            (3, 0, -2),
            (-9, 9, 3),
        ] {
            for (s1, e1, st1) in [(0, 5, 1), (4, -6, -2), (-2, 5, 1), (2, 2, 1)] {
                let mut budget = Budget { left: 1000 };
                let got = slice(
                    &node(),
                    &t,
                    &[s0, s1],
                    &[e0, e1],
                    Some(&[0, 1]),
                    Some(&[st0, st1]),
                    &mut budget,
                )
                .expect("slice");
                let (r, c) = (picks(4, s0, e0, st0), picks(5, s1, e1, st1));
                let want: Vec<i64> = r
                    .iter()
                    .flat_map(|&i| c.iter().map(move |&j| i * 5 + j))
                    .collect();
                assert_eq!(
                    got.dims,
                    [r.len(), c.len()],
                    "{s0}:{e0}:{st0}, {s1}:{e1}:{st1}"
                );
                assert_eq!(got.as_i64(), Some(&want[..]));
            }
        }
    }

    #[test]
    fn gather_and_concat_match_direct_indexing() {
        let t = Tensor {
            dims: vec![2, 3],
            data: TensorData::F32((0..6).map(|v| v as f32).collect()),
        };
        let idx = Tensor {
            dims: vec![2],
            data: TensorData::I64(vec![-1, 0]),
        };
        let mut budget = Budget { left: 100 };
        let g = gather(&node(), &t, &idx, 1, &mut budget).expect("gather");
        assert_eq!(g.dims, [2, 2]);
        assert_eq!(g.as_f32(), Some(&[2.0, 0.0, 5.0, 3.0][..]));
        let c = concat(&node(), &[&t, &g], 1, &mut budget).expect("concat");
        assert_eq!(c.dims, [2, 5]);
        let src = t.as_f32().expect("f32");
        let gs = g.as_f32().expect("f32");
        let want: Vec<f32> = (0..2)
            .flat_map(|r| {
                src[r * 3..r * 3 + 3]
                    .iter()
                    .chain(&gs[r * 2..r * 2 + 2])
                    .copied()
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(c.as_f32(), Some(&want[..]));
    }

    #[test]
    fn range_counts_like_the_onnx_formula() {
        for (s, l, d) in [
            (0i64, 10, 3),
            (10, 0, -4),
            (5, 5, 1),
            (0, -3, 1),
            (i64::MIN, i64::MAX, 1 << 62),
        ] {
            let one = |v: i64| Tensor {
                dims: vec![],
                data: TensorData::I64(vec![v]),
            };
            let mut budget = Budget { left: 100 };
            let r = range(&node(), &one(s), &one(l), &one(d), &mut budget).expect("range");
            let n = ((l as f64 - s as f64) / d as f64).ceil().max(0.0) as usize;
            assert_eq!(r.len(), n, "{s} {l} {d}");
            let v = r.as_i64().expect("i64");
            assert!(
                v.iter()
                    .enumerate()
                    .all(|(i, &x)| x as i128 == s as i128 + i as i128 * d as i128)
            );
        }
    }
}
