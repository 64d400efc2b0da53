//! 1-D and 2-D convolution (cross-correlation, as in every DNN framework),
//! forward and backward, for one sample in channel-major layout.
//!
//! Layouts: input `in_ch x in_h x in_w`, output `out_ch x out_h x out_w`,
//! weights `out_ch x in_ch x k_h x k_w`, bias `out_ch`; zero padding `pad` on
//! every side, the same `stride` along both axes. The shapes are plain runtime
//! values, so the host can run the kernels on shapes read from a model file
//! while the const-generic layers call the same code.
//!
//! Two forms: direct (no scratch memory, for microcontrollers) and
//! `im2col` + [`gemm`](super::gemm) (needs [`Conv2dShape::im2col_len`] floats of
//! scratch, faster on the host).

use crate::Error;

/// Shape of a 2-D convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Conv2dShape {
    /// Input channels.
    pub in_ch: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Output channels.
    pub out_ch: usize,
    /// Kernel height.
    pub k_h: usize,
    /// Kernel width.
    pub k_w: usize,
    /// Step between output positions, both axes.
    pub stride: usize,
    /// Zero padding on each side, both axes.
    pub pad: usize,
}

/// Shape of a 1-D convolution (input `in_ch x in_len`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Conv1dShape {
    /// Input channels.
    pub in_ch: usize,
    /// Input length.
    pub in_len: usize,
    /// Output channels.
    pub out_ch: usize,
    /// Kernel length.
    pub k: usize,
    /// Step between output positions.
    pub stride: usize,
    /// Zero padding on each side.
    pub pad: usize,
}

/// Output length of a convolution or pooling axis: `(n + 2 pad - k) / stride + 1`,
/// or 0 if the kernel does not fit (or the sizes overflow).
pub const fn conv_out_len(n: usize, k: usize, stride: usize, pad: usize) -> usize {
    match pad_add(n, pad) {
        Some(padded) if stride > 0 && k > 0 && padded >= k => (padded - k) / stride + 1,
        _ => 0,
    }
}

impl Conv2dShape {
    /// Output height.
    pub const fn out_h(&self) -> usize {
        conv_out_len(self.in_h, self.k_h, self.stride, self.pad)
    }
    /// Output width.
    pub const fn out_w(&self) -> usize {
        conv_out_len(self.in_w, self.k_w, self.stride, self.pad)
    }
    /// Input elements: `in_ch * in_h * in_w`.
    pub const fn in_len(&self) -> usize {
        self.in_ch * self.in_h * self.in_w
    }
    /// Output elements: `out_ch * out_h * out_w`.
    pub const fn out_len(&self) -> usize {
        self.out_ch * self.out_h() * self.out_w()
    }
    /// Weight elements: `out_ch * in_ch * k_h * k_w`.
    pub const fn weight_len(&self) -> usize {
        self.out_ch * self.in_ch * self.k_h * self.k_w
    }
    /// Scratch floats the `im2col` forms need: `in_ch * k_h * k_w * out_h * out_w`.
    pub const fn im2col_len(&self) -> usize {
        self.in_ch * self.k_h * self.k_w * self.out_h() * self.out_w()
    }
    /// Checks that the shape is usable: nonzero sizes and stride, and a
    /// kernel that fits the padded input.
    pub const fn validate(&self) -> Result<(), Error> {
        if self.in_ch == 0 || self.out_ch == 0 {
            return invalid("conv2d: zero channels");
        }
        if self.stride == 0 || self.k_h == 0 || self.k_w == 0 {
            return invalid("conv2d: zero stride or kernel");
        }
        let (Some(ph), Some(pw)) = (pad_add(self.in_h, self.pad), pad_add(self.in_w, self.pad))
        else {
            return invalid("conv2d: size overflows usize");
        };
        if ph < self.k_h || pw < self.k_w {
            return invalid("conv2d: kernel larger than padded input");
        }
        let taps = mul(mul(Some(self.in_ch), self.k_h), self.k_w);
        let positions = mul(Some(self.out_h()), self.out_w());
        let cols = match (taps, positions) {
            (Some(t), Some(p)) => t.checked_mul(p),
            _ => None,
        };
        if mul(mul(Some(self.in_ch), self.in_h), self.in_w).is_none()
            || mul(positions, self.out_ch).is_none()
            || mul(taps, self.out_ch).is_none()
            || cols.is_none()
        {
            return invalid("conv2d: size overflows usize");
        }
        Ok(())
    }
    fn geom(&self) -> Geom {
        Geom {
            in_ch: self.in_ch,
            in_h: self.in_h,
            in_w: self.in_w,
            out_ch: self.out_ch,
            k_h: self.k_h,
            k_w: self.k_w,
            s: self.stride,
            p_h: self.pad,
            p_w: self.pad,
            out_h: self.out_h(),
            out_w: self.out_w(),
        }
    }
}

