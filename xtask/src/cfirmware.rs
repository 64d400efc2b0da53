//! The C firmware (`examples/c/firmware/`) in `cargo xtask qemu`, as the
//! programs `c/BOARD/mnist_cnn_int8`.
//!
//! For each board: `libmyelin.a` built for its target (the Rust firmware's
//! release profile and target flags), the int8 mnist-cnn exported by
//! `myelin export --c` with embedded MNIST samples, and `board.c` and
//! `main.c` compiled and linked by `arm-none-eabi-gcc`. The program prints
//! each sample's output codes; they must equal, bit for bit, what `myelin
//! run` computes on the host for the same input codes (read back from the
//! generated `net.c`), and the program must report all samples equal and
//! exit 0.

use crate::qemu::{self, RunOutput};
use crate::util::{self, on_path, root};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A QEMU board of the C firmware.
#[derive(Debug, Clone, Copy)]
pub struct CBoard {
    /// Name, as the Rust firmware's board crate is named.
    pub name: &'static str,
    /// Rust target of `libmyelin.a`.
    pub target: &'static str,
    /// `RUSTFLAGS` of the Rust firmware for this board.
    pub rustflags: &'static str,
    /// `arm-none-eabi-gcc` CPU flags.
    pub cflags: &'static [&'static str],
    /// Linker script in `examples/c/firmware/`.
    pub ld: &'static str,
    /// QEMU machine and CPU.
    pub machine: &'static str,
    /// QEMU CPU.
    pub cpu: &'static str,
}

/// Every board the C firmware runs on.
pub const BOARDS: [CBoard; 3] = [
    CBoard {
        name: "qemu-m0",
        target: "thumbv6m-none-eabi",
        rustflags: "",
        cflags: &["-mcpu=cortex-m0", "-mthumb"],
        ld: "m0.ld",
        machine: "microbit",
        cpu: "cortex-m0",
    },
    CBoard {
        name: "qemu-m4f",
        target: "thumbv7em-none-eabihf",
        rustflags: "-C target-cpu=cortex-m4",
        cflags: &[
            "-mcpu=cortex-m4",
            "-mthumb",
            "-mfloat-abi=hard",
            "-mfpu=fpv4-sp-d16",
        ],
        ld: "m4f.ld",
        machine: "mps2-an386",
        cpu: "cortex-m4",
    },
    CBoard {
        name: "qemu-m33",
        target: "thumbv8m.main-none-eabihf",
        rustflags: "-C target-cpu=cortex-m33 --cfg myelin_arm_dsp",
        cflags: &[
            "-mcpu=cortex-m33",
            "-mthumb",
            "-mfloat-abi=hard",
            "-mfpu=fpv5-sp-d16",
        ],
        ld: "m33.ld",
        machine: "mps2-an505",
        cpu: "cortex-m33",
    },
];

/// The program each board runs, and the model it runs.
pub const PROGRAM: &str = "mnist_cnn_int8";
const MODEL: &str = "firmware/models/data/mnist-cnn-int8.myl";
/// Embedded MNIST test samples.
const SAMPLES: usize = 8;
/// Time limit of one run, in seconds.
const TIMEOUT_S: u64 = 60;

/// Where the C firmware is built.
fn out_dir() -> PathBuf {
    root().join("target/cfirmware")
}

impl CBoard {
    /// The program's name in `cargo xtask qemu`.
    pub fn full_name(&self) -> String {
        format!("c/{}/{PROGRAM}", self.name)
    }

    /// `libmyelin.a` for this board, built in `capi/target/`.
    fn library(&self) -> Result<PathBuf> {
        let capi = root().join("capi");
        let var = format!(
            "CARGO_TARGET_{}_RUSTFLAGS",
            self.target.to_uppercase().replace(['-', '.'], "_")
        );
        util::run(
            qemu::cargo_in(&capi)
                .args(["build", "--release", "--target", self.target])
                .arg("--target-dir")
                .arg(capi.join("target"))
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("RUSTFLAGS")
                .env(var, self.rustflags),
        )?;
        Ok(capi
            .join("target")
            .join(self.target)
            .join("release/libmyelin.a"))
    }

