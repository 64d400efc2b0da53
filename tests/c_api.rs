//! The C API from C: `libmyelin.a` (capi/, built for the host) linked with
//! `cc` against models exported by `myelin export --c`. The host program's
//! output codes must equal `myelin run`'s bit for bit; every bad call in
//! `examples/c/bad_calls.c` must return its error code; `myelin.h` and an
//! exported header must compile warning-free as C99 and C++17.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use myelin::core::model::Model;
use myelin::host::data::MnistFiles;
use myelin::host::npy::{NpyData, read_npy, write_npy};

const C_FLAGS: &[&str] = &["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"];
const CXX_FLAGS: &[&str] = &["-std=c++17", "-Wall", "-Wextra", "-Werror"];
/// MNIST test images run through the host program, besides random codes.
const MNIST_SAMPLES: usize = 8;
const RANDOM_SAMPLES: usize = 4;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The C compiler (`$CC`, else `cc`) or C++ compiler (`$CXX`, else `c++`).
fn compiler(var: &str, default: &str) -> String {
    let cc = std::env::var(var).unwrap_or_else(|_| default.into());
    let found = Command::new(&cc).arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "`{cc}` not found: the C API tests need a C and a C++ compiler \
         (`apt-get install gcc g++`, or set {var})"
    );
    cc
}

fn ok(what: &str, out: Output) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn run(what: &str, cmd: &mut Command) -> Output {
    ok(what, cmd.output().unwrap_or_else(|e| panic!("{what}: {e}")))
}

/// What every test here builds once: the library and the exported models.
struct Built {
    dir: PathBuf,
    lib: PathBuf,
    cc: String,
    cxx: String,
}

