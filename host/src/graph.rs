//! Graph descriptions: named nodes that read named inputs, shorthand blocks
//! (residual, depthwise-separable), and their resolution into the layers of
//! a [`Network`](crate::net::Network).
//!
//! A node reads the previous node unless it names its inputs; the name
//! `input` is the network input. Nodes may only read nodes declared before
//! them, so a description has no cycles: a reference to a later node is
//! reported as one.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use myelin_core::model::{Activation, Shape};
use serde::Deserialize;

use crate::net::{Layer, LayerSpec, Padding, build_layer, parse_activation, spec_name};

/// The name of the network input in `input = [...]` lists.
pub const INPUT: &str = "input";

/// What a node computes: one layer, or a block that expands into several.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeOp {
    /// One layer.
    Layer(LayerSpec),
    /// A residual block: `k x k` conv (stride) + batch norm + ReLU, `k x k`
    /// conv + batch norm, added to the input, or to a 1x1 strided projection
    /// (+ batch norm) of it when the shape changes; ReLU after the sum.
    Residual {
        /// Output channels.
        filters: usize,
        /// Kernel side.
        kernel: usize,
        /// Stride of the first convolution and of the projection.
        stride: usize,
        /// Batch norm after each convolution.
        batch_norm: bool,
    },
    /// A depthwise-separable block: `k x k` depthwise conv (stride) + batch
    /// norm + ReLU, then a 1x1 pointwise conv + batch norm + ReLU.
    Separable {
        /// Output channels of the pointwise convolution.
        filters: usize,
        /// Kernel side of the depthwise convolution.
        kernel: usize,
        /// Stride of the depthwise convolution.
        stride: usize,
        /// Batch norm after each convolution.
        batch_norm: bool,
    },
}

/// One node of a description.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    /// Name other nodes use to read this one (a block's name is its output).
    pub name: Option<String>,
    /// Names of the values it reads; empty: the previous node (or the input).
    pub inputs: Vec<String>,
    /// What it computes.
    pub op: NodeOp,
    /// Training only: dropout on the node's input (see
    /// [`Layer::dropout`]); `0` for none. Only single-input layers take it.
    pub dropout: f32,
}

impl NodeSpec {
    /// An unnamed layer reading the previous node.
    pub fn chain(spec: LayerSpec) -> NodeSpec {
        NodeSpec {
            name: None,
            inputs: Vec::new(),
            op: NodeOp::Layer(spec),
            dropout: 0.0,
        }
    }

    /// The layer, if this node is one layer reading the previous node.
    pub fn as_chain_layer(&self) -> Option<&LayerSpec> {
        match &self.op {
            NodeOp::Layer(l) if self.inputs.is_empty() => Some(l),
            _ => None,
        }
    }

    fn kind_name(&self) -> &'static str {
        match &self.op {
            NodeOp::Layer(l) => spec_name(l),
            NodeOp::Residual { .. } => "residual",
            NodeOp::Separable { .. } => "separable",
        }
    }
}

/// Resolves names and builds the layers of `nodes` over an input of shape
/// `input`, expanding blocks; errors name the node.
pub fn build_layers(input: Shape, nodes: &[NodeSpec]) -> Result<Vec<Layer>> {
    let mut b = Builder {
        input,
        layers: Vec::new(),
        names: HashMap::new(),
    };
    for (i, node) in nodes.iter().enumerate() {
        let label = match &node.name {
            Some(n) => format!("node '{n}' ({})", node.kind_name()),
            None => format!("layer {} ({})", i + 1, node.kind_name()),
        };
        b.add_node(node, &nodes[i + 1..]).with_context(|| label)?;
    }
    Ok(b.layers)
}

struct Builder {
    input: Shape,
    layers: Vec<Layer>,
    /// Value reference of each named node.
    names: HashMap<String, usize>,
}

impl Builder {
    fn shape(&self, r: usize) -> Shape {
        match r {
            0 => self.input,
            _ => self.layers[r - 1].out_shape,
        }
    }

    /// The value the next layer reads by default: the last layer's output.
    fn last(&self) -> usize {
        self.layers.len()
    }

    fn resolve(&self, name: &str, later: &[NodeSpec]) -> Result<usize> {
        if name == INPUT {
            return Ok(0);
        }
        if let Some(&r) = self.names.get(name) {
            return Ok(r);
        }
        if later.iter().any(|n| n.name.as_deref() == Some(name)) {
            bail!(
                "reads '{name}', which is declared after it: a node must come after its inputs, so this would be a cycle"
            );
        }
        let mut known: Vec<&str> = self.names.keys().map(String::as_str).collect();
        known.sort_unstable();
        known.insert(0, INPUT);
        bail!("unknown input '{name}' (known: {})", known.join(", "))
    }

