//! LSTM cell math for one sample and one time step.
//!
//! Gate pre-activations `z = Wx x + Wh h_prev + b` have `4 * hidden` entries
//! in the order input `i`, forget `f`, cell candidate `g`, output `o`;
//! `Wx` is `4H x IN`, `Wh` is `4H x H` (row-major, like a dense layer).
//!
//! `i = σ(z_i)`, `f = σ(z_f)`, `g = tanh(z_g)`, `o = σ(z_o)`,
//! `c = f ⊙ c_prev + i ⊙ g`, `h = o ⊙ tanh(c)`.

/// Sizes of an LSTM cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LstmShape {
    /// Input features per step.
    pub input: usize,
    /// Hidden (and cell) state size `H`.
    pub hidden: usize,
}

impl LstmShape {
    /// Gate count times hidden size: `4 * H`.
    pub const fn gates(&self) -> usize {
        4 * self.hidden
    }
    /// Elements of `Wx`: `4H * input`.
    pub const fn wx_len(&self) -> usize {
        4 * self.hidden * self.input
    }
    /// Elements of `Wh`: `4H * H`.
    pub const fn wh_len(&self) -> usize {
        4 * self.hidden * self.hidden
    }
}

/// Applies the gate nonlinearities in place (`gates` holds `z` on entry and
/// `[i, f, g, o]` on return) and computes the new cell and hidden state.
///
/// # Panics
/// If `gates.len() != 4 * c_prev.len()` or the state slices differ in length.
pub fn lstm_cell_forward(gates: &mut [f32], c_prev: &[f32], c: &mut [f32], h: &mut [f32]) {
    let hn = c_prev.len();
    assert_eq!(gates.len(), 4 * hn, "lstm: gate length");
    assert!(c.len() == hn && h.len() == hn, "lstm: state length");
    let (ifg, o) = gates.split_at_mut(3 * hn);
    let (i_f, g) = ifg.split_at_mut(2 * hn);
    super::sigmoid_inplace(i_f);
    super::tanh_inplace(g);
    super::sigmoid_inplace(o);
    let (i, f) = i_f.split_at(hn);
    for k in 0..hn {
        c[k] = f[k] * c_prev[k] + i[k] * g[k];
    }
    super::tanh(c, h);
    for (hv, &ov) in h.iter_mut().zip(o.iter()) {
        *hv *= ov;
    }
}

/// Backward through the cell nonlinearities. From the activated `gates`
/// (`[i, f, g, o]`), `c_prev`, `c`, the gradient `dh` of `h` and `dc` of `c`
/// from later steps, writes the pre-activation gradient `dz` (`4H`) and
/// overwrites `dc` with the gradient of `c_prev`.
///
/// # Panics
/// If the lengths do not match `H = c.len()`.
pub fn lstm_cell_backward(
    gates: &[f32],
    c_prev: &[f32],
    c: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dz: &mut [f32],
) {
    let hn = c.len();
    assert!(
        gates.len() == 4 * hn && dz.len() == 4 * hn,
        "lstm: gate length"
    );
    assert!(
        c_prev.len() == hn && dh.len() == hn && dc.len() == hn,
        "lstm: state length"
    );
    // tanh(c) through the SIMD kernel, a stack chunk at a time.
    const CHUNK: usize = 64;
    let mut tc = [0.0f32; CHUNK];
    for k0 in (0..hn).step_by(CHUNK) {
        let len = CHUNK.min(hn - k0);
        super::tanh(&c[k0..k0 + len], &mut tc[..len]);
        for (j, &t) in tc[..len].iter().enumerate() {
            let k = k0 + j;
            let (i, f, g, o) = (
                gates[k],
                gates[hn + k],
                gates[2 * hn + k],
                gates[3 * hn + k],
            );
            let d_o = dh[k] * t;
            let dck = dc[k] + dh[k] * o * (1.0 - t * t);
            dz[k] = dck * g * i * (1.0 - i);
            dz[hn + k] = dck * c_prev[k] * f * (1.0 - f);
            dz[2 * hn + k] = dck * i * (1.0 - g * g);
            dz[3 * hn + k] = d_o * o * (1.0 - o);
            dc[k] = dck * f;
        }
    }
}

/// One full LSTM step: `gates = Wx x + Wh h_prev + b`, then
/// [`lstm_cell_forward`]. `gates` (`4H`) keeps the activated gates for
/// backward.
///
/// # Panics
/// If a slice length does not match `shape`.
#[allow(clippy::too_many_arguments)]
pub fn lstm_step_forward(
    shape: &LstmShape,
    wx: &[f32],
    wh: &[f32],
    b: &[f32],
    x: &[f32],
    h_prev: &[f32],
    c_prev: &[f32],
    gates: &mut [f32],
    c: &mut [f32],
    h: &mut [f32],
) {
    assert_eq!(x.len(), shape.input, "lstm: input length");
    assert_eq!(h_prev.len(), shape.hidden, "lstm: state length");
    assert_eq!(wh.len(), shape.wh_len(), "lstm: Wh shape");
    super::gemv(wx, x, b, gates);
    super::gemv_acc(wh, h_prev, gates);
    lstm_cell_forward(gates, c_prev, c, h);
}

/// Gradients of an LSTM step's parameters and inputs.
#[derive(Debug)]
pub struct LstmStepGrads<'a> {
    /// `∂L/∂Wx`, accumulated.
    pub wx: &'a mut [f32],
    /// `∂L/∂Wh`, accumulated.
    pub wh: &'a mut [f32],
    /// `∂L/∂b`, accumulated.
    pub b: &'a mut [f32],
}

/// Backward of [`lstm_step_forward`]: from `dh` and `dc` (gradient of `c`
/// from the next step; overwritten with that of `c_prev`), accumulates the
/// parameter gradients, writes `dx` and `dh_prev`. `dz` is `4H` scratch.
///
/// # Panics
/// If a slice length does not match `shape`.
#[allow(clippy::too_many_arguments)]
pub fn lstm_step_backward(
    shape: &LstmShape,
    wx: &[f32],
    wh: &[f32],
    x: &[f32],
    h_prev: &[f32],
    c_prev: &[f32],
    gates: &[f32],
    c: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dz: &mut [f32],
    grads: LstmStepGrads<'_>,
    dx: &mut [f32],
    dh_prev: &mut [f32],
) {
    lstm_cell_backward(gates, c_prev, c, dh, dc, dz);
    super::outer_acc(grads.wx, dz, x);
    super::outer_acc(grads.wh, dz, h_prev);
    assert_eq!(grads.b.len(), shape.gates(), "lstm: bias gradient length");
    for (g, &d) in grads.b.iter_mut().zip(dz.iter()) {
        *g += d;
    }
    super::gemv_t(wx, dz, dx);
    super::gemv_t(wh, dz, dh_prev);
}
