//! `cargo xtask`: the project's scripts.
fn main() {}
