//! Regenerates `import/onnx/src/proto/onnx.rs` from `import/onnx/proto/onnx.proto`
//! with protox (a protobuf compiler in Rust, no protoc) and prost-build.
//!
//! `cargo run --manifest-path tools/onnx-proto-gen/Cargo.toml -- import/onnx/proto/onnx.proto import/onnx/src/proto`

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [proto, out] = args.as_slice() else {
        eprintln!("usage: onnx-proto-gen PROTO OUT_DIR");
        return ExitCode::FAILURE;
    };
    let dir = Path::new(proto).parent().unwrap_or(Path::new("."));
    let fds = match protox::compile([proto], [dir]) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{proto}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut cfg = prost_build::Config::new();
    cfg.out_dir(out);
    if let Err(e) = cfg.compile_fds(fds) {
        eprintln!("generating into {out}: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