impl Conv1dShape {
    /// Output positions per channel: `(in_len + 2 pad - k) / stride + 1`.
    pub const fn out_steps(&self) -> usize {
        conv_out_len(self.in_len, self.k, self.stride, self.pad)
    }
    /// Input elements: `in_ch * in_len`.
    pub const fn input_elems(&self) -> usize {
        self.in_ch * self.in_len
    }
    /// Output elements: `out_ch * out_len`.
    pub const fn output_elems(&self) -> usize {
        self.out_ch * self.out_steps()
    }
    /// Weight elements: `out_ch * in_ch * k`.
    pub const fn weight_len(&self) -> usize {
        self.out_ch * self.in_ch * self.k
    }
    /// The same convolution as a 2-D one of height 1 (no vertical padding).
    const fn geom(&self) -> Geom {
        Geom {
            in_ch: self.in_ch,
            in_h: 1,
            in_w: self.in_len,
            out_ch: self.out_ch,
            k_h: 1,
            k_w: self.k,
            s: self.stride,
            p_h: 0,
            p_w: self.pad,
            out_h: 1,
            out_w: self.out_steps(),
        }
    }
    /// Checks that the shape is usable (see [`Conv2dShape::validate`]).
    pub const fn validate(&self) -> Result<(), Error> {
        if self.in_ch == 0 || self.out_ch == 0 {
            return invalid("conv1d: zero channels");
        }
        if self.stride == 0 || self.k == 0 {
            return invalid("conv1d: zero stride or kernel");
        }
        let Some(padded) = pad_add(self.in_len, self.pad) else {
            return invalid("conv1d: size overflows usize");
        };
        if padded < self.k {
            return invalid("conv1d: kernel larger than padded input");
        }
        if mul(Some(self.in_ch), self.in_len).is_none()
            || mul(Some(self.out_ch), self.out_steps()).is_none()
            || mul(mul(Some(self.out_ch), self.in_ch), self.k).is_none()
        {
            return invalid("conv1d: size overflows usize");
        }
        Ok(())
    }
}

/// [`Error::InvalidShape`] saying `what`.
pub(super) const fn invalid(what: &'static str) -> Result<(), Error> {
    Err(Error::InvalidShape { what })
}

/// `n + 2 pad`, or `None` on overflow.
const fn pad_add(n: usize, pad: usize) -> Option<usize> {
    match pad.checked_mul(2) {
        Some(p2) => n.checked_add(p2),
        None => None,
    }
}

/// `a * b`, `None` on overflow or if `a` is `None`.
pub(super) const fn mul(a: Option<usize>, b: usize) -> Option<usize> {
    match a {
        Some(a) => a.checked_mul(b),
        None => None,
    }
}

/// Internal geometry shared by the 1-D and 2-D forms.
#[derive(Clone, Copy)]
struct Geom {
    in_ch: usize,
    in_h: usize,
    in_w: usize,
    out_ch: usize,
    k_h: usize,
    k_w: usize,
    s: usize,
    p_h: usize,
    p_w: usize,
    out_h: usize,
    out_w: usize,
}