    /// Appends one layer reading `refs`; returns its value reference.
    fn push(&mut self, refs: Vec<usize>, spec: &LayerSpec) -> Result<usize> {
        let shapes: Vec<Shape> = refs.iter().map(|&r| self.shape(r)).collect();
        let mut layer = build_layer(&shapes, spec).with_context(|| {
            let s: Vec<String> = shapes
                .iter()
                .map(|s| format!("{}x{}x{}", s[0], s[1], s[2]))
                .collect();
            format!("on input {}", s.join(" and "))
        })?;
        layer.inputs = refs;
        self.layers.push(layer);
        Ok(self.layers.len())
    }

    fn add_node(&mut self, node: &NodeSpec, later: &[NodeSpec]) -> Result<()> {
        let refs = if node.inputs.is_empty() {
            vec![self.last()]
        } else {
            node.inputs
                .iter()
                .map(|n| self.resolve(n, later))
                .collect::<Result<Vec<_>>>()?
        };
        let dropped = node.dropout != 0.0;
        if dropped && !(node.dropout.is_finite() && (0.0..1.0).contains(&node.dropout)) {
            bail!(
                "dropout must be at least 0 and below 1, not {}",
                node.dropout
            );
        }
        let out = match &node.op {
            NodeOp::Layer(LayerSpec::Add { .. } | LayerSpec::Concat) if dropped => {
                bail!("a join takes no dropout: put it on the layer that reads the join")
            }
            NodeOp::Layer(spec) => {
                let out = self.push(refs, spec)?;
                self.layers[out - 1].dropout = node.dropout;
                out
            }
            _ if dropped => {
                bail!("a block takes no dropout: put it on the layer before or after the block")
            }
            NodeOp::Residual {
                filters,
                kernel,
                stride,
                batch_norm,
            } => {
                let [x] = refs[..] else {
                    bail!("a residual block reads one input");
                };
                self.residual(x, *filters, *kernel, *stride, *batch_norm)?
            }
            NodeOp::Separable {
                filters,
                kernel,
                stride,
                batch_norm,
            } => {
                let [x] = refs[..] else {
                    bail!("a separable block reads one input");
                };
                let c = self.shape(x)[0];
                let dw = self.conv_bn(
                    x,
                    c,
                    [*kernel; 2],
                    *stride,
                    true,
                    *batch_norm,
                    Activation::Relu,
                )?;
                self.conv_bn(
                    dw,
                    *filters,
                    [1, 1],
                    1,
                    false,
                    *batch_norm,
                    Activation::Relu,
                )?
            }
        };
        if let Some(name) = &node.name {
            if name == INPUT {
                bail!("'{INPUT}' names the network input; choose another name");
            }
            if self.names.insert(name.clone(), out).is_some() {
                bail!("the name '{name}' is used twice");
            }
        }
        Ok(())
    }

    /// A convolution (symmetric padding `k / 2`) followed by a batch norm
    /// when asked; `act` on the last of the two.
    #[allow(clippy::too_many_arguments)]
    fn conv_bn(
        &mut self,
        x: usize,
        filters: usize,
        kernel: [usize; 2],
        stride: usize,
        depthwise: bool,
        batch_norm: bool,
        act: Activation,
    ) -> Result<usize> {
        let (ph, pw) = (kernel[0] / 2, kernel[1] / 2);
        let conv = LayerSpec::Conv {
            filters,
            kernel,
            stride: [stride; 2],
            padding: Padding::Explicit {
                top: ph,
                bottom: ph,
                left: pw,
                right: pw,
            },
            depthwise,
            activation: if batch_norm {
                Activation::Identity
            } else {
                act
            },
        };
        let y = self.push(vec![x], &conv)?;
        if !batch_norm {
            return Ok(y);
        }
        self.push(
            vec![y],
            &LayerSpec::BatchNorm {
                eps: 1e-5,
                activation: act,
            },
        )
    }

    fn residual(
        &mut self,
        x: usize,
        filters: usize,
        kernel: usize,
        stride: usize,
        bn: bool,
    ) -> Result<usize> {
        let a = self.conv_bn(x, filters, [kernel; 2], stride, false, bn, Activation::Relu)?;
        let b = self.conv_bn(a, filters, [kernel; 2], 1, false, bn, Activation::Identity)?;
        let shortcut = if self.shape(x) == self.shape(b) {
            x
        } else {
            self.conv_bn(x, filters, [1, 1], stride, false, bn, Activation::Identity)?
        };
        self.push(
            vec![b, shortcut],
            &LayerSpec::Add {
                activation: Activation::Relu,
            },
        )
    }
}

