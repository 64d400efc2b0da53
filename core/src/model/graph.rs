//! The graph side of the model file (version 3): which earlier outputs feed
//! each node, the canonical parameter layout of windowed layers, and the
//! rules that decide whether a model still fits the version 2 chain format.
//!
//! Node inputs are references: `0` is the model's input, `k >= 1` the output
//! of node `k - 1`. A node may only read the model input or nodes before it,
//! so the table order is a topological order and a stored graph has no cycle.

use super::{Activation, LayerKind, PARAMS, Shape};
use crate::Error;
use crate::kernels::{Conv2dShape, ConvGeom, Padding, Pool2dShape, Window2d};

/// Most inputs one node reads (add, concat).
pub const MAX_INPUTS: usize = 4;

/// Parameter positions of convolution and pooling nodes (canonical layout,
/// the one [`super::LayerView::params`] always holds).
pub mod p {
    /// Kernel (window) height.
    pub const K_H: usize = 0;
    /// Kernel (window) width.
    pub const K_W: usize = 1;
    /// Vertical stride.
    pub const STRIDE_H: usize = 2;
    /// Horizontal stride.
    pub const STRIDE_W: usize = 3;
    /// Rows of padding above.
    pub const PAD_TOP: usize = 4;
    /// Rows of padding below.
    pub const PAD_BOTTOM: usize = 5;
    /// Columns of padding on the left.
    pub const PAD_LEFT: usize = 6;
    /// Columns of padding on the right.
    pub const PAD_RIGHT: usize = 7;
    /// Convolution groups: 1 (full) or the input channels (depthwise).
    pub const GROUPS: usize = 8;
    /// LSTM hidden size.
    pub const HIDDEN: usize = 0;
    /// Batch-norm epsilon, as `f32` bits.
    pub const EPS: usize = 0;
    /// Int8 dense requantization: [`ROUNDING_DOUBLE`](super::ROUNDING_DOUBLE) or
    /// [`ROUNDING_SINGLE`](super::ROUNDING_SINGLE).
    pub const ROUNDING: usize = 0;
    /// Int8 softmax activation node: TFLite's `diff_min`, as `i32` bits.
    pub const DIFF_MIN: usize = 0;
}

/// Int8 dense rounding `0`: the rounding doubling high multiply, then the
/// rounding shift (gemmlowp, TFLite's convolutions, `myelin quantize`).
pub const ROUNDING_DOUBLE: u32 = 0;
/// Int8 dense rounding `1`: one rounding of the 64-bit product (LiteRT's
/// reference `FULLY_CONNECTED`).
pub const ROUNDING_SINGLE: u32 = 1;

/// Parameters of a full convolution with one stride and the same padding on
/// every side.
pub fn conv_params(k_h: u32, k_w: u32, stride: u32, pad: u32) -> [u32; PARAMS] {
    [k_h, k_w, stride, stride, pad, pad, pad, pad, 1]
}

/// Parameters of an unpadded square pooling window.
pub fn pool_params(size: u32, stride: u32) -> [u32; PARAMS] {
    [size, size, stride, stride, 0, 0, 0, 0, 0]
}

/// Parameters of an LSTM.
pub fn lstm_params(hidden: u32) -> [u32; PARAMS] {
    let mut q = [0u32; PARAMS];
    q[p::HIDDEN] = hidden;
    q
}

/// The canonical parameters of a window: kernel, strides, padding.
pub fn window_params(win: &Window2d) -> [u32; PARAMS] {
    let mut out = [0u32; PARAMS];
    let v = [
        win.k_h,
        win.k_w,
        win.stride_h,
        win.stride_w,
        win.pad_top,
        win.pad_bottom,
        win.pad_left,
        win.pad_right,
    ];
    for (o, x) in out.iter_mut().zip(v) {
        *o = u32::try_from(x).unwrap_or(u32::MAX);
    }
    out
}