impl Geom {
    fn check(&self, x: usize, w: usize, y: usize) {
        assert!(
            self.s > 0 && self.out_h > 0 && self.out_w > 0,
            "conv: invalid shape"
        );
        assert_eq!(x, self.in_ch * self.in_h * self.in_w, "conv: input length");
        assert_eq!(
            w,
            self.out_ch * self.in_ch * self.k_h * self.k_w,
            "conv: weight length"
        );
        assert_eq!(
            y,
            self.out_ch * self.out_h * self.out_w,
            "conv: output length"
        );
    }

    /// Output indices `lo..hi` along an axis whose input index
    /// `o * s + k - p` lies in `0..n`.
    fn range(&self, n: usize, out: usize, k: usize, p: usize) -> (usize, usize) {
        let lo = if p > k { (p - k).div_ceil(self.s) } else { 0 };
        if n + p <= k {
            return (0, 0);
        }
        let hi = ((n + p - k - 1) / self.s + 1).min(out);
        (lo.min(hi), hi)
    }

    /// Calls `f(w_index, y_row, x_row, lo, hi)` for every kernel tap and
    /// output row: output `y_row + ow` meets input `x_row + ow * s` for `ow`
    /// in `lo..hi` (`x_row` is signed: padding may put it before the row).
    #[inline]
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize, isize, usize, usize)) {
        let (ih_n, iw_n) = (self.in_h, self.in_w);
        for oc in 0..self.out_ch {
            for ic in 0..self.in_ch {
                for kh in 0..self.k_h {
                    let (oh_lo, oh_hi) = self.range(ih_n, self.out_h, kh, self.p_h);
                    for kw in 0..self.k_w {
                        let wi = ((oc * self.in_ch + ic) * self.k_h + kh) * self.k_w + kw;
                        let (lo, hi) = self.range(iw_n, self.out_w, kw, self.p_w);
                        if lo >= hi {
                            continue;
                        }
                        for oh in oh_lo..oh_hi {
                            let ih = oh * self.s + kh - self.p_h;
                            let y0 = (oc * self.out_h + oh) * self.out_w;
                            let x0 = ((ic * ih_n + ih) * iw_n) as isize + kw as isize
                                - self.p_w as isize;
                            f(wi, y0, x0, lo, hi);
                        }
                    }
                }
            }
        }
    }
}

/// `y[j] += sum_t w'[t] * x[j + off + t]` (`w'` = `w`, reversed if `rev`),
/// with `x` zero outside its bounds: [`super::corr_acc`] on the interior,
/// checked scalar code on the borders.
fn corr_padded(y: &mut [f32], x: &[f32], w: &[f32], off: isize, rev: bool) {
    let (n, k, xl) = (y.len() as isize, w.len() as isize, x.len() as isize);
    // Interior: 0 <= j + off and j + off + k - 1 < xl.
    let lo = (-off).clamp(0, n);
    let hi = (xl - k + 1 - off).clamp(lo, n);
    if hi > lo {
        let x0 = (lo + off) as usize;
        let len = (hi - lo) as usize;
        super::corr_acc(
            &mut y[lo as usize..hi as usize],
            &x[x0..x0 + len + w.len() - 1],
            w,
            rev,
        );
    }
    for j in (0..lo).chain(hi..n) {
        let mut s = 0.0;
        for t in 0..k {
            let i = j + off + t;
            if (0..xl).contains(&i) {
                let wt = if rev {
                    w[(k - 1 - t) as usize]
                } else {
                    w[t as usize]
                };
                s += wt * x[i as usize];
            }
        }
        y[j as usize] += s;
    }
}