/// One `[[layer]]` table of a TOML description.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TomlLayer {
    kind: String,
    name: Option<String>,
    input: Option<OneOrMany>,
    units: Option<usize>,
    inputs: Option<usize>,
    filters: Option<usize>,
    kernel: Option<Pair>,
    stride: Option<Pair>,
    padding: Option<TomlPadding>,
    size: Option<Pair>,
    hidden: Option<usize>,
    activation: Option<String>,
    eps: Option<f32>,
    shape: Option<[usize; 3]>,
    multiplier: Option<usize>,
    batch_norm: Option<bool>,
    dropout: Option<f32>,
}

/// One name or a list of names.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A size for both axes, or `[height, width]`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
enum Pair {
    Both(usize),
    Each([usize; 2]),
}

impl Pair {
    fn hw(self) -> [usize; 2] {
        match self {
            Pair::Both(v) => [v, v],
            Pair::Each(v) => v,
        }
    }
}

/// `padding = 2`, `"same"`, `"valid"` or `[top, bottom, left, right]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum TomlPadding {
    Each(usize),
    Mode(String),
    Sides([usize; 4]),
}

fn padding(p: Option<&TomlPadding>, one_d: bool) -> Result<Padding> {
    Ok(match p {
        None => Padding::Valid,
        Some(TomlPadding::Each(v)) => Padding::Explicit {
            top: if one_d { 0 } else { *v },
            bottom: if one_d { 0 } else { *v },
            left: *v,
            right: *v,
        },
        Some(TomlPadding::Mode(m)) => match m.as_str() {
            "same" => Padding::Same,
            "valid" => Padding::Valid,
            other => bail!(
                "unknown padding '{other}' (a number, \"same\", \"valid\" or [top, bottom, left, right])"
            ),
        },
        Some(TomlPadding::Sides([top, bottom, left, right])) => Padding::Explicit {
            top: *top,
            bottom: *bottom,
            left: *left,
            right: *right,
        },
    })
}

/// The kinds a `[[layer]]` table may name.
pub const TOML_KINDS: &str = "dense, conv2d, depthwise_conv2d, conv1d, maxpool2d, avgpool2d, \
     maxpool1d, avgpool1d, global_avgpool, flatten, reshape, add, concat, batchnorm, activation, lstm, \
     residual, separable";

/// The nodes of a TOML description's `[[layer]]` tables, built once over
/// the sample shape `input` to check every size (and a dense layer's
/// declared `inputs` count).
pub fn nodes_from_toml(layers: &[TomlLayer], input: Shape) -> Result<Vec<NodeSpec>> {
    let mut nodes = Vec::with_capacity(layers.len());
    for (i, l) in layers.iter().enumerate() {
        let label = match &l.name {
            Some(n) => format!("node '{n}' ({})", l.kind),
            None => format!("layer {} ({})", i + 1, l.kind),
        };
        nodes.push(node_from_toml(l).with_context(|| label)?);
    }
    // Declared dense input counts after the first layer are checked against
    // the built shapes.
    let built = build_layers(input, &nodes)?;
    let mut at = 0;
    for (i, (l, node)) in layers.iter().zip(&nodes).enumerate() {
        at += expanded_len(node, &built[at..]);
        if let (Some(declared), Some(layer)) = (l.inputs, built.get(at.wrapping_sub(1)))
            && declared != layer.in_len()
        {
            bail!(
                "layer {} (dense): declares {declared} inputs, but the previous layer gives {}",
                i + 1,
                layer.in_len()
            );
        }
    }
    Ok(nodes)
}

/// Layers `node` expands into, given the layers built from it onward.
fn expanded_len(node: &NodeSpec, rest: &[Layer]) -> usize {
    match node.op {
        NodeOp::Layer(_) => 1,
        NodeOp::Separable { batch_norm, .. } => 2 + 2 * usize::from(batch_norm),
        NodeOp::Residual { batch_norm, .. } => {
            // conv(+bn) conv(+bn) [proj(+bn)] add: find the add.
            let per = 1 + usize::from(batch_norm);
            if rest
                .get(2 * per)
                .is_some_and(|l| l.kind == myelin_core::model::LayerKind::Add)
            {
                2 * per + 1
            } else {
                3 * per + 1
            }
        }
    }
}