    /// Builds the firmware ELF against the exported model in `model_dir`.
    pub fn build(&self, model_dir: &Path) -> Result<PathBuf> {
        let lib = self.library()?;
        let src = root().join("examples/c/firmware");
        let elf = out_dir().join(format!("{}-{PROGRAM}.elf", self.name));
        let mut gcc = Command::new("arm-none-eabi-gcc");
        gcc.args(self.cflags)
            .args([
                "-O2",
                "-std=c99",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
            ])
            .args(["-ffreestanding", "-ffunction-sections", "-fdata-sections"])
            .args(["-nostdlib", "-Wl,--gc-sections", "-Wl,-z,noexecstack"])
            .arg("-I")
            .arg(root().join("capi/include"))
            .arg("-I")
            .arg(model_dir)
            .arg("-I")
            .arg(&src)
            .arg("-L")
            .arg(&src)
            .args(["-T", self.ld])
            .arg(src.join("board.c"))
            .arg(src.join("main.c"))
            .arg(model_dir.join("net.c"))
            .arg(&lib)
            .arg("-lgcc")
            .arg("-o")
            .arg(&elf);
        util::run(&mut gcc)?;
        Ok(elf)
    }

    /// Runs `elf` in QEMU with `extra` arguments; output is plain text.
    pub fn run(&self, elf: &Path, extra: &[String], timeout: Duration) -> Result<RunOutput> {
        qemu::run_qemu(self.machine, self.cpu, elf, extra, timeout, false)
    }
}

/// Checks that the GNU Arm toolchain is installed.
pub fn require_tools() -> Result<()> {
    if !on_path("arm-none-eabi-gcc") {
        bail!(
            "arm-none-eabi-gcc not found: the C firmware needs the GNU Arm toolchain \
             (`apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi`, or run `cargo xtask ci`)"
        );
    }
    Ok(())
}

/// The exported model with embedded samples, and what `myelin run` computes
/// for those samples: the directory of `net.h`/`net.c` and the host's output
/// codes, sample after sample.
pub fn export_model() -> Result<(PathBuf, Vec<i8>, usize)> {
    let dir = out_dir().join("model");
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    let myelin = |args: &[&str]| -> Result<()> {
        util::run(
            qemu::cargo_in(&root())
                .args(["run", "--quiet", "-p", "myelin", "--bin", "myelin", "--"])
                .args(args),
        )
    };
    let model = root().join(MODEL);
    let samples = SAMPLES.to_string();
    let (m, d) = (model.to_string_lossy(), dir.to_string_lossy());
    let mnist = root().join("data/mnist");
    myelin(&[
        "export",
        "--c",
        &m,
        "--out",
        &d,
        "--name",
        "net",
        "--samples-from",
        &mnist.to_string_lossy(),
        "--samples",
        &samples,
    ])?;
    let source = std::fs::read_to_string(dir.join("net.c")).context("net.c")?;
    let inputs = c_array(&source, "net_sample_inputs").context("net.c: sample inputs")?;
    if inputs.is_empty() || inputs.len() % SAMPLES != 0 {
        bail!("net.c: {} input codes for {SAMPLES} samples", inputs.len());
    }
    let header = std::fs::read_to_string(dir.join("net.h")).context("net.h")?;
    let [c, h, w] = input_shape(&header).context("net.h: no input shape")?;
    if c * h * w * SAMPLES != inputs.len() {
        bail!(
            "net.c: {} input codes, net.h says {SAMPLES} of {c}x{h}x{w}",
            inputs.len()
        );
    }
    let (x, y) = (dir.join("inputs.npy"), dir.join("host-outputs.npy"));
    // The model here is channel-major (`[C, H, W]`, as the C API takes it),
    // so `myelin run` takes the same order.
    std::fs::write(&x, npy_i8(&[SAMPLES, c, h, w], &inputs))?;
    let _ = std::fs::remove_file(&y);
    myelin(&[
        "run",
        &m,
        "--input",
        &x.to_string_lossy(),
        "--output",
        &y.to_string_lossy(),
    ])?;
    let host = read_npy_i8(&y)?;
    if host.is_empty() || host.len() % SAMPLES != 0 {
        bail!(
            "{}: {} codes for {SAMPLES} samples",
            y.display(),
            host.len()
        );
    }
    let out_len = host.len() / SAMPLES;
    Ok((dir, host, out_len))
}

