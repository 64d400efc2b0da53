//! `cargo xtask report [--json] [FILTER...]`: the cost of every measured
//! firmware inference.
//!
//! Runs each QEMU program (except `fail_*`) under the project's
//! instruction-counting TCG plugin (`firmware/tools/qemu-insncount`, built
//! here with `gcc`). A program takes part by logging, for each measured
//! inference, a line `report model=M dtype=D macs=N weights_bytes=N
//! stack_bytes=N` after bracketing the inference with two stores to
//! `INSN_MARK` (see `firmware/common/src/measure.rs`). Flash and RAM come from
//! the ELF's sections:
//!
//! - `flash_bytes`: `.vector_table + .text + .rodata + .data` (the load image);
//! - `ram_bytes`: static RAM, `.data + .bss + .uninit`;
//! - `stack_bytes`: peak stack, measured on target by painting;
//! - `data_bytes`: test data in flash (images, expected outputs), from the
//!   report line's optional `data_bytes=N` (0 when absent);
//! - `code_bytes`: the runtime's code, flash minus weights and test data;
//! - `arena_bytes`, `arena_lower_bound`: a model run from its file through
//!   an activation arena logs the arena's size and the largest sum of
//!   activations live at once (optional keys, 0 when absent);
//! - `arena_in_place_bound`: the same sum with every node that may write
//!   its output over its input doing so (optional, 0 when absent): a plan
//!   with such writes (`myelin import --plan smallest`) may go below
//!   `arena_lower_bound`, down to this one;
//! - `peak_ram_bytes`: static RAM plus peak stack (the arena included where
//!   it lives on the stack).
//!
//! The C firmware (`c/BOARD`, [`crate::cfirmware`]) is measured the same
//! way: its weights are the embedded model file, its data the embedded
//! samples, so its code is libmyelin's runtime plus the start-up and output.
//!
//! `--json` prints one JSON object per measured inference and line, with keys
//! `board`, `model`, `dtype`, `instructions`, `macs`, `instructions_per_mac`,
//! `flash_bytes`, `weights_bytes`, `ram_bytes`, `stack_bytes`, then
//! `data_bytes`, `code_bytes`, `arena_bytes`, `arena_lower_bound`,
//! `arena_in_place_bound` and `peak_ram_bytes`.

use crate::qemu::{self, Board, FAIL_PREFIX};
use crate::util;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Time limit of one instrumented run, in seconds.
const TIMEOUT_S: u64 = 120;

/// One measured inference.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    board: String,
    model: String,
    dtype: String,
    instructions: u64,
    macs: u64,
    flash_bytes: u64,
    weights_bytes: u64,
    data_bytes: u64,
    ram_bytes: u64,
    stack_bytes: u64,
    arena_bytes: u64,
    arena_lower_bound: u64,
    arena_in_place_bound: u64,
}

impl Row {
    fn instructions_per_mac(&self) -> f64 {
        if self.macs == 0 {
            0.0
        } else {
            self.instructions as f64 / self.macs as f64
        }
    }

    fn code_bytes(&self) -> u64 {
        self.flash_bytes
            .saturating_sub(self.weights_bytes)
            .saturating_sub(self.data_bytes)
    }

    fn peak_ram_bytes(&self) -> u64 {
        self.ram_bytes + self.stack_bytes
    }

