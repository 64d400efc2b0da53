//! The experiment's outputs: a Markdown table, SVG plots and a JSON line.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;

use super::RunResult;

/// Two Markdown tables: gradient norm per layer (one column per run), then
/// test accuracy per epoch and seconds (one row per run).
pub fn markdown(results: &[RunResult]) -> String {
    let mut s = String::new();
    let layers = results
        .iter()
        .map(|r| r.grad_norms.len())
        .max()
        .unwrap_or(0);
    s.push_str("| layer |");
    for r in results {
        let _ = write!(s, " {} |", r.name);
    }
    s.push_str("\n| --- |");
    s.push_str(&" ---: |".repeat(results.len()));
    s.push('\n');
    for l in 0..layers {
        let label = if l + 1 == layers {
            format!("{} (output)", l + 1)
        } else {
            format!("{}", l + 1)
        };
        let _ = write!(s, "| {label} |");
        for r in results {
            match r.grad_norms.get(l) {
                Some(g) => {
                    let _ = write!(s, " {g:.2e} |");
                }
                None => s.push_str(" |"),
            }
        }
        s.push('\n');
    }
    s.push_str("| layer 1 / output |");
    for r in results {
        match (r.grad_norms.first(), r.grad_norms.last()) {
            (Some(a), Some(b)) if *b > 0.0 => {
                let _ = write!(s, " {:.2e} |", a / b);
            }
            _ => s.push_str(" |"),
        }
    }
    s.push_str("\n\n");

    let epochs = results
        .iter()
        .map(|r| r.test_accuracy.len())
        .max()
        .unwrap_or(0);
    s.push_str("| run |");
    for e in 1..=epochs {
        let _ = write!(s, " epoch {e} |");
    }
    s.push_str(" pretraining (s) | total (s) |\n| --- |");
    s.push_str(&" ---: |".repeat(epochs + 2));
    s.push('\n');
    for r in results {
        let _ = write!(s, "| {} |", r.name);
        for e in 0..epochs {
            match r.test_accuracy.get(e) {
                Some(a) => {
                    let _ = write!(s, " {:.2}% |", 100.0 * a);
                }
                None => s.push_str(" |"),
            }
        }
        let _ = writeln!(s, " {:.1} | {:.1} |", r.pretrain_seconds, r.seconds);
    }
    s
}

/// `{"runs": [{"name", "grad_norms", "test_accuracy", "seconds", "pretrain_seconds"}, ...]}` on one line.
pub fn json(results: &[RunResult]) -> String {
    serde_json::json!({ "runs": results }).to_string()
}

/// Reads back what [`json`] wrote.
pub fn from_json(text: &str) -> Result<Vec<RunResult>> {
    #[derive(serde::Deserialize)]
    struct Runs {
        runs: Vec<RunResult>,
    }
    let runs: Runs =
        serde_json::from_str(text.trim()).context("not a vanishing-gradient results object")?;
    Ok(runs.runs)
}

/// Writes an experiment's `table.md` and `results.json` under `out` and
/// prints the table on stdout; with `json_mode` the table goes to stderr and
/// stdout carries only the JSON object.
pub fn publish(out: &Path, table: &str, json: &str, json_mode: bool) -> Result<()> {
    write_atomic(&out.join("table.md"), table.as_bytes())?;
    write_atomic(&out.join("results.json"), format!("{json}\n").as_bytes())?;
    if json_mode {
        eprint!("{table}");
        println!("{json}");
    } else {
        print!("{table}");
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// reader never sees a partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().with_context(|| format!("{}: cannot write", path.display()))
}

const COLOURS: [RGBColor; 6] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(0, 0, 0),
];