/// `[C, H, W]` from the header's `Input elements of one sample (CxHxW, ...` line.
fn input_shape(header: &str) -> Option<[usize; 3]> {
    let at =
        header.find("Input elements of one sample (")? + "Input elements of one sample (".len();
    let dims = header[at..].split([',', ')']).next()?;
    let v: Vec<usize> = dims
        .split('x')
        .map(|d| d.trim().parse().ok())
        .collect::<Option<_>>()?;
    <[usize; 3]>::try_from(v).ok()
}

/// The integers of the C array `name` in `source` (`name[..] = { ... };`).
fn c_array(source: &str, name: &str) -> Option<Vec<i8>> {
    let at = source.find(&format!(" {name}["))?;
    let body = &source[at..];
    let open = body.find("= {")? + 3;
    let close = body.find("};")?;
    body[open..close]
        .split(|c: char| !(c.is_ascii_digit() || c == '-'))
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().ok())
        .collect()
}

/// A `.npy` (version 1.0) of int8 `values` with `shape`.
fn npy_i8(shape: &[usize], values: &[i8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '|i1', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(values.iter().map(|&v| v as u8));
    out
}

/// The int8 values of a `.npy` file `myelin run` wrote.
fn read_npy_i8(path: &Path) -> Result<Vec<i8>> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let bad = || anyhow::anyhow!("{}: not an int8 .npy file", path.display());
    if bytes.get(..6) != Some(b"\x93NUMPY".as_slice()) {
        return Err(bad());
    }
    let (len_at, width) = match bytes.get(6) {
        Some(1) => (8, 2),
        Some(2 | 3) => (8, 4),
        _ => return Err(bad()),
    };
    let mut n = [0u8; 4];
    n[..width].copy_from_slice(bytes.get(len_at..len_at + width).ok_or_else(bad)?);
    let start = len_at + width + u32::from_le_bytes(n) as usize;
    let header = std::str::from_utf8(bytes.get(len_at + width..start).ok_or_else(bad)?)?;
    if !header.contains("'|i1'") && !header.contains("'<i1'") {
        return Err(bad());
    }
    Ok(bytes[start..].iter().map(|&b| b as i8).collect())
}

/// The output codes a C firmware log printed, one `sample K: ...` line each.
fn printed_outputs(log: &str) -> Result<Vec<Vec<i8>>> {
    log.lines()
        .filter_map(|l| l.strip_prefix("sample "))
        .map(|l| {
            let (_, codes) = l.split_once(':').context("`sample K:` line")?;
            codes
                .split_whitespace()
                .map(|c| c.parse().with_context(|| format!("output code `{c}`")))
                .collect()
        })
        .collect()
}