/// The window a convolution or pooling node with canonical `params` slides
/// over an input of `in_shape`.
pub fn window_of(in_shape: Shape, params: &[u32; PARAMS]) -> Result<Window2d, Error> {
    let q = params.map(|v| v as usize);
    Window2d::new(
        in_shape[1],
        in_shape[2],
        (q[p::K_H], q[p::K_W]),
        (q[p::STRIDE_H], q[p::STRIDE_W]),
        Padding::Explicit {
            top: q[p::PAD_TOP],
            bottom: q[p::PAD_BOTTOM],
            left: q[p::PAD_LEFT],
            right: q[p::PAD_RIGHT],
        },
    )
}

/// The convolution geometry of a conv2d node.
pub fn conv_geom_of(
    in_shape: Shape,
    out_ch: usize,
    params: &[u32; PARAMS],
) -> Result<ConvGeom, Error> {
    let groups = (params[p::GROUPS] as usize).max(1);
    ConvGeom::new(in_shape[0], out_ch, groups, window_of(in_shape, params)?)
}

/// The square-kernel, single-stride, single-pad form the chain kernels take,
/// if this window has it.
fn uniform(win: &Window2d) -> Option<(usize, usize)> {
    let pads = [win.pad_top, win.pad_bottom, win.pad_left, win.pad_right];
    (win.stride_h == win.stride_w && pads.iter().all(|&x| x == win.pad_top))
        .then_some((win.stride_h, win.pad_top))
}

/// The [`Conv2dShape`] of a full convolution with one stride and the same
/// padding on every side, if `g` is one.
pub fn uniform_conv_shape(g: &ConvGeom) -> Option<Conv2dShape> {
    let (stride, pad) = uniform(&g.win)?;
    (g.groups == 1).then_some(Conv2dShape {
        in_ch: g.in_ch,
        in_h: g.win.in_h,
        in_w: g.win.in_w,
        out_ch: g.out_ch,
        k_h: g.win.k_h,
        k_w: g.win.k_w,
        stride,
        pad,
    })
}

/// The [`Pool2dShape`] of an unpadded pooling window with one stride, if
/// `win` is one.
pub fn uniform_pool_shape(ch: usize, win: &Window2d) -> Option<Pool2dShape> {
    match uniform(win) {
        Some((stride, 0)) => Some(Pool2dShape {
            ch,
            in_h: win.in_h,
            in_w: win.in_w,
            k_h: win.k_h,
            k_w: win.k_w,
            stride,
        }),
        _ => None,
    }
}

/// Version 1 and 2 parameters in the canonical layout: conv2d
/// `[k_h, k_w, stride, pad]` and pools `[size, stride]` become per-axis,
/// per-side fields; other kinds are unchanged. The caller has checked the
/// version 2 rules (unused fields zero).
pub fn params_from_v2(kind: LayerKind, v2: &[u32; 6]) -> [u32; PARAMS] {
    let mut out = [0u32; PARAMS];
    match kind {
        LayerKind::Conv2d => {
            let [k_h, k_w, s, pad, ..] = *v2;
            out.copy_from_slice(&[k_h, k_w, s, s, pad, pad, pad, pad, 1]);
        }
        LayerKind::MaxPool2d | LayerKind::AvgPool2d => {
            let [k, s, ..] = *v2;
            out[..4].copy_from_slice(&[k, k, s, s]);
        }
        _ => out[..6].copy_from_slice(v2),
    }
    out
}

/// Whether version 2 parameters follow that version's rules: kernel and
/// stride non-zero, unused fields zero.
pub fn v2_params_ok(kind: LayerKind, v2: &[u32; 6]) -> bool {
    let (nonzero, used) = match kind {
        LayerKind::Conv2d => (3, 4),
        LayerKind::MaxPool2d | LayerKind::AvgPool2d => (2, 2),
        LayerKind::Lstm => (1, 1),
        _ => (0, 0),
    };
    !v2[..nonzero].contains(&0) && v2[used..].iter().all(|&x| x == 0)
}

