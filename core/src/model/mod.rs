//! The model file format: header, layer table, tensors, checksum; zero-copy parse.
