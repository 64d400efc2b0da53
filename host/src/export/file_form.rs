//! The Rust module for a graph model (joins, fan-out): the model file itself
//! as an aligned `static` (flash on a microcontroller), parsed in place by
//! `myelin-core` and run with `Model::infer_int8` or `Model::infer` through a
//! caller-owned, const-size scratch. Same constants, `Scratch`, `NETWORK`
//! and `samples` as the typed modules, so firmware treats both alike; the
//! typed generator emits one Rust type per layer of a chain, which a graph's
//! joins do not fit.

use anyhow::{Result, bail};
use myelin_core::model::{self, Arithmetic, Model};

use super::goldens::{Goldens, emit_goldens};
use super::int8::emit_io_quant;
use super::source::{
    Samples, Summary, crc, emit_layer_table, emit_samples, emit_summary, macs, shape, wl,
};

/// Generates the module of a graph model `model` (f32 or int8), with MNIST
/// `samples` or `goldens` embedded (not both).
///
/// # Errors
/// For an f16 model (the file form computes f32 from f32 weights only) or
/// samples that do not match the model.
pub fn rust_source_file(
    model: &Model<'_>,
    name: &str,
    samples: Option<&Samples>,
    goldens: Option<&Goldens>,
) -> Result<String> {
    let int8 = model.arithmetic() == Arithmetic::Int8;
    if !int8 && model.tensors().any(|t| t.dtype == model::DType::F16) {
        bail!("f16 graph models are not exported as Rust source; embed the model file instead");
    }
    let bytes = model.bytes();
    let layers: Vec<_> = model.layers().collect();
    let macs: usize = layers.iter().map(macs).sum();
    let weights: usize = model.tensors().map(|t| t.data.len()).sum();
    let (in_len, out_len) = (model.input_len(), model.output_len());

    let mut s = String::new();
    let w = &mut s;
    emit_summary(
        w,
        model,
        Summary {
            name,
            dtype: if int8 { "int8" } else { "f32" },
            form: "its model file, parsed in place",
            count: layers.len(),
            units: "nodes",
            macs,
        },
    );
    wl(w, "//!");
    wl(
        w,
        &format!(
            "//! Model file: {} bytes, CRC-32 {:#010x}. [`Network::infer`] parses it (checking",
            bytes.len(),
            crc(model)
        ),
    );
    wl(
        w,
        &format!(
            "//! the checksum) and runs `Model::{}`, the code the host runs, so the",
            if int8 { "infer_int8" } else { "infer" }
        ),
    );
    wl(w, "//! outputs are the host's bits.");
    wl(w, "//!");
    emit_layer_table(w, layers.iter());
    wl(w, "#![allow(clippy::unreadable_literal)]");
    wl(w, "");
    wl(w, "use myelin_core::Error;");
    wl(w, "use myelin_core::model::Model;");
    wl(w, "");
    emit_io_len(w, model);
    wl(w, "/// Multiply-accumulates per inference.");
    wl(w, &format!("pub const MACS: usize = {macs};"));
    wl(
        w,
        "/// Bytes of tensor data in the model file (weights, biases, multipliers).",
    );
    wl(w, &format!("pub const WEIGHTS_BYTES: usize = {weights};"));
    wl(w, "/// Bytes of the model file.");
    wl(
        w,
        &format!("pub const FILE_BYTES: usize = {};", bytes.len()),
    );
    if int8 {
        let need = model::int8_scratch_len(model);
        wl(
            w,
            "/// `i8` elements of activation scratch (`myelin_core::model::int8_scratch_len`).",
        );
        wl(
            w,
            &format!("pub const SCRATCH_ACT: usize = {};", need.act.max(1)),
        );
        wl(w, "/// `i16` elements of LSTM cell-state scratch.");
        wl(
            w,
            &format!("pub const SCRATCH_CELL: usize = {};", need.cell.max(1)),
        );
        emit_io_quant(w, model)?;
    } else {
        wl(
            w,
            "/// `f32` elements of scratch (`myelin_core::model::scratch_len`).",
        );
        wl(
            w,
            &format!(
                "pub const SCRATCH: usize = {};",
                model::scratch_len(model).max(1)
            ),
        );
    }
    wl(w, "");
    wl(
        w,
        "/// Bytes aligned to 16, as the model format's tensors expect for in-place views.",
    );
    wl(w, "#[repr(C, align(16))]");
    wl(w, "#[derive(Debug)]");
    wl(w, "pub struct Aligned<T: ?Sized>(pub T);");
    wl(w, "");
    wl(w, "/// The model file.");
    w.push_str(&format!(
        "pub static FILE: &Aligned<[u8; FILE_BYTES]> = &Aligned({});\n",
        byte_literal(bytes)
    ));
    wl(w, "");
    wl(
        w,
        "/// The model, parsed in place (checks the layout and the checksum).",
    );
    wl(w, "///");
    wl(w, "/// # Errors");
    wl(w, "/// Only if the embedded file were damaged.");
    wl(w, "pub fn model() -> Result<Model<'static>, Error> {");
    wl(w, "    Model::parse(&FILE.0)");
    wl(w, "}");
    wl(w, "");
    wl(w, "/// Working memory of one inference.");
    wl(w, "#[derive(Debug)]");
    if int8 {
        wl(
            w,
            "pub struct Scratch(pub [i8; SCRATCH_ACT], pub [i16; SCRATCH_CELL]);",
        );
        wl(w, "");
        wl(w, "impl Scratch {");
        wl(w, "    /// All zero.");
        wl(
            w,
            "    pub const ZERO: Scratch = Scratch([0; SCRATCH_ACT], [0; SCRATCH_CELL]);",
        );
        wl(w, "}");
    } else {
        wl(w, "pub struct Scratch(pub [f32; SCRATCH]);");
        wl(w, "");
        wl(w, "impl Scratch {");
        wl(w, "    /// All zero.");
        wl(w, "    pub const ZERO: Scratch = Scratch([0.0; SCRATCH]);");
        wl(w, "}");
    }
    wl(w, "");
    wl(w, "/// The network of [`FILE`].");
    wl(w, "#[derive(Debug, Clone, Copy)]");
    wl(w, "pub struct Network;");
    wl(w, "");
    wl(w, "impl Network {");
    let (t, call) = if int8 {
        (
            "i8",
            "model()?.infer_int8(x, &mut scratch.0, &mut scratch.1)?",
        )
    } else {
        ("f32", "model()?.infer(x, &mut scratch.0)?")
    };
    wl(
        w,
        "    /// Runs one sample: `y` receives the outputs (their argmax is the class).",
    );
    wl(w, "    ///");
    wl(w, "    /// # Errors");
    wl(w, "    /// Only if the embedded file were damaged.");
    wl(
        w,
        &format!(
            "    pub fn infer(&self, x: &[{t}; INPUT], y: &mut [{t}; OUTPUT], scratch: &mut Scratch) -> Result<(), Error> {{"
        ),
    );
    wl(w, &format!("        let out = {call};"));
    wl(w, "        y.copy_from_slice(out);");
    wl(w, "        Ok(())");
    wl(w, "    }");
    wl(w, "}");
    wl(w, "");
    wl(w, "/// The network.");
    wl(w, "pub static NETWORK: Network = Network;");
    if let Some(smp) = samples {
        emit_samples(w, smp, in_len, out_len)?;
    }
    if let Some(g) = goldens {
        emit_goldens(w, g, in_len, out_len)?;
    }
    Ok(s)
}

/// `[0x.., ...]`, sixteen bytes a line.
fn byte_literal(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 6 + 16);
    s.push('[');
    for line in bytes.chunks(16) {
        s.push_str("\n    ");
        for b in line {
            s.push_str(&format!("{b:#04x}, "));
        }
    }
    s.push_str("\n]");
    s
}

/// The `INPUT` and `OUTPUT` element counts of `model`'s generated module.
pub(super) fn emit_io_len(w: &mut String, model: &Model<'_>) {
    let (in_len, out_len) = (model.input_len(), model.output_len());
    wl(
        w,
        &format!("/// Input elements ({}).", shape(model.input_shape())),
    );
    wl(w, &format!("pub const INPUT: usize = {in_len};"));
    wl(w, "/// Output elements.");
    wl(w, &format!("pub const OUTPUT: usize = {out_len};"));
}