/// Draws line series `(x, y)` per run into an SVG at `path`.
fn plot(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    log_y: bool,
) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("{}: {e}", path.display());
    let points = series
        .iter()
        .flat_map(|s| s.1.iter())
        .filter(|p| p.1.is_finite() && (!log_y || p.1 > 0.0));
    let (mut x_hi, mut y_lo, mut y_hi) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points {
        x_hi = x_hi.max(x);
        y_lo = y_lo.min(y);
        y_hi = y_hi.max(y);
    }
    if !(y_lo.is_finite() && y_hi.is_finite()) {
        (y_lo, y_hi) = (if log_y { 1e-3 } else { 0.0 }, 1.0);
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(title, ("sans-serif", 20))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(70);
        let x_range = 1.0..x_hi.max(2.0);
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(x_desc)
                    .y_desc(y_desc)
                    .x_labels(x_hi as usize)
                    .x_label_formatter(&|x| format!("{x:.0}"))
                    .y_label_formatter(&|y| {
                        if log_y {
                            format!("{y:.0e}")
                        } else {
                            format!("{y:.0}")
                        }
                    })
                    .draw()
                    .map_err(|e| err(&e))?;
                for (i, (name, pts)) in series.iter().enumerate() {
                    let colour = COLOURS[i % COLOURS.len()];
                    let pts: Vec<(f64, f64)> = pts
                        .iter()
                        .copied()
                        .filter(|p| p.1.is_finite() && (!log_y || p.1 > 0.0))
                        .collect();
                    chart
                        .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
                        .map_err(|e| err(&e))?
                        .label(name.as_str())
                        .legend(move |(x, y)| {
                            PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2))
                        });
                    chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                        .map_err(|e| err(&e))?;
                }
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::LowerRight)
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|e| err(&e))?;
            }};
        }
        if log_y {
            let (lo, hi) = (y_lo / 2.0, y_hi * 2.0);
            draw!(
                builder
                    .build_cartesian_2d(x_range, (lo..hi).log_scale())
                    .map_err(|e| err(&e))?
            );
        } else {
            let pad = 0.05 * (y_hi - y_lo).max(1e-3);
            draw!(
                builder
                    .build_cartesian_2d(x_range, (y_lo - pad)..(y_hi + pad))
                    .map_err(|e| err(&e))?
            );
        }
        root.present().map_err(|e| err(&e))?;
    }
    write_atomic(path, svg.as_bytes())
}

/// Gradient norm per layer (log scale), one line per run.
pub fn plot_grad_norms(path: &Path, results: &[RunResult]) -> Result<()> {
    let series: Vec<(String, Vec<(f64, f64)>)> = results
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                r.grad_norms
                    .iter()
                    .enumerate()
                    .map(|(l, &g)| ((l + 1) as f64, g as f64))
                    .collect(),
            )
        })
        .collect();
    let title = "Weight-gradient L2 norm per layer at the start of training";
    plot(
        path,
        title,
        "layer (1 = input side, last = output)",
        "gradient norm",
        &series,
        true,
    )
}

/// Test accuracy (%) per epoch, one line per run.
pub fn plot_accuracy(path: &Path, results: &[RunResult]) -> Result<()> {
    let series: Vec<(String, Vec<(f64, f64)>)> = results
        .iter()
        .map(|r| {
            let pts = r
                .test_accuracy
                .iter()
                .enumerate()
                .map(|(e, &a)| ((e + 1) as f64, 100.0 * a as f64));
            (r.name.clone(), pts.collect())
        })
        .collect();
    plot(
        path,
        "Test accuracy per epoch",
        "epoch",
        "test accuracy (%)",
        &series,
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<RunResult> {
        vec![
            RunResult {
                name: "sigmoid".into(),
                grad_norms: vec![1e-7, 1e-3, 0.5],
                test_accuracy: vec![0.11, 0.12],
                seconds: 3.0,
                pretrain_seconds: 0.0,
            },
            RunResult {
                name: "relu".into(),
                grad_norms: vec![0.01, 0.02, 0.03],
                test_accuracy: vec![0.9, 0.95],
                seconds: 2.5,
                pretrain_seconds: 0.0,
            },
        ]
    }

    #[test]
    fn table_lists_every_layer_and_epoch() {
        let t = markdown(&sample());
        assert!(t.contains("| layer | sigmoid | relu |"), "{t}");
        assert!(t.contains("| 1 | 1.00e-7 | 1.00e-2 |"), "{t}");
        assert!(t.contains("| 3 (output) | 5.00e-1 | 3.00e-2 |"), "{t}");
        assert!(
            t.contains("| layer 1 / output | 2.00e-7 | 3.33e-1 |"),
            "{t}"
        );
        assert!(t.contains("| relu | 90.00% | 95.00% | 0.0 | 2.5 |"), "{t}");
    }

    #[test]
    fn json_is_one_parsable_line() {
        let j = json(&sample());
        assert!(!j.contains('\n'));
        assert_eq!(from_json(&j).unwrap(), sample());
        assert!(from_json("{\"runs\": 3}").is_err());
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["runs"][1]["name"], "relu");
        assert_eq!(v["runs"][0]["grad_norms"].as_array().unwrap().len(), 3);
        assert_eq!(
            v["runs"][0]["test_accuracy"][1].as_f64().unwrap() as f32,
            0.12
        );
    }

    #[test]
    fn plots_are_svg_with_one_series_per_run() {
        let dir = std::env::temp_dir().join(format!("myelin-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (g, a) = (dir.join("g.svg"), dir.join("a.svg"));
        plot_grad_norms(&g, &sample()).unwrap();
        plot_accuracy(&a, &sample()).unwrap();
        for p in [&g, &a] {
            let s = std::fs::read_to_string(p).unwrap();
            assert!(
                s.starts_with("<svg") && s.contains("sigmoid") && s.contains("relu"),
                "{}",
                p.display()
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