    fn json(&self) -> String {
        format!(
            "{{\"board\":{},\"model\":{},\"dtype\":{},\"instructions\":{},\"macs\":{},\
             \"instructions_per_mac\":{:.3},\"flash_bytes\":{},\"weights_bytes\":{},\
             \"ram_bytes\":{},\"stack_bytes\":{},\"data_bytes\":{},\"code_bytes\":{},\
             \"arena_bytes\":{},\"arena_lower_bound\":{},\"arena_in_place_bound\":{},\
             \"peak_ram_bytes\":{}}}",
            json_string(&self.board),
            json_string(&self.model),
            json_string(&self.dtype),
            self.instructions,
            self.macs,
            self.instructions_per_mac(),
            self.flash_bytes,
            self.weights_bytes,
            self.ram_bytes,
            self.stack_bytes,
            self.data_bytes,
            self.code_bytes(),
            self.arena_bytes,
            self.arena_lower_bound,
            self.arena_in_place_bound,
            self.peak_ram_bytes()
        )
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Builds the instruction-count plugin if it is missing or older than its source.
fn build_plugin() -> Result<PathBuf> {
    let src_dir = qemu::firmware_dir().join("tools/qemu-insncount");
    let src = src_dir.join("insncount.c");
    let out_dir = qemu::firmware_dir().join("target/qemu-insncount");
    let lib = out_dir.join("libinsncount.so");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let stale = match (
        modified(&lib),
        modified(&src),
        modified(&src_dir.join("qemu_plugin_v1_min.h")),
    ) {
        (Some(l), Some(s), Some(h)) => l < s || l < h,
        _ => true,
    };
    if stale {
        if !util::on_path("gcc") {
            bail!(
                "gcc not found: it builds the QEMU instruction-count plugin (apt-get install gcc)"
            );
        }
        std::fs::create_dir_all(&out_dir)?;
        util::run(
            Command::new("gcc")
                .args(["-O2", "-shared", "-fPIC", "-Wall", "-Werror", "-o"])
                .arg(&lib)
                .arg(&src),
        )?;
    }
    Ok(lib)
}

/// Path of an LLVM tool shipped with the Rust toolchain (`llvm-tools`
/// component), else the `arm-none-eabi-` binutils equivalent.
fn binutil(llvm: &str, gnu: &str) -> Result<PathBuf> {
    let rustc = |arg: &str| -> Option<String> {
        let out = Command::new("rustc")
            .arg(arg)
            .current_dir(qemu::firmware_dir())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    if let (Some(sysroot), Some(vv)) = (rustc("--print=sysroot"), rustc("-vV"))
        && let Some(host) = vv.lines().find_map(|l| l.strip_prefix("host: "))
    {
        let p = PathBuf::from(sysroot.trim())
            .join("lib/rustlib")
            .join(host.trim())
            .join("bin")
            .join(llvm);
        if p.is_file() {
            return Ok(p);
        }
    }
    if util::on_path(gnu) {
        return Ok(PathBuf::from(gnu));
    }
    bail!(
        "neither {llvm} (rustup component add llvm-tools) nor {gnu} (apt-get install binutils-arm-none-eabi) found"
    )
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start `{}`", util::show(cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            util::show(cmd),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Address of symbol `name` in `elf`, if it has one.
fn symbol(nm: &Path, elf: &Path, name: &str) -> Result<Option<u64>> {
    let text = output(Command::new(nm).arg(elf))?;
    Ok(text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        let addr = w.next()?;
        let _kind = w.next()?;
        (w.next()? == name).then(|| u64::from_str_radix(addr, 16).ok())?
    }))
}

/// Section name -> size, from `size -A` (System V format).
fn sections(size: &Path, elf: &Path) -> Result<BTreeMap<String, u64>> {
    let text = output(Command::new(size).arg("-A").arg(elf))?;
    Ok(parse_sections(&text))
}

fn parse_sections(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?;
            let size = w.next()?.parse().ok()?;
            name.starts_with('.').then(|| (name.to_string(), size))
        })
        .collect()
}

fn flash_and_ram(sections: &BTreeMap<String, u64>) -> (u64, u64) {
    let get = |n: &str| sections.get(n).copied().unwrap_or(0);
    let flash = get(".vector_table") + get(".text") + get(".rodata") + get(".data");
    let ram = get(".data") + get(".bss") + get(".uninit");
    (flash, ram)
}

/// `key=value` pairs of each `report ...` log line.
fn parse_reports(log: &str) -> Vec<BTreeMap<String, String>> {
    log.lines()
        .filter_map(|l| {
            let rest = &l[l.find("report model=")? + "report ".len()..];
            Some(
                rest.split_whitespace()
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        })
        .collect()
}

/// The `delta` of each `insncount: mark N ...` line, in order.
fn parse_marks(stderr: &str) -> Vec<u64> {
    stderr
        .lines()
        .filter(|l| l.starts_with("insncount: mark "))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("delta="))?
                .parse()
                .ok()
        })
        .collect()
}

/// Rows for one program run: the k-th report pairs with mark 2k+1.
fn rows(board: &str, log: &str, stderr: &str, flash: u64, ram: u64) -> Result<Vec<Row>> {
    let reports = parse_reports(log);
    let marks = parse_marks(stderr);
    if marks.len() != 2 * reports.len() {
        bail!(
            "{} report line(s) but {} instruction marks (want two per report)",
            reports.len(),
            marks.len()
        );
    }
    reports
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let field = |key: &str| {
                r.get(key)
                    .with_context(|| format!("report line without `{key}`"))
            };
            let number = |key: &str| -> Result<u64> {
                field(key)?
                    .parse()
                    .with_context(|| format!("report `{key}` is not a number"))
            };
            let optional = |key: &str| -> Result<u64> {
                if r.contains_key(key) {
                    number(key)
                } else {
                    Ok(0)
                }
            };
            Ok(Row {
                board: board.to_string(),
                model: field("model")?.clone(),
                dtype: field("dtype")?.clone(),
                instructions: marks[2 * k + 1],
                macs: number("macs")?,
                flash_bytes: flash,
                weights_bytes: number("weights_bytes")?,
                data_bytes: optional("data_bytes")?,
                ram_bytes: ram,
                stack_bytes: number("stack_bytes")?,
                arena_bytes: optional("arena_bytes")?,
                arena_lower_bound: optional("arena_lower_bound")?,
                arena_in_place_bound: optional("arena_in_place_bound")?,
            })
        })
        .collect()
}