/// The version 2 parameters of a node, if it has a version 2 form.
pub fn params_to_v2(kind: LayerKind, q: &[u32; PARAMS]) -> Option<[u32; 6]> {
    match kind {
        LayerKind::Conv2d => {
            let pads = &q[p::PAD_TOP..=p::PAD_RIGHT];
            let ok = q[p::STRIDE_H] == q[p::STRIDE_W]
                && pads.iter().all(|&x| x == pads[0])
                && q[p::GROUPS] == 1;
            ok.then_some([q[p::K_H], q[p::K_W], q[p::STRIDE_H], pads[0], 0, 0])
        }
        LayerKind::MaxPool2d | LayerKind::AvgPool2d => {
            let ok = q[p::K_H] == q[p::K_W]
                && q[p::STRIDE_H] == q[p::STRIDE_W]
                && q[p::PAD_TOP..=p::PAD_RIGHT].iter().all(|&x| x == 0);
            ok.then_some([q[p::K_H], q[p::STRIDE_H], 0, 0, 0, 0])
        }
        LayerKind::Dense | LayerKind::Activation => q.iter().all(|&x| x == 0).then_some([0; 6]),
        LayerKind::Lstm => q[6..].iter().all(|&x| x == 0).then(|| {
            let mut v = [0u32; 6];
            v.copy_from_slice(&q[..6]);
            v
        }),
        _ => None,
    }
}

/// Whether a node has a version 2 form: a layer kind and activation that
/// version 2 knows, parameters it can store, and the previous node (or the
/// model input) as its only input.
pub fn fits_v2(
    index: usize,
    kind: LayerKind,
    act: Activation,
    params: &[u32; PARAMS],
    inputs: &[usize],
) -> bool {
    let chain = inputs.is_empty() || inputs == [index];
    chain && act != Activation::Relu6 && params_to_v2(kind, params).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_params_round_trip() {
        let conv = [5, 5, 1, 2, 0, 0];
        let c = params_from_v2(LayerKind::Conv2d, &conv);
        assert_eq!(c, [5, 5, 1, 1, 2, 2, 2, 2, 1]);
        assert_eq!(params_to_v2(LayerKind::Conv2d, &c), Some(conv));
        let pool = [2, 2, 0, 0, 0, 0];
        let q = params_from_v2(LayerKind::MaxPool2d, &pool);
        assert_eq!(q, [2, 2, 2, 2, 0, 0, 0, 0, 0]);
        assert_eq!(params_to_v2(LayerKind::MaxPool2d, &q), Some(pool));
        // Asymmetric padding has no v2 form.
        let mut a = c;
        a[p::PAD_BOTTOM] = 3;
        assert_eq!(params_to_v2(LayerKind::Conv2d, &a), None);
        assert!(!fits_v2(
            2,
            LayerKind::Add,
            Activation::Identity,
            &[0; PARAMS],
            &[2]
        ));
        assert!(fits_v2(2, LayerKind::Conv2d, Activation::Relu, &c, &[2]));
        assert!(!fits_v2(2, LayerKind::Conv2d, Activation::Relu, &c, &[1]));
    }

    #[test]
    fn windows_from_params() {
        let c = params_from_v2(LayerKind::Conv2d, &[5, 5, 1, 2, 0, 0]);
        let g = conv_geom_of([1, 28, 28], 8, &c).unwrap();
        assert_eq!((g.win.out_h, g.win.out_w), (28, 28));
        let s = uniform_conv_shape(&g).unwrap();
        assert_eq!((s.stride, s.pad, s.out_h(), s.out_w()), (1, 2, 28, 28));
        let w = Window2d::new(49, 10, (10, 4), (2, 2), Padding::Same).unwrap();
        let q = window_params(&w);
        assert_eq!(window_of([1, 49, 10], &q).unwrap(), w);
        assert!(uniform_conv_shape(&ConvGeom::new(1, 8, 1, w).unwrap()).is_none());
    }
}
