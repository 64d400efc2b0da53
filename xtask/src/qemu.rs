//! `cargo xtask qemu`: build and run every QEMU firmware program.
//!
//! Boards and programs are found, not listed: a board is a directory
//! `firmware/NAME/` whose `.cargo/config.toml` names a `target` and a runner;
//! it is a QEMU board when the runner is `../tools/qemu-run MACHINE CPU`. Its
//! programs are its `src/bin/*.rs`. A program whose name starts with `fail_`
//! must fail: it passes only if it exits non-zero, before the timeout, after
//! logging an `ERROR` line (so a crash can neither hang nor pass).
//!
//! `cargo xtask qemu [--timeout SECS] [FILTER...]` runs the programs whose
//! `board/program` name contains any FILTER (all when none is given). The C
//! firmware (`c/BOARD/PROGRAM`, see [`crate::cfirmware`]) runs after them.

use crate::util::{self, on_path, root};
use anyhow::{Context, Result, bail};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Prefix of programs that must fail.
pub const FAIL_PREFIX: &str = "fail_";
/// Time limit of a program that must succeed, in seconds.
const DEFAULT_TIMEOUT_S: u64 = 60;
/// Time limit of a program that must fail, in seconds.
const FAIL_TIMEOUT_S: u64 = 10;

/// A firmware board crate.
#[derive(Debug, Clone)]
pub struct Board {
    /// Directory name under `firmware/`.
    pub name: String,
    /// The crate's directory.
    pub dir: PathBuf,
    /// The Rust target triple from its `.cargo/config.toml`.
    pub target: String,
    /// `Some((machine, cpu))` when it runs in QEMU.
    pub qemu: Option<(String, String)>,
}

impl Board {
    /// Names of the programs in `src/bin/*.rs`, sorted.
    pub fn programs(&self) -> Result<Vec<String>> {
        let bin = self.dir.join("src/bin");
        let mut names = Vec::new();
        for entry in
            std::fs::read_dir(&bin).with_context(|| format!("reading {}", bin.display()))?
        {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "rs")
                && let Some(stem) = path.file_stem()
            {
                names.push(stem.to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// The release ELF of `program`.
    pub fn elf(&self, program: &str) -> PathBuf {
        firmware_dir()
            .join("target")
            .join(&self.target)
            .join("release")
            .join(program)
    }

    /// `cargo build --release --bins` in the board's directory.
    pub fn build(&self) -> Result<()> {
        util::run(firmware_cargo(&self.dir).args(["build", "--release", "--bins"]))
    }
}

/// `firmware/`.
pub fn firmware_dir() -> PathBuf {
    root().join("firmware")
}

/// A `cargo` command that runs in `dir` (so that its `.cargo/config.toml` applies).
pub fn cargo_in(dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(dir);
    cmd
}

/// [`cargo_in`] for the firmware workspace: its ELFs must land in
/// `firmware/target/` (where [`Board::elf`] looks), whatever target
/// directory the root workspace uses.
pub fn firmware_cargo(dir: &Path) -> Command {
    let mut cmd = cargo_in(dir);
    cmd.env_remove("CARGO_TARGET_DIR");
    cmd
}

/// Every board crate under `firmware/`, sorted by name.
pub fn boards() -> Result<Vec<Board>> {
    let mut boards = Vec::new();
    for entry in std::fs::read_dir(firmware_dir()).context("reading firmware/")? {
        let dir = entry?.path();
        let config = dir.join(".cargo/config.toml");
        if !config.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&config)?;
        let target = toml_string(&text, "target")
            .with_context(|| format!("{}: no `target = \"...\"`", config.display()))?;
        let qemu = toml_string(&text, "runner").and_then(|runner| {
            let mut words = runner.split_whitespace();
            let script = words.next()?;
            if !script.ends_with("/qemu-run") {
                return None;
            }
            Some((words.next()?.to_string(), words.next()?.to_string()))
        });
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        boards.push(Board {
            name,
            dir,
            target,
            qemu,
        });
    }
    boards.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(boards)
}

/// The string value of the first `key = "value"` line of a TOML file.
fn toml_string(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        if k.trim() != key {
            return None;
        }
        let v = v.trim();
        Some(v.strip_prefix('"')?.strip_suffix('"')?.to_string())
    })
}