fn measure(
    board: &Board,
    program: &str,
    plugin: &Path,
    nm: &Path,
    size: &Path,
) -> Result<Vec<Row>> {
    let elf = board.elf(program);
    let Some(marker) = symbol(nm, &elf, "INSN_MARK")? else {
        return Ok(Vec::new());
    };
    let extra = [
        "-plugin".to_string(),
        format!("{},marker={marker:#x}", plugin.display()),
        "-d".to_string(),
        "plugin".to_string(),
    ];
    let out = qemu::run_elf(board, &elf, &extra, Duration::from_secs(TIMEOUT_S))?;
    match out.code {
        Some(0) => {}
        Some(c) => bail!("exit {c}:\n{}{}", out.log, out.qemu_stderr),
        None => bail!("hung: killed after {TIMEOUT_S} s"),
    }
    let (flash, ram) = flash_and_ram(&sections(size, &elf)?);
    rows(&board.name, &out.log, &out.qemu_stderr, flash, ram)
}

/// Rows of the C firmware on `board` (`c/BOARD`): built against the model
/// exported into `model_dir`, run under the plugin like a Rust program.
fn measure_c(
    board: &crate::cfirmware::CBoard,
    model_dir: &Path,
    plugin: &Path,
    nm: &Path,
    size: &Path,
) -> Result<Vec<Row>> {
    let elf = board.build(model_dir)?;
    let marker = symbol(nm, &elf, "INSN_MARK")?.context("no INSN_MARK in the C firmware")?;
    let extra = [
        "-plugin".to_string(),
        format!("{},marker={marker:#x}", plugin.display()),
        "-d".to_string(),
        "plugin".to_string(),
    ];
    let out = board.run(&elf, &extra, Duration::from_secs(TIMEOUT_S))?;
    match out.code {
        Some(0) => {}
        Some(c) => bail!("exit {c}:\n{}", out.log),
        None => bail!("hung: killed after {TIMEOUT_S} s"),
    }
    let (flash, ram) = flash_and_ram(&sections(size, &elf)?);
    rows(
        &format!("c/{}", board.name),
        &out.log,
        &out.qemu_stderr,
        flash,
        ram,
    )
}

fn table(rows: &[Row]) {
    println!(
        "{:<10} {:<20} {:<11} {:>12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "board",
        "model",
        "dtype",
        "instructions",
        "MACs",
        "instr/MAC",
        "flash",
        "weights",
        "data",
        "code",
        "RAM",
        "stack",
        "arena",
        "bound",
        "in-place",
        "peak RAM"
    );
    for r in rows {
        println!(
            "{:<10} {:<20} {:<11} {:>12} {:>9} {:>9.2} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            r.board,
            r.model,
            r.dtype,
            r.instructions,
            r.macs,
            r.instructions_per_mac(),
            r.flash_bytes,
            r.weights_bytes,
            r.data_bytes,
            r.code_bytes(),
            r.ram_bytes,
            r.stack_bytes,
            r.arena_bytes,
            r.arena_lower_bound,
            r.arena_in_place_bound,
            r.peak_ram_bytes()
        );
    }
    println!(
        "(bytes; flash = vector table + text + rodata + data; code = flash - weights - test data; RAM = static data + bss;\n \
         arena = activation arena and in-place scratch, bound = largest sum of activations live at once,\n \
         in-place = the same with every node that may write over its input doing so (an in-place plan's arena\n \
         may be below bound, down to in-place); peak RAM = RAM + stack)"
    );
}