/// Calls `f(oc, ic, kh, oh, ih)` for every output row `oh` of channel `oc`
/// that kernel row `kh` of input channel `ic` reaches (input row `ih`).
#[inline]
fn for_each_row(g: &Geom, mut f: impl FnMut(usize, usize, usize, usize, usize)) {
    for oc in 0..g.out_ch {
        for ic in 0..g.in_ch {
            for kh in 0..g.k_h {
                let (oh_lo, oh_hi) = g.range(g.in_h, g.out_h, kh, g.p_h);
                for oh in oh_lo..oh_hi {
                    f(oc, ic, kh, oh, oh * g.s + kh - g.p_h);
                }
            }
        }
    }
}

fn forward(g: &Geom, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
    g.check(x.len(), w.len(), y.len());
    assert_eq!(b.len(), g.out_ch, "conv: bias length");
    let plane = g.out_h * g.out_w;
    for (oc, &bv) in b.iter().enumerate() {
        y[oc * plane..(oc + 1) * plane].fill(bv);
    }
    let s = g.s;
    if s == 1 {
        for_each_row(g, |oc, ic, kh, oh, ih| {
            let wr = &w[((oc * g.in_ch + ic) * g.k_h + kh) * g.k_w..][..g.k_w];
            let xr = &x[(ic * g.in_h + ih) * g.in_w..][..g.in_w];
            let yr = &mut y[(oc * g.out_h + oh) * g.out_w..][..g.out_w];
            corr_padded(yr, xr, wr, -(g.p_w as isize), false);
        });
        return;
    }
    g.for_each_tap(|wi, y0, x0, lo, hi| {
        let wv = w[wi];
        let xs = (x0 + (lo * s) as isize) as usize;
        let yr = &mut y[y0 + lo..y0 + hi];
        if s == 1 {
            super::axpy(wv, &x[xs..xs + (hi - lo)], yr);
        } else {
            for (j, yv) in yr.iter_mut().enumerate() {
                *yv += wv * x[xs + j * s];
            }
        }
    });
}

#[allow(clippy::too_many_arguments)]
fn backward(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: &mut [f32],
) {
    g.check(x.len(), w.len(), dy.len());
    assert_eq!(dw.len(), w.len(), "conv: weight gradient length");
    assert_eq!(db.len(), g.out_ch, "conv: bias gradient length");
    let plane = g.out_h * g.out_w;
    for (oc, d) in db.iter_mut().enumerate() {
        *d += dy[oc * plane..(oc + 1) * plane].iter().sum::<f32>();
    }
    let s = g.s;
    match dx {
        Some(dx) if s == 1 => {
            assert_eq!(dx.len(), x.len(), "conv: input gradient length");
            dx.fill(0.0);
            for_each_row(g, |oc, ic, kh, oh, ih| {
                let wr = &w[((oc * g.in_ch + ic) * g.k_h + kh) * g.k_w..][..g.k_w];
                let dyr = &dy[(oc * g.out_h + oh) * g.out_w..][..g.out_w];
                let dxr = &mut dx[(ic * g.in_h + ih) * g.in_w..][..g.in_w];
                // dx[i] += sum_kw w[kw] dy[i + p - kw]
                let off = g.p_w as isize - (g.k_w as isize - 1);
                corr_padded(dxr, dyr, wr, off, true);
            });
            weight_grads(g, x, dy, dw);
        }
        Some(dx) => {
            assert_eq!(dx.len(), x.len(), "conv: input gradient length");
            dx.fill(0.0);
            g.for_each_tap(|wi, y0, x0, lo, hi| {
                let xs = (x0 + (lo * s) as isize) as usize;
                let dyr = &dy[y0 + lo..y0 + hi];
                if s == 1 {
                    dw[wi] += super::dot(dyr, &x[xs..xs + (hi - lo)]);
                    super::axpy(w[wi], dyr, &mut dx[xs..xs + (hi - lo)]);
                } else {
                    let mut acc = 0.0;
                    for (j, &gv) in dyr.iter().enumerate() {
                        acc += gv * x[xs + j * s];
                        dx[xs + j * s] += w[wi] * gv;
                    }
                    dw[wi] += acc;
                }
            });
        }
        None => weight_grads(g, x, dy, dw),
    }
}