impl Built {
    fn c(&self, what: &str, args: &[&str]) -> Output {
        let include = self.dir.to_string_lossy().into_owned();
        let mut cmd = Command::new(&self.cc);
        cmd.args(C_FLAGS)
            .arg("-I")
            .arg(root().join("capi/include"))
            .args(["-I", &include])
            .args(args);
        run(what, &mut cmd)
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let (cc, cxx) = (compiler("CC", "cc"), compiler("CXX", "c++"));
        let capi = root().join("capi");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        run(
            "cargo build (capi)",
            Command::new(cargo)
                .arg("build")
                .arg("--manifest-path")
                .arg(capi.join("Cargo.toml"))
                .arg("--target-dir")
                .arg(capi.join("target"))
                .env_remove("CARGO_TARGET_DIR"),
        );
        let lib = capi.join("target/debug/libmyelin.a");
        let dir = std::env::temp_dir().join(format!("myelin-c-api-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let models = root().join("firmware/models/data");
        for (name, file, n) in [
            ("net", "mnist-cnn-int8.myl", "4"),
            ("fnet", "mnist-cnn.myl", "2"),
        ] {
            run(
                "myelin export --c",
                Command::new(env!("CARGO_BIN_EXE_myelin"))
                    .arg("export")
                    .arg("--c")
                    .arg(models.join(file))
                    .arg("--out")
                    .arg(&dir)
                    .args(["--name", name, "--samples", n, "--samples-from"])
                    .arg(root().join("data/mnist")),
            );
        }
        Built { dir, lib, cc, cxx }
    })
}

/// Input codes: the first MNIST test images quantized as the model's input
/// says, then random codes (a fixed LCG).
fn inputs(model: &Model<'_>) -> Vec<i8> {
    let q = model.input_quant().expect("int8 model");
    let test = MnistFiles::locate(&root().join("data/mnist"))
        .and_then(|f| f.test())
        .expect("data/mnist");
    let mut x: Vec<i8> = (0..MNIST_SAMPLES)
        .flat_map(|i| {
            test.sample(i)
                .iter()
                .map(|&v| q.quantize(v))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut s = 0x2545_f491_u32;
    for _ in 0..RANDOM_SAMPLES * model.input_len() {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        x.push((s >> 24) as u8 as i8);
    }
    x
}

#[test]
fn host_program_is_bit_exact_with_myelin_run() {
    let b = built();
    let host = b.file("host");
    b.c(
        "cc host.c",
        &[
            &root().join("examples/c/host.c").to_string_lossy(),
            &b.file("net.c"),
            &b.lib.to_string_lossy(),
            "-o",
            &host,
        ],
    );
    let model_path = root().join("firmware/models/data/mnist-cnn-int8.myl");
    let bytes = std::fs::read(&model_path).expect("model");
    let model = Model::parse(&bytes).expect("model parses");
    let x = inputs(&model);
    let n = MNIST_SAMPLES + RANDOM_SAMPLES;
    let raw: Vec<u8> = x.iter().map(|&v| v as u8).collect();
    std::fs::write(b.dir.join("in.bin"), raw).expect("in.bin");
    write_npy(b.dir.join("in.npy"), &[n, 28, 28], &NpyData::I8(x)).expect("in.npy");
    run(
        "myelin run",
        Command::new(env!("CARGO_BIN_EXE_myelin"))
            .arg("run")
            .arg(&model_path)
            .arg("--input")
            .arg(b.dir.join("in.npy"))
            .arg("--output")
            .arg(b.dir.join("out.npy")),
    );
    let NpyData::I8(want) = read_npy(b.dir.join("out.npy")).expect("out.npy").data else {
        panic!("myelin run wrote non-int8 outputs");
    };
    let out = run("host", Command::new(&host).arg(b.file("in.bin")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("4 embedded samples equal to the host's"),
        "{stderr}"
    );
    let got: Vec<Vec<i8>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            l.split(' ')
                .map(|v| v.parse().expect("an output code"))
                .collect()
        })
        .collect();
    assert_eq!(got.len(), n, "one line per sample");
    for (i, (g, w)) in got.iter().zip(want.chunks(model.output_len())).enumerate() {
        assert_eq!(g.as_slice(), w, "sample {i}: C and `myelin run` differ");
    }
}

#[test]
fn bad_calls_return_their_codes() {
    let b = built();
    let exe = b.file("bad_calls");
    b.c(
        "cc bad_calls.c",
        &[
            &root().join("examples/c/bad_calls.c").to_string_lossy(),
            &b.file("net.c"),
            &b.file("fnet.c"),
            &b.lib.to_string_lossy(),
            "-lm",
            "-o",
            &exe,
        ],
    );
    let out = run("bad_calls", &mut Command::new(&exe));
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    let passed: usize = last
        .strip_suffix(" passed, 0 failed")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("bad_calls: {text}"));
    assert!(passed >= 40, "only {passed} checks ran");
}

#[test]
fn headers_compile_warning_free_as_c99_and_cxx17() {
    let b = built();
    for (src, obj) in [
        (root().join("examples/c/header_check.c"), b.file("hc.o")),
        (b.dir.join("net.c"), b.file("net.o")),
        (b.dir.join("fnet.c"), b.file("fnet.o")),
    ] {
        b.c("cc -c (C99)", &["-c", &src.to_string_lossy(), "-o", &obj]);
    }
    let include = b.dir.to_string_lossy().into_owned();
    run(
        "c++ -c (C++17)",
        Command::new(&b.cxx)
            .args(CXX_FLAGS)
            .arg("-I")
            .arg(root().join("capi/include"))
            .args(["-I", &include, "-c"])
            .arg(root().join("examples/c/header_check.cpp"))
            .arg("-o")
            .arg(b.file("hcpp.o")),
    );
}

#[test]
fn export_of_a_damaged_model_names_it_and_writes_nothing() {
    let dir = std::env::temp_dir().join(format!("myelin-c-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good =
        std::fs::read(root().join("firmware/models/data/mnist-cnn-int8.myl")).expect("model");
    let bad = dir.join("bad.myl");
    let mut bytes = good.clone();
    bytes[good.len() / 2] ^= 0x10;
    std::fs::write(&bad, &bytes).expect("bad.myl");
    let out = Command::new(env!("CARGO_BIN_EXE_myelin"))
        .args(["export", "--c"])
        .arg(&bad)
        .arg("--out")
        .arg(&dir)
        .output()
        .expect("myelin runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("bad.myl") && err.contains("checksum"), "{err}");
    assert!(!dir.join("bad.h").exists() && !dir.join("bad.c").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
