//! `cargo xtask fuzz [--seconds N] [TARGET...]`: runs each cargo-fuzz target
//! of `fuzz/` for a bounded time under AddressSanitizer, with debug
//! assertions and overflow checks, and memory limits that catch an
//! allocation sized from an untrusted field.
//!
//! Inputs that find new coverage go to `fuzz/corpus/<target>` (ignored by
//! git); the committed seeds in `fuzz/seeds/<target>` are read every run,
//! and `fuzz/dicts/<target>.dict` (tokens of the format) when present.
//! A crash leaves its input in `fuzz/artifacts/<target>/` and fails the
//! command. `cargo xtask fuzz` installs `cargo-fuzz` (and the nightly
//! toolchain) when missing; CI does that in its setup steps.

use crate::util::{self, on_path, root};
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// Seconds per target when `--seconds` is not given.
pub const DEFAULT_SECONDS: u64 = 20;
/// libFuzzer's limit on the resident set, in MiB.
pub const RSS_LIMIT_MB: u32 = 2048;
/// libFuzzer's limit on a single allocation, in MiB: far below what a forged
/// size field could request (a header claiming 2^40 elements).
pub const MALLOC_LIMIT_MB: u32 = 1024;
/// Longest input libFuzzer generates, in bytes, unless a committed seed is
/// longer (see [`max_len`]).
pub const MAX_LEN: u32 = 16384;

/// What one target's run reported.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Target name.
    pub target: String,
    /// Inputs executed.
    pub runs: u64,
    /// Coverage points (libFuzzer's `cov`) at the end.
    pub cov: u64,
    /// Features (libFuzzer's `ft`) at the end.
    pub features: u64,
    /// Inputs in the corpus at the end.
    pub corpus: u64,
    /// Peak resident set in MiB.
    pub rss_mb: u64,
    /// Seconds the run took.
    pub seconds: f64,
}

/// Parses the arguments and fuzzes.
pub fn run(args: &[String]) -> Result<()> {
    let mut seconds = DEFAULT_SECONDS;
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                let v = it.next().context("--seconds needs a value")?;
                seconds = v
                    .parse()
                    .with_context(|| format!("--seconds: `{v}` is not a whole number"))?;
                if seconds == 0 {
                    bail!("--seconds must be at least 1");
                }
            }
            "-h" | "--help" => {
                println!("usage: cargo xtask fuzz [--seconds N] [TARGET...]");
                println!(
                    "  runs each fuzz target (default: all) for N seconds (default {DEFAULT_SECONDS})"
                );
                return Ok(());
            }
            s if s.starts_with('-') => bail!("unknown option `{s}` for `cargo xtask fuzz`"),
            s => targets.push(s.to_string()),
        }
    }
    setup()?;
    let reports = fuzz(&targets, seconds)?;
    print_table(&reports);
    Ok(())
}

/// Installs what fuzzing needs: the nightly toolchain, cargo-fuzz, and a C++
/// compiler for libFuzzer (reported, not installed).
pub fn setup() -> Result<()> {
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !nightly {
        util::run(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))?;
    }
    let has_fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !has_fuzz {
        util::run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    if !["c++", "g++", "clang++"].iter().any(|c| on_path(c)) {
        bail!("no C++ compiler on PATH: libFuzzer is C++ (`apt-get install -y g++` or clang)");
    }
    Ok(())
}

fn fuzz_cmd() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root()).args(["+nightly", "fuzz"]);
    cmd
}