/// `dw += ∂L/∂w` alone.
fn weight_grads(g: &Geom, x: &[f32], dy: &[f32], dw: &mut [f32]) {
    let s = g.s;
    if s == 1 {
        for_each_row(g, |oc, ic, kh, oh, ih| {
            let dwr = &mut dw[((oc * g.in_ch + ic) * g.k_h + kh) * g.k_w..][..g.k_w];
            let xr = &x[(ic * g.in_h + ih) * g.in_w..][..g.in_w];
            let dyr = &dy[(oc * g.out_h + oh) * g.out_w..][..g.out_w];
            corr_dot_padded(dwr, xr, dyr, g.p_w);
        });
        return;
    }
    g.for_each_tap(|wi, y0, x0, lo, hi| {
        let xs = (x0 + (lo * s) as isize) as usize;
        let dyr = &dy[y0 + lo..y0 + hi];
        dw[wi] += dyr
            .iter()
            .enumerate()
            .map(|(j, &gv)| gv * x[xs + j * s])
            .sum::<f32>();
    });
}

/// `out[t] += sum_j dy[j] * x[j + t - pad]` with `x` zero outside its bounds:
/// [`super::corr_dot_acc`] over the outputs whose taps all land inside `x`,
/// checked scalar code for the rest.
fn corr_dot_padded(out: &mut [f32], x: &[f32], dy: &[f32], pad: usize) {
    let (k, n, xl, p) = (
        out.len() as isize,
        dy.len() as isize,
        x.len() as isize,
        pad as isize,
    );
    // Interior: j - p >= 0 and j - p + k - 1 < xl.
    let lo = p.clamp(0, n);
    let hi = (xl + p - k + 1).clamp(lo, n);
    if hi > lo {
        let x0 = (lo - p) as usize;
        let len = (hi - lo) as usize;
        super::corr_dot_acc(
            out,
            &x[x0..x0 + len + out.len() - 1],
            &dy[lo as usize..hi as usize],
        );
    }
    for j in (0..lo).chain(hi..n) {
        let gv = dy[j as usize];
        for (t, o) in out.iter_mut().enumerate() {
            let i = j + t as isize - p;
            if (0..xl).contains(&i) {
                *o += gv * x[i as usize];
            }
        }
    }
}

/// 2-D convolution forward, direct (no scratch): `y = conv(x, w) + b`.
///
/// # Panics
/// If a slice length does not match `shape`, or the shape is invalid.
pub fn conv2d_forward(shape: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
    forward(&shape.geom(), x, w, b, y)
}

/// 2-D convolution backward: accumulates `dw += ∂L/∂w`, `db += ∂L/∂b` and,
/// if `dx` is given, overwrites it with `∂L/∂x`, from the output gradient `dy`
/// and the forward input `x`.
///
/// # Panics
/// If a slice length does not match `shape`.
pub fn conv2d_backward(
    shape: &Conv2dShape,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: &mut [f32],
) {
    backward(&shape.geom(), x, w, dy, dx, dw, db)
}

/// 1-D convolution forward: `y = conv(x, w) + b` (input `in_ch x in_len`,
/// weights `out_ch x in_ch x k`).
///
/// # Panics
/// If a slice length does not match `shape`, or the shape is invalid.
pub fn conv1d_forward(shape: &Conv1dShape, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
    forward(&shape.geom(), x, w, b, y)
}

/// 1-D convolution backward; see [`conv2d_backward`].
///
/// # Panics
/// If a slice length does not match `shape`.
pub fn conv1d_backward(
    shape: &Conv1dShape,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: &mut [f32],
) {
    backward(&shape.geom(), x, w, dy, dx, dw, db)
}

