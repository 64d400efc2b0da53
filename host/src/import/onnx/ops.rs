//! The translation of each ONNX op.

use anyhow::{Result, bail};
use myelin_core::model::{Activation, Shape};
use myelin_onnx::Node;

use super::{Translator, Val, channel_shape, norm_axis};
use crate::net::{LayerSpec, Padding};

/// Batch-norm epsilon of the affine nodes LeakyRelu becomes (variance 1,
/// so the scale is exactly gamma).
const AFFINE_EPS: f32 = 1e-12;

impl Translator<'_> {
    /// Translates one node.
    pub(super) fn node(&mut self, node: &Node) -> Result<()> {
        match node.op_type.as_str() {
            "Gemm" => self.gemm(node),
            "MatMul" => self.matmul(node),
            "Add" => self.add(node),
            "Conv" => self.conv(node),
            "BatchNormalization" => self.batch_norm(node),
            "Relu" => self.activate(node, Activation::Relu),
            "Sigmoid" => self.activate(node, Activation::Sigmoid),
            "Tanh" => self.activate(node, Activation::Tanh),
            "Softmax" => self.softmax(node),
            "Clip" => self.clip(node),
            "LeakyRelu" => self.leaky_relu(node),
            "MaxPool" => self.pool(node, true),
            "AveragePool" => self.pool(node, false),
            "GlobalAveragePool" => self.global_pool(node, None),
            "ReduceMean" => self.reduce_mean(node),
            "Concat" => self.concat(node),
            "Flatten" => self.flatten(node),
            "Reshape" => self.reshape(node),
            "Squeeze" => self.squeeze(node, false),
            "Unsqueeze" => self.squeeze(node, true),
            "Transpose" => self.transpose(node),
            "Gather" => self.gather(node),
            "LSTM" => self.lstm(node),
            op => bail!("the op {op} has no myelin translation"),
        }
    }

    /// Refuses attributes other than `known`.
    fn only_attributes(node: &Node, known: &[&str]) -> Result<()> {
        if let Some(a) = node
            .attributes
            .keys()
            .find(|a| !known.contains(&a.as_str()))
        {
            bail!("the attribute {a} is not supported");
        }
        Ok(())
    }

    /// A dense node from `x` with weights `w` (`OUT x IN`) and bias `b`.
    fn dense(&mut self, node: &Node, x: &Val, w: Vec<f32>, b: Vec<f32>) -> Result<()> {
        let s = x.sample();
        if s.len() != 1 || x.batch != 0 {
            bail!(
                "multiplies samples of shape {s:?}; myelin's dense layer takes vectors (flatten first)"
            );
        }
        let units = b.len();
        let src = self.source(x, None)?;
        let i = self.push(
            LayerSpec::Dense {
                units,
                activation: Activation::Identity,
            },
            vec![src],
            vec![w, b],
        )?;
        self.define(node, 0, Some(i), vec![1, units], 0);
        Ok(())
    }

    fn gemm(&mut self, node: &Node) -> Result<()> {
        Self::only_attributes(node, &["alpha", "beta", "transA", "transB"])?;
        if node.int_or("transA", 0)? != 0 {
            bail!("transA = 1 is not supported");
        }
        let x = self.val(node, 0)?;
        let (bd, bw) = self.constant(node, 1)?;
        let [r, c] = *bd else {
            bail!("B must be a matrix, not of dims {bd:?}");
        };
        let alpha = node.float_or("alpha", 1.0)?;
        let beta = node.float_or("beta", 1.0)?;
        let (out, inn) = if node.int_or("transB", 0)? != 0 {
            (r, c)
        } else {
            (c, r)
        };
        if x.len() != inn {
            bail!("B takes {inn} inputs, the input has {}", x.len());
        }
        let mut w = vec![0.0; out * inn];
        for o in 0..out {
            for k in 0..inn {
                let v = if node.int_or("transB", 0)? != 0 {
                    bw[o * inn + k]
                } else {
                    bw[k * out + o]
                };
                w[o * inn + k] = alpha * v;
            }
        }
        let mut b = vec![0.0; out];
        if node.input(2).is_some() {
            let (_, cb) = self.constant(node, 2)?;
            match cb.len() {
                1 => b.fill(beta * cb[0]),
                n if n == out => b.iter_mut().zip(cb).for_each(|(b, c)| *b = beta * c),
                n => bail!("C has {n} values; {out} outputs need {out} or 1"),
            }
        }
        self.dense(node, &x, w, b)
    }

    fn matmul(&mut self, node: &Node) -> Result<()> {
        let x = self.val(node, 0)?;
        let (bd, bw) = self.constant(node, 1)?;
        let [inn, out] = *bd else {
            bail!("the second input must be a matrix, not of dims {bd:?}");
        };
        if x.len() != inn {
            bail!("the matrix takes {inn} inputs, the input has {}", x.len());
        }
        let mut w = vec![0.0; out * inn];
        for k in 0..inn {
            for o in 0..out {
                w[o * inn + k] = bw[k * out + o];
            }
        }
        self.dense(node, &x, w, vec![0.0; out])
    }

    fn add(&mut self, node: &Node) -> Result<()> {
        let a_const = node.input(0).and_then(|n| self.g.initializer(n)).is_some();
        let b_const = node.input(1).and_then(|n| self.g.initializer(n)).is_some();
        match (a_const, b_const) {
            (false, false) => {
                let a = self.val(node, 0)?;
                let b = self.val(node, 1)?;
                if a.sample() != b.sample() {
                    bail!(
                        "adds samples of shapes {:?} and {:?}; myelin adds equal shapes only",
                        a.sample(),
                        b.sample()
                    );
                }
                let sa = self.source(&a, None)?;
                let shape = self.shape(a.node);
                let sb = self.source(&b, shape)?;
                let i = self.push(
                    LayerSpec::Add {
                        activation: Activation::Identity,
                    },
                    vec![sa, sb],
                    vec![],
                )?;
                self.define(node, 0, Some(i), a.dims, a.batch);
                Ok(())
            }
            (true, true) => bail!("adds two constants (the reader folds those)"),
            (ac, _) => self.add_bias(node, if ac { 1 } else { 0 }),
        }
    }

    /// `x + c` with a per-channel constant: folded into the bias of the
    /// dense or conv node before it.
    fn add_bias(&mut self, node: &Node, xi: usize) -> Result<()> {
        let x = self.val(node, xi)?;
        let (cd, c) = self.constant(node, 1 - xi)?;
        let target = match x.node {
            Some(i) if x.exclusive && x.time.is_none() => match &self.built[i].spec.op {
                crate::graph::NodeOp::Layer(LayerSpec::Dense { units, .. }) => Some((i, *units)),
                crate::graph::NodeOp::Layer(LayerSpec::Conv { filters, .. }) => Some((i, *filters)),
                _ => None,
            },
            _ => None,
        };
        let Some((i, channels)) = target else {
            bail!("adds a constant to something other than a dense or conv output it alone reads");
        };
        // Right-aligned against the value's dims, only the channel axis (1) may exceed 1.
        let rank = x.dims.len();
        if cd.len() > rank {
            bail!("the constant's dims {cd:?} have a higher rank than the input's");
        }
        let per_channel = cd.iter().enumerate().all(|(k, &d)| {
            let axis = rank - cd.len() + k;
            d == 1 || (axis == 1 && d == channels)
        });
        if !per_channel {
            bail!(
                "adds a constant of dims {cd:?}; only a per-channel bias (of {channels}) is supported"
            );
        }
        let bias = &mut self.built[i].tensors[1];
        if c.len() == 1 {
            bias.iter_mut().for_each(|b| *b += c[0]);
        } else {
            bias.iter_mut().zip(c).for_each(|(b, c)| *b += c);
        }
        self.view(node, &x, x.dims.clone(), x.batch, None);
        Ok(())
    }

    fn conv(&mut self, node: &Node) -> Result<()> {
        Self::only_attributes(
            node,
            &[
                "auto_pad",
                "dilations",
                "group",
                "kernel_shape",
                "pads",
                "strides",
            ],
        )?;
        let x = self.val(node, 0)?;
        let (wd, w) = self.constant(node, 1)?;
        if x.batch != 0 {
            bail!("the batch must be axis 0");
        }
        let spatial = x.dims.len().saturating_sub(2);
        if !(1..=2).contains(&spatial) || wd.len() != spatial + 2 {
            bail!(
                "convolves an input of dims {:?} with weights of dims {wd:?}; 1-d and 2-d convolutions are supported",
                x.dims
            );
        }
        let c = x.dims[1];
        let filters = wd[0];
        let group = usize::try_from(node.int_or("group", 1)?).unwrap_or(0);
        let depthwise = match group {
            1 => false,
            g if g == c && g > 1 => true,
            g => bail!("group = {g} is not supported: 1 or the channel count ({c}, depthwise)"),
        };
        let kernel_w = &wd[2..];
        let geo = self.window(node, spatial, kernel_w, "convolution")?;
        let (kernel, stride, padding) = geo;
        let mut b = vec![0.0; filters];
        if node.input(2).is_some() {
            let (_, bias) = self.constant(node, 2)?;
            if bias.len() != filters {
                bail!("the bias has {} values for {filters} filters", bias.len());
            }
            b.copy_from_slice(bias);
        }
        let want = channel_shape(&x.sample());
        let src = self.source(&x, Some(want))?;
        let i = self.push(
            LayerSpec::Conv {
                filters,
                kernel,
                stride,
                padding,
                depthwise,
                activation: Activation::Identity,
            },
            vec![src],
            vec![w.to_vec(), b],
        )?;
        let out = self.built[i].out;
        let dims = if spatial == 2 {
            vec![1, out[0], out[1], out[2]]
        } else {
            vec![1, out[0], out[2]]
        };
        self.define(node, 0, Some(i), dims, 0);
        Ok(())
    }

    /// Kernel, stride and padding of a conv or pool over `spatial` axes
    /// (1-d becomes height 1).
    fn window(
        &self,
        node: &Node,
        spatial: usize,
        kernel: &[usize],
        what: &str,
    ) -> Result<([usize; 2], [usize; 2], Padding)> {
        if let Some(ks) = node.ints("kernel_shape")? {
            let ks: Vec<usize> = ks.iter().map(|&k| k.max(0) as usize).collect();
            if ks != kernel {
                bail!("kernel_shape {ks:?} disagrees with the weights' {kernel:?}");
            }
        }
        if let Some(d) = node.ints("dilations")?
            && d.iter().any(|&d| d != 1)
        {
            bail!("dilations {d:?} are not supported (1 only)");
        }
        let auto = node.string("auto_pad")?.unwrap_or("NOTSET");
        let strides = match node.ints("strides")? {
            Some(s) if s.len() == spatial && s.iter().all(|&s| s >= 1) => {
                s.iter().map(|&s| s as usize).collect()
            }
            Some(s) => bail!("strides {s:?} are invalid for a {spatial}-d {what}"),
            None => vec![1; spatial],
        };
        let pads: Vec<usize> = match (auto, node.ints("pads")?) {
            ("NOTSET", Some(p)) if p.len() == 2 * spatial && p.iter().all(|&p| p >= 0) => {
                p.iter().map(|&p| p as usize).collect()
            }
            ("NOTSET", Some(p)) => bail!("pads {p:?} are invalid for a {spatial}-d {what}"),
            ("NOTSET" | "VALID", None) => vec![0; 2 * spatial],
            (a, _) => bail!("auto_pad = {a} is not supported (give explicit pads)"),
        };
        Ok(if spatial == 2 {
            (
                [kernel[0], kernel[1]],
                [strides[0], strides[1]],
                Padding::Explicit {
                    top: pads[0],
                    left: pads[1],
                    bottom: pads[2],
                    right: pads[3],
                },
            )
        } else {
            (
                [1, kernel[0]],
                [1, strides[0]],
                Padding::Explicit {
                    top: 0,
                    bottom: 0,
                    left: pads[0],
                    right: pads[1],
                },
            )
        })
    }

    fn batch_norm(&mut self, node: &Node) -> Result<()> {
        Self::only_attributes(node, &["epsilon", "momentum", "training_mode"])?;
        if node.int_or("training_mode", 0)? != 0 {
            bail!("training_mode = 1 is not supported (export in eval mode)");
        }
        if node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
            bail!("running-statistics outputs are not supported (export in eval mode)");
        }
        let x = self.val(node, 0)?;
        if x.batch != 0 || x.dims.len() < 2 {
            bail!("normalizes dims {:?}; the channels must be axis 1", x.dims);
        }
        let c = x.dims[1];
        let mut tensors = Vec::with_capacity(4);
        for (i, what) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
            let (_, t) = self.constant(node, i)?;
            if t.len() != c {
                bail!("{what} has {} values for {c} channels", t.len());
            }
            tensors.push(t.to_vec());
        }
        let eps = node.float_or("epsilon", 1e-5)?;
        let src = self.source(&x, Some(channel_shape(&x.sample())))?;
        let i = self.push(
            LayerSpec::BatchNorm {
                eps,
                activation: Activation::Identity,
            },
            vec![src],
            tensors,
        )?;
        self.define(node, 0, Some(i), x.dims, 0);
        Ok(())
    }

    fn softmax(&mut self, node: &Node) -> Result<()> {
        let x = self.val(node, 0)?;
        let axis = norm_axis(node.int_or("axis", -1)?, x.dims.len())?;
        let others: usize = x
            .dims
            .iter()
            .enumerate()
            .filter(|&(k, _)| k != axis && k != x.batch)
            .map(|(_, &d)| d)
            .product();
        if axis == x.batch || others != 1 {
            bail!(
                "softmax over axis {axis} of dims {:?}; myelin's softmax covers the whole sample",
                x.dims
            );
        }
        self.activate(node, Activation::Softmax)
    }

    fn clip(&mut self, node: &Node) -> Result<()> {
        if !node.attributes.is_empty() {
            bail!("Clip with attributes (opset < 11) is not supported");
        }
        let lo = self.scalar(node, 1)?;
        let hi = self.scalar(node, 2)?.filter(|h| h.is_finite());
        match (lo, hi) {
            (Some(l), Some(h)) if l == 0.0 && h == 6.0 => self.activate(node, Activation::Relu6),
            (Some(0.0), None) => self.activate(node, Activation::Relu),
            _ => bail!(
                "Clip to [{}, {}] is not supported: [0, 6] (relu6) and [0, inf) (relu) are",
                lo.map_or("-inf".into(), |v| v.to_string()),
                hi.map_or("inf".into(), |v| v.to_string())
            ),
        }
    }

    /// `a * x + relu((1 - a) * x)` from two per-channel affine nodes.
    fn leaky_relu(&mut self, node: &Node) -> Result<()> {
        let alpha = node.float_or("alpha", 0.01)?;
        if !(0.0..1.0).contains(&alpha) {
            bail!("LeakyRelu with alpha = {alpha} is not supported (0 <= alpha < 1)");
        }
        let x = self.val(node, 0)?;
        let shape: Shape = match self.shape(x.node) {
            Some(s) => s,
            None => channel_shape(&x.sample()),
        };
        let src = self.source(&x, Some(shape))?;
        let c = shape[0];
        let affine = |scale: f32| vec![vec![scale; c], vec![0.0; c], vec![0.0; c], vec![1.0; c]];
        let lin = self.push(
            LayerSpec::BatchNorm {
                eps: AFFINE_EPS,
                activation: Activation::Identity,
            },
            vec![src.clone()],
            affine(alpha),
        )?;
        let pos = self.push(
            LayerSpec::BatchNorm {
                eps: AFFINE_EPS,
                activation: Activation::Relu,
            },
            vec![src],
            affine(1.0 - alpha),
        )?;
        let i = self.push(
            LayerSpec::Add {
                activation: Activation::Identity,
            },
            vec![super::node_name(Some(lin)), super::node_name(Some(pos))],
            vec![],
        )?;
        self.define(node, 0, Some(i), x.dims, x.batch);
        Ok(())
    }

    fn pool(&mut self, node: &Node, max: bool) -> Result<()> {
        let mut known = vec!["auto_pad", "ceil_mode", "kernel_shape", "pads", "strides"];
        if max {
            known.extend(["dilations", "storage_order"]);
        } else {
            known.push("count_include_pad");
        }
        Self::only_attributes(node, &known)?;
        if node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
            bail!("the indices output is not supported");
        }
        let x = self.val(node, 0)?;
        if x.batch != 0 {
            bail!("the batch must be axis 0");
        }
        let spatial = x.dims.len().saturating_sub(2);
        if !(1..=2).contains(&spatial) {
            bail!("pools dims {:?}; 1-d and 2-d pooling are supported", x.dims);
        }
        let Some(ks) = node.ints("kernel_shape")? else {
            bail!("kernel_shape is missing");
        };
        if ks.len() != spatial || ks.iter().any(|&k| k < 1) {
            bail!("kernel_shape {ks:?} is invalid for a {spatial}-d pool");
        }
        let ks: Vec<usize> = ks.iter().map(|&k| k as usize).collect();
        if node.int_or("storage_order", 0)? != 0 {
            bail!("storage_order = 1 is not supported");
        }
        let (size, stride, padding) = self.window(node, spatial, &ks, "pool")?;
        let Padding::Explicit {
            top,
            bottom,
            left,
            right,
        } = padding
        else {
            unreachable!("window gives explicit padding")
        };
        if !max && node.int_or("count_include_pad", 0)? != 0 && top + bottom + left + right > 0 {
            bail!(
                "count_include_pad = 1 with padding is not supported: myelin's average divides by the in-bounds count (count_include_pad = 0)"
            );
        }
        let want = channel_shape(&x.sample());
        if node.int_or("ceil_mode", 0)? != 0 {
            let fits = |n: usize, k: usize, s: usize, p: usize| (n + p - k).is_multiple_of(s);
            if !(fits(want[1], size[0], stride[0], top + bottom)
                && fits(want[2], size[1], stride[1], left + right))
            {
                bail!("ceil_mode = 1 is not supported where it changes the output size");
            }
        }
        let src = self.source(&x, Some(want))?;
        let i = self.push(
            LayerSpec::Pool {
                max,
                size,
                stride,
                padding,
            },
            vec![src],
            vec![],
        )?;
        let out = self.built[i].out;
        let dims = if spatial == 2 {
            vec![1, out[0], out[1], out[2]]
        } else {
            vec![1, out[0], out[2]]
        };
        self.define(node, 0, Some(i), dims, 0);
        Ok(())
    }

    /// Mean over the spatial axes; `keep`: keep them as 1 (GlobalAveragePool
    /// always does).
    fn global_pool(&mut self, node: &Node, keep: Option<bool>) -> Result<()> {
        let x = self.val(node, 0)?;
        if x.batch != 0 || !(3..=4).contains(&x.dims.len()) {
            bail!(
                "averages dims {:?}; the spatial axes of a 1-d or 2-d map (batch first) are supported",
                x.dims
            );
        }
        let src = self.source(&x, Some(channel_shape(&x.sample())))?;
        let i = self.push(LayerSpec::GlobalAvgPool, vec![src], vec![])?;
        let mut dims = vec![1, x.dims[1]];
        if keep.unwrap_or(true) {
            dims.resize(x.dims.len(), 1);
        }
        self.define(node, 0, Some(i), dims, 0);
        Ok(())
    }

    fn reduce_mean(&mut self, node: &Node) -> Result<()> {
        Self::only_attributes(node, &["axes", "keepdims", "noop_with_empty_axes"])?;
        let x = self.val(node, 0)?;
        let axes = match (node.ints("axes")?, self.ints(node, 1)?) {
            (Some(a), _) | (None, Some(a)) => a.to_vec(),
            (None, None) => bail!("ReduceMean over every axis is not supported"),
        };
        let rank = x.dims.len();
        let mut axes = axes
            .iter()
            .map(|&a| norm_axis(a, rank))
            .collect::<Result<Vec<_>>>()?;
        axes.sort_unstable();
        let spatial: Vec<usize> = (2..rank).collect();
        if axes != spatial {
            bail!(
                "ReduceMean over axes {axes:?} of rank {rank}; only the spatial axes {spatial:?} are supported"
            );
        }
        let keep = node.int_or("keepdims", 1)? != 0;
        self.global_pool(node, Some(keep))
    }

    fn concat(&mut self, node: &Node) -> Result<()> {
        let first = self.val(node, 0)?;
        let axis = norm_axis(node.int("axis")?.unwrap_or(1), first.dims.len())?;
        if first.batch != 0 || axis != 1 {
            bail!(
                "concatenates along axis {axis}; only the channels (axis 1, batch first) are supported"
            );
        }
        let mut srcs = Vec::new();
        let mut channels = 0;
        for k in 0..node.inputs.len() {
            let v = self.val(node, k)?;
            if v.batch != 0 || v.dims.len() != first.dims.len() || v.dims[2..] != first.dims[2..] {
                bail!(
                    "concatenates dims {:?} and {:?}; they must differ in the channels only",
                    first.dims,
                    v.dims
                );
            }
            channels += v.dims[1];
            let want = channel_shape(&v.sample());
            srcs.push(self.source(&v, Some(want))?);
        }
        let i = self.push(LayerSpec::Concat, srcs, vec![])?;
        let mut dims = first.dims.clone();
        dims[1] = channels;
        self.define(node, 0, Some(i), dims, 0);
        Ok(())
    }

    fn flatten(&mut self, node: &Node) -> Result<()> {
        let x = self.val(node, 0)?;
        let axis = norm_axis(node.int_or("axis", 1)?, x.dims.len() + 1)?;
        if x.batch != 0 || axis != 1 {
            bail!("Flatten at axis {axis}; only axis 1 with the batch first is supported");
        }
        let len = x.len();
        self.view(node, &x, vec![1, len], 0, None);
        Ok(())
    }

    fn reshape(&mut self, node: &Node) -> Result<()> {
        if node.int_or("allowzero", 0)? != 0 {
            bail!("allowzero = 1 is not supported");
        }
        let x = self.val(node, 0)?;
        let Some(target) = self.ints(node, 1)? else {
            bail!("the shape is missing");
        };
        if x.batch != 0 || x.time.is_some() {
            bail!("reshapes a value whose batch is not axis 0");
        }
        match target.first() {
            Some(0 | -1) => {}
            _ => bail!(
                "the shape {target:?} must keep the batch first (0 or -1); export with flatten(1) or view(x.size(0), ...)"
            ),
        }
        let len = x.len();
        let mut dims = vec![1usize];
        let mut infer = None;
        for (k, &t) in target.iter().enumerate().skip(1) {
            match t {
                0 => dims.push(*x.dims.get(k).ok_or_else(|| {
                    anyhow::anyhow!("the shape {target:?} copies axis {k}, which the input lacks")
                })?),
                -1 if infer.is_none() && target[0] == 0 => {
                    infer = Some(k);
                    dims.push(1);
                }
                t if t > 0 => dims.push(t as usize),
                _ => bail!("the shape {target:?} is invalid"),
            }
        }
        let known: usize = dims.iter().product();
        if let Some(k) = infer {
            if known == 0 || len % known != 0 {
                bail!("the shape {target:?} does not divide the {len} values of a sample");
            }
            dims[k] = len / known;
        } else if known != len {
            bail!("the shape {target:?} does not hold the {len} values of a sample");
        }
        self.view(node, &x, dims, 0, None);
        Ok(())
    }

    fn squeeze(&mut self, node: &Node, unsqueeze: bool) -> Result<()> {
        let x = self.val(node, 0)?;
        let axes: Vec<i64> = match (node.ints("axes")?, self.ints(node, 1)?) {
            (Some(a), _) | (None, Some(a)) => a.to_vec(),
            (None, None) if !unsqueeze => (0..x.dims.len() as i64)
                .filter(|&a| a as usize != x.batch && x.dims[a as usize] == 1)
                .collect(),
            (None, None) => bail!("the axes are missing"),
        };
        // Axis bookkeeping: a list of (size, is batch, is time).
        let mut axes_list: Vec<(usize, bool, bool)> = x
            .dims
            .iter()
            .enumerate()
            .map(|(k, &d)| (d, k == x.batch, Some(k) == x.time))
            .collect();
        if unsqueeze {
            let rank = axes_list.len() + axes.len();
            let mut norm = axes
                .iter()
                .map(|&a| norm_axis(a, rank))
                .collect::<Result<Vec<_>>>()?;
            norm.sort_unstable();
            norm.dedup();
            if norm.len() != axes.len() {
                bail!("the axes {axes:?} repeat");
            }
            for a in norm {
                axes_list.insert(a, (1, false, false));
            }
        } else {
            let rank = axes_list.len();
            let mut norm = axes
                .iter()
                .map(|&a| norm_axis(a, rank))
                .collect::<Result<Vec<_>>>()?;
            norm.sort_unstable();
            norm.dedup();
            for &a in norm.iter().rev() {
                let (d, batch, time) = axes_list[a];
                if batch || time || d != 1 {
                    bail!(
                        "squeezes axis {a} of dims {:?}, which is not of size 1",
                        x.dims
                    );
                }
                axes_list.remove(a);
            }
        }
        let dims = axes_list.iter().map(|a| a.0).collect();
        let batch = axes_list.iter().position(|a| a.1).unwrap_or(0);
        let time = axes_list.iter().position(|a| a.2);
        self.view(node, &x, dims, batch, time);
        Ok(())
    }

    fn transpose(&mut self, node: &Node) -> Result<()> {
        let x = self.val(node, 0)?;
        let rank = x.dims.len();
        let perm: Vec<usize> = match node.ints("perm")? {
            Some(p) => p
                .iter()
                .map(|&a| norm_axis(a, rank))
                .collect::<Result<Vec<_>>>()?,
            None => (0..rank).rev().collect(),
        };
        let mut seen = vec![false; rank];
        if perm.len() != rank || perm.iter().any(|&p| std::mem::replace(&mut seen[p], true)) {
            bail!("perm {perm:?} is not a permutation of {rank} axes");
        }
        // Only moving the batch axis leaves a sample's elements in place
        // (size-1 axes may move freely).
        let moved: Vec<usize> = perm
            .iter()
            .copied()
            .filter(|&a| a != x.batch && x.dims[a] != 1)
            .collect();
        if moved.windows(2).any(|w| w[0] > w[1]) {
            bail!(
                "Transpose {perm:?} of dims {:?} reorders a sample's elements; only moving the batch axis folds away",
                x.dims
            );
        }
        let dims = perm.iter().map(|&a| x.dims[a]).collect();
        let batch = perm.iter().position(|&a| a == x.batch).unwrap_or(0);
        let time = x.time.and_then(|t| perm.iter().position(|&a| a == t));
        self.view(node, &x, dims, batch, time);
        Ok(())
    }

    /// `y[:, -1]` of an LSTM's every-step output: the last hidden state.
    fn gather(&mut self, node: &Node) -> Result<()> {
        let x = self.val(node, 0)?;
        let axis = norm_axis(node.int_or("axis", 0)?, x.dims.len())?;
        let Some(time) = x.time.filter(|&t| t == axis) else {
            bail!("Gather is supported only to take the last step of an LSTM's output");
        };
        let name = node.input(1).unwrap_or("");
        let idx = self
            .g
            .initializer(name)
            .and_then(|t| t.as_i64().map(|d| (t.dims.clone(), d.to_vec())))
            .ok_or_else(|| anyhow::anyhow!("the indices must be constant integers"))?;
        let steps = x.dims[time] as i64;
        let (idims, ivals) = idx;
        match ivals[..] {
            [i] if i == -1 || i == steps - 1 => {}
            _ => bail!("Gather of steps {ivals:?} is not supported: only the last step"),
        }
        let mut dims = x.dims.clone();
        let mut batch = x.batch;
        if idims.is_empty() {
            dims.remove(time);
            if batch > time {
                batch -= 1;
            }
        } else {
            dims[time] = 1;
        }
        self.view(node, &x, dims, batch, None);
        Ok(())
    }

    fn lstm(&mut self, node: &Node) -> Result<()> {
        Self::only_attributes(
            node,
            &[
                "activations",
                "direction",
                "hidden_size",
                "layout",
                "clip",
                "input_forget",
            ],
        )?;
        if node.string("direction")?.unwrap_or("forward") != "forward" {
            bail!("only direction = forward is supported");
        }
        if node.float("clip")?.is_some() {
            bail!("clip is not supported");
        }
        if node.int_or("input_forget", 0)? != 0 {
            bail!("input_forget = 1 is not supported");
        }
        if let Some(a) = node.strings("activations")?
            && a != ["Sigmoid", "Tanh", "Tanh"]
        {
            bail!("activations {a:?} are not supported (Sigmoid, Tanh, Tanh)");
        }
        for (i, what) in [(4, "sequence_lens"), (7, "P (peepholes)")] {
            if node.input(i).is_some() {
                bail!("{what} is not supported");
            }
        }
        for (i, what) in [(5, "initial_h"), (6, "initial_c")] {
            if node.input(i).is_some() {
                let (_, d) = self.constant(node, i)?;
                if d.iter().any(|&v| v != 0.0) {
                    bail!("a non-zero {what} is not supported");
                }
            }
        }
        let layout = node.int_or("layout", 0)?;
        let x = self.val(node, 0)?;
        let (tx, bx) = match layout {
            0 => (0, 1),
            1 => (1, 0),
            l => bail!("layout = {l} is invalid"),
        };
        if x.dims.len() != 3 || x.batch != bx {
            bail!(
                "reads dims {:?} with the batch at axis {}; layout {layout} needs it at {bx}",
                x.dims,
                x.batch
            );
        }
        let (steps, feats) = (x.dims[tx], x.dims[2]);
        let Some(h) = node
            .int("hidden_size")?
            .and_then(|h| usize::try_from(h).ok())
        else {
            bail!("hidden_size is missing");
        };
        let (wd, w) = self.constant(node, 1)?;
        let (rd, r) = self.constant(node, 2)?;
        if wd != [1, 4 * h, feats] || rd != [1, 4 * h, h] {
            bail!("W {wd:?} and R {rd:?} do not fit hidden size {h} and {feats} features");
        }
        let mut bias = vec![0.0; 8 * h];
        if node.input(3).is_some() {
            let (bd, b) = self.constant(node, 3)?;
            if bd != [1, 8 * h] {
                bail!("B {bd:?} does not fit hidden size {h}");
            }
            bias.copy_from_slice(b);
        }
        // ONNX gates are i, o, f, c; myelin's i, f, c, o.
        const FROM: [usize; 4] = [0, 2, 3, 1];
        let mut wx = Vec::with_capacity(4 * h * feats);
        let mut wh = Vec::with_capacity(4 * h * h);
        let mut b = Vec::with_capacity(4 * h);
        for &g in &FROM {
            wx.extend_from_slice(&w[g * h * feats..(g + 1) * h * feats]);
            wh.extend_from_slice(&r[g * h * h..(g + 1) * h * h]);
            b.extend((0..h).map(|j| bias[g * h + j] + bias[4 * h + g * h + j]));
        }
        let src = self.source(&x, Some([1, steps, feats]))?;
        let i = self.push(LayerSpec::Lstm { hidden: h }, vec![src], vec![wx, wh, b])?;
        // Y: [T, 1, N, H] (layout 0) or [N, T, 1, H]; only its last step exists.
        let (ydims, ybatch, ytime) = if layout == 0 {
            (vec![steps, 1, 1, h], 2, 0)
        } else {
            (vec![1, steps, 1, h], 0, 1)
        };
        if let Some(y) = node.output(0) {
            let exclusive = self.readers(y) == 1;
            self.vals.insert(
                y.to_string(),
                Val {
                    node: Some(i),
                    dims: ydims,
                    batch: ybatch,
                    time: Some(ytime),
                    exclusive,
                },
            );
        }
        if layout == 0 {
            self.define(node, 1, Some(i), vec![1, 1, h], 1);
        } else {
            self.define(node, 1, Some(i), vec![1, 1, h], 0);
        }
        if let Some(c) = node.output(2) {
            self.missing.insert(c.to_string(), "an LSTM's cell state");
        }
        Ok(())
    }
}