/// Judges one run: every sample printed, each equal to the host's, the
/// program's own check passed, exit 0.
pub fn judge(out: &RunOutput, host: &[i8], out_len: usize) -> Result<String, String> {
    let secs = out.elapsed.as_secs_f64();
    match out.code {
        None => return Err(format!("hung: killed after {TIMEOUT_S} s")),
        Some(0) => {}
        Some(c) => return Err(format!("exit {c} in {secs:.2} s")),
    }
    let printed = printed_outputs(&out.log).map_err(|e| format!("{e:#}"))?;
    let want: Vec<&[i8]> = host.chunks(out_len).collect();
    if printed.len() != want.len() {
        return Err(format!(
            "printed {} samples, expected {}",
            printed.len(),
            want.len()
        ));
    }
    if let Some(k) = (0..want.len()).find(|&k| printed[k] != want[k]) {
        return Err(format!("sample {k}: outputs differ from `myelin run`"));
    }
    let own = format!("C firmware: {0}/{0} outputs equal", want.len());
    if !out.log.contains(&own) {
        return Err("the firmware's own check did not pass".into());
    }
    Ok(format!(
        "exit 0 in {secs:.2} s; {0}/{0} outputs equal to `myelin run`, bit for bit",
        want.len()
    ))
}

/// Builds and runs the C firmware programs `filters` select (all when
/// empty), adding their names to `passed` or `failed`.
pub fn run_selected(
    filters: &[String],
    timeout: Option<u64>,
    passed: &mut Vec<String>,
    failed: &mut Vec<String>,
) -> Result<()> {
    let boards: Vec<CBoard> = BOARDS
        .into_iter()
        .filter(|b| {
            filters.is_empty() || filters.iter().any(|f| b.full_name().contains(f.as_str()))
        })
        .collect();
    if boards.is_empty() {
        return Ok(());
    }
    require_tools()?;
    let (dir, host, out_len) = export_model()?;
    let limit = Duration::from_secs(timeout.unwrap_or(TIMEOUT_S));
    for board in boards {
        let name = board.full_name();
        println!("--- {name}");
        let run = board
            .build(&dir)
            .and_then(|elf| board.run(&elf, &[], limit));
        let result = qemu::judge_run(run, |out| judge(out, &host, out_len));
        qemu::tally(name, result, passed, failed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(code: Option<i32>, log: &str) -> RunOutput {
        RunOutput {
            code,
            log: log.into(),
            qemu_stderr: String::new(),
            elapsed: Duration::from_millis(10),
        }
    }

    const LOG: &str =
        "sample 0: 1 -2\nsample 1: 3 4\nC firmware: 2/2 outputs equal to the host's\n";

    #[test]
    fn judges_against_the_host() {
        assert!(judge(&out(Some(0), LOG), &[1, -2, 3, 4], 2).is_ok());
        assert!(judge(&out(Some(0), LOG), &[1, -2, 3, 5], 2).is_err());
        assert!(judge(&out(Some(1), LOG), &[1, -2, 3, 4], 2).is_err());
        assert!(judge(&out(None, LOG), &[1, -2, 3, 4], 2).is_err());
        assert!(judge(&out(Some(0), "sample 0: 1 -2\n"), &[1, -2, 3, 4], 2).is_err());
        let no_own = LOG.replace("2/2", "1/2");
        assert!(judge(&out(Some(0), &no_own), &[1, -2, 3, 4], 2).is_err());
    }

    #[test]
    fn reads_c_arrays_and_writes_npy() {
        let src = "const int8_t net_sample_inputs[2][2] = {\n  {\n    -1, 2,\n  },\n  {\n    3, -128,\n  },\n};\n";
        assert_eq!(
            c_array(src, "net_sample_inputs"),
            Some(vec![-1, 2, 3, -128])
        );
        assert_eq!(c_array(src, "net_sample_outputs"), None);
        let h = "/* Input elements of one sample (1x28x28, [C, H, W] order). */";
        assert_eq!(input_shape(h), Some([1, 28, 28]));
        let dir = std::env::temp_dir().join(format!("xtask-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.npy");
        std::fs::write(&p, npy_i8(&[2, 2], &[-1, 2, 3, -128])).unwrap();
        assert_eq!(read_npy_i8(&p).unwrap(), vec![-1, 2, 3, -128]);
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!((bytes.len() - 4) % 64, 0, "header padded to 64 bytes");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