/// Unfolds `x` into `cols` (`in_ch * k_h * k_w` rows of `out_h * out_w`),
/// zeros where the kernel overlaps padding, so that the convolution is
/// `y = W · cols` with `W` viewed as `out_ch x (in_ch * k_h * k_w)`.
///
/// # Panics
/// If `x.len() != shape.in_len()` or `cols.len() != shape.im2col_len()`.
pub fn im2col(shape: &Conv2dShape, x: &[f32], cols: &mut [f32]) {
    let g = shape.geom();
    assert_eq!(x.len(), shape.in_len(), "im2col: input length");
    assert_eq!(cols.len(), shape.im2col_len(), "im2col: scratch length");
    let n = g.out_h * g.out_w;
    for ic in 0..g.in_ch {
        for kh in 0..g.k_h {
            for kw in 0..g.k_w {
                let row = ((ic * g.k_h + kh) * g.k_w + kw) * n;
                let dst = &mut cols[row..row + n];
                dst.fill(0.0);
                let (oh_lo, oh_hi) = g.range(g.in_h, g.out_h, kh, g.p_h);
                let (lo, hi) = g.range(g.in_w, g.out_w, kw, g.p_w);
                for oh in oh_lo..oh_hi {
                    let ih = oh * g.s + kh - g.p_h;
                    let xr = &x[(ic * g.in_h + ih) * g.in_w..][..g.in_w];
                    for ow in lo..hi {
                        dst[oh * g.out_w + ow] = xr[ow * g.s + kw - g.p_w];
                    }
                }
            }
        }
    }
}

/// Adds the columns `cols` (layout of [`im2col`]) back into `dx` (which it
/// overwrites): the input gradient from `cols = Wᵀ · dy`.
///
/// # Panics
/// If `dx.len() != shape.in_len()` or `cols.len() != shape.im2col_len()`.
pub fn col2im(shape: &Conv2dShape, cols: &[f32], dx: &mut [f32]) {
    let g = shape.geom();
    assert_eq!(dx.len(), shape.in_len(), "col2im: input length");
    assert_eq!(cols.len(), shape.im2col_len(), "col2im: scratch length");
    dx.fill(0.0);
    let n = g.out_h * g.out_w;
    for ic in 0..g.in_ch {
        for kh in 0..g.k_h {
            for kw in 0..g.k_w {
                let src = &cols[((ic * g.k_h + kh) * g.k_w + kw) * n..][..n];
                let (oh_lo, oh_hi) = g.range(g.in_h, g.out_h, kh, g.p_h);
                let (lo, hi) = g.range(g.in_w, g.out_w, kw, g.p_w);
                for oh in oh_lo..oh_hi {
                    let ih = oh * g.s + kh - g.p_h;
                    let xr = &mut dx[(ic * g.in_h + ih) * g.in_w..][..g.in_w];
                    for ow in lo..hi {
                        xr[ow * g.s + kw - g.p_w] += src[oh * g.out_w + ow];
                    }
                }
            }
        }
    }
}

/// 2-D convolution forward through [`im2col`] and one [`gemm`](super::gemm);
/// `scratch` holds [`Conv2dShape::im2col_len`] floats. Same result as
/// [`conv2d_forward`] up to rounding.
///
/// # Panics
/// If a slice length does not match `shape`.
pub fn conv2d_forward_im2col(
    shape: &Conv2dShape,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    y: &mut [f32],
    scratch: &mut [f32],
) {
    let g = shape.geom();
    g.check(x.len(), w.len(), y.len());
    assert_eq!(b.len(), g.out_ch, "conv: bias length");
    im2col(shape, x, scratch);
    let n = g.out_h * g.out_w;
    for (oc, &bv) in b.iter().enumerate() {
        y[oc * n..(oc + 1) * n].fill(bv);
    }
    let kk = g.in_ch * g.k_h * g.k_w;
    super::gemm(false, false, g.out_ch, n, kk, w, scratch, 1.0, y);
}