/// Measures every instrumented QEMU program and prints the table (or JSON).
pub fn run(args: &[String]) -> Result<()> {
    let mut json = false;
    let mut filters = Vec::new();
    for a in args {
        match a.as_str() {
            "--json" => json = true,
            s if s.starts_with('-') => {
                bail!("unknown option `{s}` (usage: cargo xtask report [--json] [FILTER...])")
            }
            s => filters.push(s.to_string()),
        }
    }
    qemu::require_tools()?;
    let plugin = build_plugin()?;
    let nm = binutil("llvm-nm", "arm-none-eabi-nm")?;
    let size = binutil("llvm-size", "arm-none-eabi-size")?;

    let mut all = Vec::new();
    for board in qemu::boards()?.into_iter().filter(|b| b.qemu.is_some()) {
        let programs: Vec<String> = board
            .programs()?
            .into_iter()
            .filter(|p| !p.starts_with(FAIL_PREFIX))
            .filter(|p| {
                let full = format!("{}/{p}", board.name);
                filters.is_empty() || filters.iter().any(|f| full.contains(f.as_str()))
            })
            .collect();
        if programs.is_empty() {
            continue;
        }
        board.build()?;
        for program in programs {
            let rows = measure(&board, &program, &plugin, &nm, &size)
                .with_context(|| format!("{}/{program}", board.name))?;
            all.extend(rows);
        }
    }
    let c_boards: Vec<_> = crate::cfirmware::BOARDS
        .into_iter()
        .filter(|b| {
            filters.is_empty() || filters.iter().any(|f| b.full_name().contains(f.as_str()))
        })
        .collect();
    if !c_boards.is_empty() {
        crate::cfirmware::require_tools()?;
        let (model_dir, _, _) = crate::cfirmware::export_model()?;
        for board in c_boards {
            let rows = measure_c(&board, &model_dir, &plugin, &nm, &size)
                .with_context(|| board.full_name())?;
            all.extend(rows);
        }
    }
    if all.is_empty() {
        bail!("no QEMU program logged a `report` line");
    }
    if json {
        for r in &all {
            println!("{}", r.json());
        }
    } else {
        table(&all);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "INFO  report model=dense-32x64x10 dtype=f32 macs=2688 weights_bytes=11048 stack_bytes=1308\n\
                       INFO  pass: something\n";
    const MARKS: &str = "insncount: mark 0 total=1000 delta=1000\n\
                         insncount: mark 1 total=9064 delta=8064\n\
                         insncount: total=20000\n";

    #[test]
    fn pairs_reports_with_marks() {
        let rows = rows("qemu-m4f", LOG, MARKS, 30000, 16).unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(
            (r.model.as_str(), r.dtype.as_str()),
            ("dense-32x64x10", "f32")
        );
        assert_eq!(
            (r.instructions, r.macs, r.weights_bytes, r.stack_bytes),
            (8064, 2688, 11048, 1308)
        );
        assert_eq!(r.instructions_per_mac(), 3.0);
        assert_eq!(
            r.json(),
            "{\"board\":\"qemu-m4f\",\"model\":\"dense-32x64x10\",\"dtype\":\"f32\",\"instructions\":8064,\
             \"macs\":2688,\"instructions_per_mac\":3.000,\"flash_bytes\":30000,\"weights_bytes\":11048,\
             \"ram_bytes\":16,\"stack_bytes\":1308,\"data_bytes\":0,\"code_bytes\":18952,\
             \"arena_bytes\":0,\"arena_lower_bound\":0,\"arena_in_place_bound\":0,\"peak_ram_bytes\":1324}"
        );
    }

    #[test]
    fn test_data_is_not_code() {
        let log = "INFO  report model=m dtype=int8 macs=10 weights_bytes=100 data_bytes=400 stack_bytes=8\n";
        let r = &rows("b", log, MARKS, 1000, 0).unwrap()[0];
        assert_eq!((r.data_bytes, r.code_bytes()), (400, 500));
        assert!(rows("b", &log.replace("=400", "=x"), MARKS, 1000, 0).is_err());
    }

    #[test]
    fn arena_keys_are_read() {
        let log = "INFO  report model=kws dtype=int8 macs=10 weights_bytes=100 data_bytes=0 stack_bytes=900 arena_bytes=800 arena_lower_bound=700 arena_in_place_bound=600\n";
        let r = &rows("b", log, MARKS, 1000, 20).unwrap()[0];
        assert_eq!(
            (
                r.arena_bytes,
                r.arena_lower_bound,
                r.arena_in_place_bound,
                r.peak_ram_bytes()
            ),
            (800, 700, 600, 920)
        );
        assert!(rows("b", &log.replace("=700", "=x"), MARKS, 1000, 0).is_err());
        assert!(rows("b", &log.replace("=600", "=x"), MARKS, 1000, 0).is_err());
    }

    #[test]
    fn missing_marks_are_an_error() {
        assert!(rows("b", LOG, "insncount: mark 0 total=5 delta=5\n", 0, 0).is_err());
        assert!(rows("b", "INFO  report model=x dtype=f32 macs=1\n", MARKS, 0, 0).is_err());
    }

    #[test]
    fn sections_sum_to_flash_and_ram() {
        let text = "dense  :\nsection              size        addr\n.vector_table        1024           0\n\
                    .text               20000        1024\n.rodata             11000       21024\n\
                    .data                   8   536870912\n.bss                   16   536870920\n\
                    .uninit                 0   536870936\n.defmt                 99           0\nTotal 32147\n";
        let s = parse_sections(text);
        assert_eq!(flash_and_ram(&s), (1024 + 20000 + 11000 + 8, 8 + 16));
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