/// The targets `fuzz/Cargo.toml` declares.
pub fn list() -> Result<Vec<String>> {
    let out = fuzz_cmd()
        .arg("list")
        .output()
        .context("cannot run `cargo +nightly fuzz list`")?;
    if !out.status.success() {
        bail!(
            "`cargo +nightly fuzz list` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

/// Builds and runs `targets` (all when empty) for `seconds` each. Stops at
/// the first crash, leak, timeout or memory-limit hit. Needs [`setup`] done.
pub fn fuzz(targets: &[String], seconds: u64) -> Result<Vec<Report>> {
    let all = list()?;
    let chosen: Vec<String> = if targets.is_empty() {
        all.clone()
    } else {
        targets.to_vec()
    };
    if let Some(bad) = chosen.iter().find(|t| !all.contains(t)) {
        bail!("no fuzz target `{bad}` (targets: {})", all.join(", "));
    }
    // One build for all targets: ASan, release, debug assertions on. The
    // binaries then run directly, so an edit made meanwhile cannot trigger
    // a rebuild between targets.
    let target_dir = root().join("fuzz").join("target");
    util::run(
        fuzz_cmd()
            .args(["build", "-O", "-a", "--target-dir"])
            .arg(&target_dir)
            .env_remove("CARGO_TARGET_DIR"),
    )?;
    let bin_dir = target_dir.join(host_triple()?).join("release");
    let mut reports = Vec::new();
    for t in &chosen {
        reports.push(run_target(&bin_dir.join(t), t, seconds)?);
    }
    Ok(reports)
}

/// The nightly toolchain's host triple (cargo-fuzz builds for it).
fn host_triple() -> Result<String> {
    let out = Command::new("rustc")
        .args(["+nightly", "-vV"])
        .output()
        .context("cannot run `rustc +nightly -vV`")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_string())
        .context("no host triple in `rustc +nightly -vV`")
}

fn run_target(bin: &Path, target: &str, seconds: u64) -> Result<Report> {
    let fuzz_dir = root().join("fuzz");
    let corpus = fuzz_dir.join("corpus").join(target);
    let seeds = fuzz_dir.join("seeds").join(target);
    let artifacts = fuzz_dir.join("artifacts").join(target);
    for d in [&corpus, &artifacts] {
        std::fs::create_dir_all(d).with_context(|| format!("{}", d.display()))?;
    }
    let dict = fuzz_dir.join("dicts").join(format!("{target}.dict"));
    let mut cmd = Command::new(bin);
    cmd.current_dir(&fuzz_dir)
        .arg(format!("-artifact_prefix={}/", artifacts.display()));
    if dict.is_file() {
        cmd.arg(format!("-dict={}", dict.display()));
    }
    cmd.arg(format!("-max_total_time={seconds}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-malloc_limit_mb={MALLOC_LIMIT_MB}"))
        .arg(format!("-max_len={}", max_len(&seeds)?))
        .arg("-timeout=10")
        .arg("-print_final_stats=1")
        .arg(&corpus)
        .arg(&seeds)
        .stderr(Stdio::piped());
    eprintln!("$ {}", util::show(&cmd));
    let start = std::time::Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start fuzz target {target}"))?;
    let mut report = Report {
        target: target.to_string(),
        ..Report::default()
    };
    let mut tail: Vec<String> = Vec::new();
    if let Some(err) = child.stderr.take() {
        for line in BufReader::new(err).lines() {
            let line = line.unwrap_or_default();
            // Progress lines are many; echo the rest and every 'pulse'.
            if !line.contains(" NEW ") && !line.contains(" REDUCE ") {
                eprintln!("{line}");
            }
            parse_line(&line, &mut report);
            tail.push(line);
            if tail.len() > 40 {
                tail.remove(0);
            }
        }
    }
    let status = child.wait()?;
    report.seconds = start.elapsed().as_secs_f64();
    if !status.success() {
        bail!(
            "fuzz target {target} failed ({status}) after {} runs; the input is in fuzz/artifacts/{target}/",
            report.runs
        );
    }
    if report.runs == 0 {
        bail!("fuzz target {target} reported no executions");
    }
    Ok(report)
}

/// The longest input to generate for a target whose seeds are in `seeds`:
/// [`MAX_LEN`], or the largest seed if it is longer. libFuzzer cuts every
/// input it loads to `-max_len`, and a cut TFLite model (its constant buffers
/// sit at the end) fails the reader's first check, so mutations would never
/// reach the translation.
pub fn max_len(seeds: &Path) -> Result<u32> {
    let mut longest = MAX_LEN;
    if !seeds.is_dir() {
        return Ok(longest);
    }
    for e in std::fs::read_dir(seeds).with_context(|| format!("{}", seeds.display()))? {
        let e = e.with_context(|| format!("{}", seeds.display()))?;
        let len = e
            .metadata()
            .with_context(|| format!("{}", e.path().display()))?
            .len();
        longest = longest.max(u32::try_from(len).unwrap_or(u32::MAX));
    }
    Ok(longest)
}

/// Reads the counters of a libFuzzer status line (`#N ... cov: C ft: F corp: K/...`)
/// or a final-stats line (`stat::number_of_executed_units: N`).
fn parse_line(line: &str, r: &mut Report) {
    let field = |key: &str| -> Option<u64> {
        let rest = line.split(key).nth(1)?;
        let digits: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().ok()
    };
    if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
        if let Ok(n) = n.trim().parse() {
            r.runs = n;
        }
        return;
    }
    if let Some(n) = line.strip_prefix("stat::peak_rss_mb:") {
        if let Ok(n) = n.trim().parse() {
            r.rss_mb = n;
        }
        return;
    }
    if let Some(rest) = line.strip_prefix('#') {
        if let Some(n) = rest.split_whitespace().next().and_then(|s| s.parse().ok()) {
            r.runs = r.runs.max(n);
        }
        if let Some(c) = field("cov:") {
            r.cov = c;
        }
        if let Some(f) = field("ft:") {
            r.features = f;
        }
        if let Some(k) = field("corp:") {
            r.corpus = k;
        }
    }
}

/// Prints one line of figures per target.
pub fn print_table(reports: &[Report]) {
    println!(
        "{:<14} {:>12} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "target", "runs", "cov", "ft", "corpus", "rss MiB", "seconds"
    );
    for r in reports {
        println!(
            "{:<14} {:>12} {:>8} {:>8} {:>8} {:>8} {:>8.0}",
            r.target, r.runs, r.cov, r.features, r.corpus, r.rss_mb, r.seconds
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_len_covers_the_largest_seed() {
        let dir = std::env::temp_dir().join(format!("xtask-max-len-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("small"), [0u8; 10]).unwrap();
        assert_eq!(max_len(&dir).unwrap(), MAX_LEN);
        std::fs::write(dir.join("big"), vec![0u8; MAX_LEN as usize + 5]).unwrap();
        assert_eq!(max_len(&dir).unwrap(), MAX_LEN + 5);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(max_len(&dir).unwrap(), MAX_LEN);
    }

    #[test]
    fn parses_libfuzzer_lines() {
        let mut r = Report::default();
        parse_line(
            "#52311\tREDUCE cov: 812 ft: 2051 corp: 311/40Kb lim: 4096 exec/s: 1743 rss: 91Mb",
            &mut r,
        );
        assert_eq!(
            (r.runs, r.cov, r.features, r.corpus),
            (52311, 812, 2051, 311)
        );
        parse_line("stat::number_of_executed_units: 60012", &mut r);
        parse_line("stat::peak_rss_mb: 97", &mut r);
        assert_eq!((r.runs, r.rss_mb), (60012, 97));
        parse_line("INFO: Seed: 1234", &mut r);
        assert_eq!(r.runs, 60012);
    }
}