/// What one QEMU run produced.
#[derive(Debug)]
pub struct RunOutput {
    /// Exit status; `None` when it was killed by the timeout.
    pub code: Option<i32>,
    /// The decoded defmt log (and any decoder messages).
    pub log: String,
    /// QEMU's own stderr (plugin output goes there).
    pub qemu_stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

/// Checks that QEMU and the defmt decoder are installed.
pub fn require_tools() -> Result<()> {
    if !on_path("qemu-system-arm") {
        bail!(
            "qemu-system-arm not found: install it with \
             `apt-get install qemu-system-arm` (or run `cargo xtask ci`)"
        );
    }
    if !on_path("defmt-print") {
        bail!("defmt-print not found: install it with `cargo install defmt-print --locked`");
    }
    Ok(())
}

fn read_all(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Waits for `child` until `timeout`; kills it then. Returns its exit code,
/// `None` when it was killed.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Result<Option<i32>> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            // A signal (no code) counts as a failure, not as a timeout.
            return Ok(Some(status.code().unwrap_or(-1)));
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `elf` on `board` in QEMU with `extra` QEMU arguments, decoding its
/// defmt output, and kills it after `timeout`.
pub fn run_elf(
    board: &Board,
    elf: &Path,
    extra: &[String],
    timeout: Duration,
) -> Result<RunOutput> {
    let (machine, cpu) = board.qemu.as_ref().context("not a QEMU board")?;
    run_qemu(machine, cpu, elf, extra, timeout, true)
}

/// Runs `elf` in QEMU `machine` with `cpu` and `extra` arguments, killing it
/// after `timeout`; its semihosting output is decoded by `defmt-print` when
/// `defmt`, else taken as plain text.
pub fn run_qemu(
    machine: &str,
    cpu: &str,
    elf: &Path,
    extra: &[String],
    timeout: Duration,
    defmt: bool,
) -> Result<RunOutput> {
    let start = Instant::now();
    let mut qemu = Command::new("qemu-system-arm");
    qemu.args(["-machine", machine, "-cpu", cpu, "-nographic"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .args(extra)
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut qemu = qemu
        .spawn()
        .with_context(|| format!("cannot start `{}`", util::show(&qemu)))?;
    let qemu_out = qemu.stdout.take().context("qemu stdout")?;
    let qemu_err = read_all(qemu.stderr.take().context("qemu stderr")?);
    if !defmt {
        // Semihosting text goes to QEMU's stderr, beside QEMU's own messages.
        let out = read_all(qemu_out);
        let code = wait_timeout(&mut qemu, timeout)?;
        let qemu_stderr = qemu_err.join().unwrap_or_default();
        return Ok(RunOutput {
            code,
            log: out.join().unwrap_or_default() + &qemu_stderr,
            qemu_stderr,
            elapsed: start.elapsed(),
        });
    }
    let mut decoder = Command::new("defmt-print")
        .arg("-e")
        .arg(elf)
        .stdin(qemu_out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start defmt-print")?;
    let log = read_all(decoder.stdout.take().context("defmt-print stdout")?);
    let log_err = read_all(decoder.stderr.take().context("defmt-print stderr")?);
    let code = wait_timeout(&mut qemu, timeout)?;
    // The decoder ends when QEMU's stdout closes.
    wait_timeout(&mut decoder, Duration::from_secs(10))?;
    let mut log = log.join().unwrap_or_default();
    log.push_str(&log_err.join().unwrap_or_default());
    Ok(RunOutput {
        code,
        log,
        qemu_stderr: qemu_err.join().unwrap_or_default(),
        elapsed: start.elapsed(),
    })
}

/// Judges a run: `Ok(description)` if it did what its name requires.
pub fn verdict(program: &str, out: &RunOutput, timeout: Duration) -> Result<String, String> {
    let secs = out.elapsed.as_secs_f64();
    let must_fail = program.starts_with(FAIL_PREFIX);
    let logged_error = out.log.lines().any(|l| l.starts_with("ERROR"));
    match (out.code, must_fail) {
        (None, _) => Err(format!("hung: killed after {} s", timeout.as_secs())),
        (Some(0), false) => Ok(format!("exit 0 in {secs:.2} s")),
        (Some(c), false) => Err(format!("exit {c} in {secs:.2} s")),
        (Some(0), true) => Err(format!("must fail but exited 0 in {secs:.2} s")),
        (Some(c), true) if logged_error => {
            Ok(format!("failed as required: exit {c} in {secs:.2} s"))
        }
        (Some(c), true) => Err(format!(
            "exit {c} in {secs:.2} s without an ERROR log line (did the firmware run?)"
        )),
    }
}

/// Prints a run's log, indented, and judges it with `judge`; on a failed
/// verdict also prints what QEMU wrote to stderr.
pub fn judge_run(
    run: Result<RunOutput>,
    judge: impl FnOnce(&RunOutput) -> Result<String, String>,
) -> Result<String, String> {
    let out = run.map_err(|e| format!("{e:#}"))?;
    print!("{}", indent(&out.log));
    let v = judge(&out);
    if v.is_err() && !out.qemu_stderr.trim().is_empty() {
        print!("    qemu stderr:\n{}", indent(&out.qemu_stderr));
    }
    v
}

/// Prints `[pass]` or `[fail]` for `name` and adds it to `passed` or
/// `failed`.
pub fn tally(
    name: String,
    result: Result<String, String>,
    passed: &mut Vec<String>,
    failed: &mut Vec<String>,
) {
    match result {
        Ok(what) => {
            println!("[pass] {name}: {what}");
            passed.push(name);
        }
        Err(what) => {
            println!("[fail] {name}: {what}");
            failed.push(name);
        }
    }
}

pub fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// Builds and runs every QEMU firmware program.
pub fn run(args: &[String]) -> Result<()> {
    let mut timeout_override = None;
    let mut filters = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--timeout" => {
                let v = it.next().context("--timeout needs a number of seconds")?;
                timeout_override = Some(v.parse::<u64>().context("--timeout SECS")?);
            }
            s if s.starts_with('-') => {
                bail!("unknown option `{s}` (usage: cargo xtask qemu [--timeout SECS] [FILTER...])")
            }
            s => filters.push(s.to_string()),
        }
    }
    require_tools()?;

    let selected = |board: &Board, program: &str| {
        let full = format!("{}/{program}", board.name);
        filters.is_empty() || filters.iter().any(|f| full.contains(f.as_str()))
    };
    let mut passed = Vec::new();
    let mut failed = Vec::new();
    for board in boards()?.into_iter().filter(|b| b.qemu.is_some()) {
        let programs: Vec<String> = board
            .programs()?
            .into_iter()
            .filter(|p| selected(&board, p))
            .collect();
        if programs.is_empty() {
            continue;
        }
        if let Err(e) = board.build() {
            println!("[fail] {}: build: {e:#}", board.name);
            failed.push(format!("{} (build)", board.name));
            continue;
        }
        for program in programs {
            let name = format!("{}/{program}", board.name);
            let limit = Duration::from_secs(timeout_override.unwrap_or(
                if program.starts_with(FAIL_PREFIX) {
                    FAIL_TIMEOUT_S
                } else {
                    DEFAULT_TIMEOUT_S
                },
            ));
            println!("--- {name}");
            let run = run_elf(&board, &board.elf(&program), &[], limit);
            let result = judge_run(run, |out| verdict(&program, out, limit));
            tally(name, result, &mut passed, &mut failed);
        }
    }
    crate::cfirmware::run_selected(&filters, timeout_override, &mut passed, &mut failed)?;
    if passed.is_empty() && failed.is_empty() {
        bail!("no QEMU firmware program matched");
    }
    println!();
    for f in &failed {
        println!("failed: {f}");
    }
    println!("{} passed, {} failed", passed.len(), failed.len());
    if !failed.is_empty() {
        bail!("{} QEMU program(s) failed", failed.len());
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
            elapsed: Duration::from_millis(100),
        }
    }

    #[test]
    fn verdicts() {
        let t = Duration::from_secs(5);
        assert!(verdict("kernels", &out(Some(0), "INFO  ok"), t).is_ok());
        assert!(verdict("kernels", &out(Some(1), "ERROR x"), t).is_err());
        assert!(verdict("kernels", &out(None, ""), t).is_err());
        assert!(verdict("fail_panic", &out(Some(1), "ERROR panicked"), t).is_ok());
        assert!(verdict("fail_panic", &out(Some(0), "ERROR panicked"), t).is_err());
        assert!(verdict("fail_panic", &out(None, "ERROR panicked"), t).is_err());
        assert!(verdict("fail_panic", &out(Some(1), "qemu: bad machine"), t).is_err());
    }

    #[test]
    fn toml_strings() {
        let text = "[build]\ntarget = \"thumbv6m-none-eabi\"\n\n[target.x]\nrunner = \"../tools/qemu-run microbit cortex-m0\"\n";
        assert_eq!(
            toml_string(text, "target").as_deref(),
            Some("thumbv6m-none-eabi")
        );
        assert_eq!(
            toml_string(text, "runner").as_deref(),
            Some("../tools/qemu-run microbit cortex-m0")
        );
        assert_eq!(toml_string(text, "rustflags"), None);
    }
}