fn node_from_toml(l: &TomlLayer) -> Result<NodeSpec> {
    let need = |v: Option<usize>, what: &str| v.with_context(|| format!("missing '{what}'"));
    let activation = match &l.activation {
        None => Activation::Identity,
        Some(a) => parse_activation(a).with_context(|| {
            format!("unknown activation '{a}' (none, relu, relu6, sigmoid, tanh)")
        })?,
    };
    let stride2 = |default: [usize; 2]| l.stride.map(Pair::hw).unwrap_or(default);
    let one_d = |what: &str, p: Option<Pair>| -> Result<Option<usize>> {
        match p {
            None => Ok(None),
            Some(Pair::Both(v)) => Ok(Some(v)),
            Some(Pair::Each(_)) => bail!("'{what}' of a 1-d layer is one number"),
        }
    };
    let op = match l.kind.as_str() {
        "dense" => NodeOp::Layer(LayerSpec::Dense {
            units: need(l.units, "units")?,
            activation,
        }),
        "conv2d" | "depthwise_conv2d" => {
            let depthwise = l.kind == "depthwise_conv2d";
            let kernel = l.kernel.context("missing 'kernel'")?.hw();
            let filters = if depthwise {
                l.multiplier.unwrap_or(1)
            } else {
                need(l.filters, "filters")?
            };
            let stride = stride2([1, 1]);
            let padding = padding(l.padding.as_ref(), false)?;
            // The original square form keeps its layer kind and model layout.
            match (kernel, stride, padding) {
                (
                    [k, kw],
                    [s, sw],
                    Padding::Explicit {
                        top,
                        bottom,
                        left,
                        right,
                    },
                ) if !depthwise && k == kw && s == sw && [bottom, left, right] == [top; 3] => {
                    NodeOp::Layer(LayerSpec::Conv2d {
                        filters,
                        kernel: k,
                        stride: s,
                        padding: top,
                        activation,
                    })
                }
                ([k, kw], [s, sw], Padding::Valid) if !depthwise && k == kw && s == sw => {
                    NodeOp::Layer(LayerSpec::Conv2d {
                        filters,
                        kernel: k,
                        stride: s,
                        padding: 0,
                        activation,
                    })
                }
                _ => NodeOp::Layer(LayerSpec::Conv {
                    filters,
                    kernel,
                    stride,
                    padding,
                    depthwise,
                    activation,
                }),
            }
        }
        "conv1d" => {
            let k = one_d("kernel", l.kernel)?.context("missing 'kernel'")?;
            let s = one_d("stride", l.stride)?.unwrap_or(1);
            NodeOp::Layer(LayerSpec::Conv {
                filters: need(l.filters, "filters")?,
                kernel: [1, k],
                stride: [1, s],
                padding: padding(l.padding.as_ref(), true)?,
                depthwise: false,
                activation,
            })
        }
        "maxpool2d" | "avgpool2d" => {
            let size = l.size.context("missing 'size'")?.hw();
            let max = l.kind == "maxpool2d";
            let stride = stride2(size);
            let padding = padding(l.padding.as_ref(), false)?;
            match (size, stride, padding) {
                ([k, kw], [s, sw], Padding::Valid) if max && k == kw && s == sw => {
                    NodeOp::Layer(LayerSpec::MaxPool2d { size: k, stride: s })
                }
                _ => NodeOp::Layer(LayerSpec::Pool {
                    max,
                    size,
                    stride,
                    padding,
                }),
            }
        }
        "maxpool1d" | "avgpool1d" => {
            let k = one_d("size", l.size)?.context("missing 'size'")?;
            let s = one_d("stride", l.stride)?.unwrap_or(k);
            NodeOp::Layer(LayerSpec::Pool {
                max: l.kind == "maxpool1d",
                size: [1, k],
                stride: [1, s],
                padding: padding(l.padding.as_ref(), true)?,
            })
        }
        "global_avgpool" => NodeOp::Layer(LayerSpec::GlobalAvgPool),
        "flatten" => NodeOp::Layer(LayerSpec::Flatten),
        "reshape" => NodeOp::Layer(LayerSpec::Reshape {
            shape: l
                .shape
                .context("missing 'shape' ([channels, height, width])")?,
        }),
        "add" => NodeOp::Layer(LayerSpec::Add { activation }),
        "concat" => NodeOp::Layer(LayerSpec::Concat),
        "batchnorm" => NodeOp::Layer(LayerSpec::BatchNorm {
            eps: l.eps.unwrap_or(1e-5),
            activation,
        }),
        "activation" => NodeOp::Layer(LayerSpec::Activate(activation)),
        "lstm" => NodeOp::Layer(LayerSpec::Lstm {
            hidden: need(l.hidden, "hidden")?,
        }),
        "residual" => NodeOp::Residual {
            filters: need(l.filters, "filters")?,
            kernel: one_d("kernel", l.kernel)?.unwrap_or(3),
            stride: one_d("stride", l.stride)?.unwrap_or(1),
            batch_norm: l.batch_norm.unwrap_or(true),
        },
        "separable" => NodeOp::Separable {
            filters: need(l.filters, "filters")?,
            kernel: one_d("kernel", l.kernel)?.unwrap_or(3),
            stride: one_d("stride", l.stride)?.unwrap_or(1),
            batch_norm: l.batch_norm.unwrap_or(true),
        },
        other => bail!("unknown kind '{other}' ({TOML_KINDS})"),
    };
    let inputs = match &l.input {
        None => Vec::new(),
        Some(OneOrMany::One(n)) => vec![n.clone()],
        Some(OneOrMany::Many(v)) => {
            if v.is_empty() {
                bail!("'input' is an empty list");
            }
            v.clone()
        }
    };
    Ok(NodeSpec {
        name: l.name.clone(),
        inputs,
        op,
        dropout: l.dropout.unwrap_or(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use myelin_core::model::LayerKind;

    fn named(name: &str, inputs: &[&str], spec: LayerSpec) -> NodeSpec {
        NodeSpec {
            name: Some(name.into()),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            op: NodeOp::Layer(spec),
            dropout: 0.0,
        }
    }

    fn dense(units: usize) -> LayerSpec {
        LayerSpec::Dense {
            units,
            activation: Activation::Relu,
        }
    }

    #[test]
    fn names_resolve_to_earlier_nodes() {
        let nodes = [
            named("a", &[], dense(4)),
            named("b", &[], dense(4)),
            named(
                "sum",
                &["a", "b"],
                LayerSpec::Add {
                    activation: Activation::Identity,
                },
            ),
            named("both", &["a", "sum"], LayerSpec::Concat),
        ];
        let layers = build_layers([1, 1, 3], &nodes).unwrap();
        assert_eq!(layers[2].inputs, vec![1, 2]);
        assert_eq!(layers[3].inputs, vec![1, 3]);
        assert_eq!(layers[3].out_shape, [2, 1, 4]);
        assert_eq!(layers[1].inputs, vec![1]);
    }

    #[test]
    fn bad_graphs_name_the_node() {
        let err = |nodes: &[NodeSpec]| format!("{:#}", build_layers([1, 1, 3], nodes).unwrap_err());
        let e = err(&[named("a", &["b"], dense(2)), named("b", &[], dense(2))]);
        assert!(e.contains("node 'a'") && e.contains("cycle"), "{e}");
        let e = err(&[named("a", &["nope"], dense(2))]);
        assert!(
            e.contains("node 'a'") && e.contains("unknown input 'nope'"),
            "{e}"
        );
        let e = err(&[
            named("a", &[], dense(2)),
            named(
                "j",
                &["a", "input"],
                LayerSpec::Add {
                    activation: Activation::Identity,
                },
            ),
        ]);
        assert!(
            e.contains("node 'j'") && e.contains("differ in shape"),
            "{e}"
        );
        let e = err(&[named("a", &[], dense(2)), named("a", &[], dense(2))]);
        assert!(e.contains("used twice"), "{e}");
        let pool = LayerSpec::Pool {
            max: true,
            size: [5, 5],
            stride: [1, 1],
            padding: Padding::Valid,
        };
        let e = format!(
            "{:#}",
            build_layers([1, 3, 3], &[named("p", &[], pool)]).unwrap_err()
        );
        assert!(e.contains("node 'p'") && e.contains("does not fit"), "{e}");
    }

    #[test]
    fn residual_block_projects_when_the_shape_changes() {
        let block = |filters, stride| NodeSpec {
            name: Some("r".into()),
            inputs: vec![],
            op: NodeOp::Residual {
                filters,
                kernel: 3,
                stride,
                batch_norm: true,
            },
            dropout: 0.0,
        };
        let same = build_layers([4, 8, 8], &[block(4, 1)]).unwrap();
        // conv, bn, conv, bn, add
        assert_eq!(same.len(), 5);
        assert_eq!(same[4].kind, LayerKind::Add);
        assert_eq!(same[4].inputs, vec![4, 0]);
        let down = build_layers([4, 8, 8], &[block(8, 2)]).unwrap();
        // + projection conv and bn
        assert_eq!(down.len(), 7);
        assert_eq!(down[6].out_shape, [8, 4, 4]);
        assert_eq!(down[4].inputs, vec![0]);
    }
}
