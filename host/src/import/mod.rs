//! Importers of models trained elsewhere.

pub mod onnx;
