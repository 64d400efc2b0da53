//! Reads TFLite models (`.tflite` flatbuffers, schema version 3) and hands
//! the importer a verified, owned description of the one subgraph.
//!
//! - [`read_file`] reads a file; [`parse`] verifies and describes its bytes.
//! - The flatbuffer is decoded by planus from code generated out of
//!   `schema.fbs` and committed (`src/schema_generated.rs`): the build needs no
//!   code generator. `regenerate.sh` regenerates it.
//! - Every offset and length the file holds is checked against the file by
//!   the decoder; on top, [`parse`] checks the identifier, the schema version,
//!   tensor shapes (positive, at most [`MAX_RANK`] dimensions and
//!   [`MAX_ELEMENTS`] elements), that buffers exist and hold exactly their
//!   tensor's bytes, quantization parameters, and that operators name
//!   existing op codes and tensors. Nothing is allocated before its size is
//!   checked against the file; tensor data is borrowed from the bytes.

#![deny(missing_docs)]

mod error;
mod model;
mod op_names;
mod read;
/// The flatbuffer types generated from `schema.fbs` by planus.
#[allow(
    missing_docs,
    missing_debug_implementations,
    unused,
    clippy::all,
    clippy::undocumented_unsafe_blocks
)]
#[rustfmt::skip]
pub mod schema {
    include!("schema_generated.rs");
}

pub use error::TfliteError;
pub use model::{Activation, Operator, Options, Padding, Quant, TensorInfo, TfModel, op_name};
pub use read::{MAX_ELEMENTS, MAX_RANK};
pub use schema::tflite::{BuiltinOperator, TensorType};

use std::path::Path;

/// The bytes of the file at `path`, for [`parse`] (which borrows them).
pub fn read_file(path: &Path) -> Result<Vec<u8>, TfliteError> {
    std::fs::read(path).map_err(|source| TfliteError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Verifies `bytes` as a TFLite model and describes its subgraph; tensor
/// data borrows from `bytes`.
pub fn parse(bytes: &[u8]) -> Result<TfModel<'_>, TfliteError> {
    read::parse(bytes)
}

/// Decodes `bytes` into the schema's owned types, lets `edit` change them and
/// encodes the result (with the `TFL3` identifier): for tools and for tests
/// that need a model with one thing changed.
pub fn rewrite(
    bytes: &[u8],
    edit: impl FnOnce(&mut schema::tflite::Model),
) -> Result<Vec<u8>, TfliteError> {
    use planus::ReadAsRoot;
    let mut model =
        schema::tflite::Model::try_from(schema::tflite::ModelRef::read_as_root(bytes)?)?;
    edit(&mut model);
    let mut builder = planus::Builder::new();
    // planus 1.3 writes the identifier before the root offset; encode without
    // one and insert it after the offset, moving the root 4 bytes on.
    let body = builder.finish(&model, None);
    let root = body
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| TfliteError::Flatbuffer("empty encoding".into()))?;
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&(root + 8).to_le_bytes());
    out.extend_from_slice(b"TFL3");
    // Four more bytes keep every offset's 8-byte alignment.
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&body[4..]);
    Ok(out)
}
