//! The explaining-away experiment's outputs: Markdown tables, an SVG plot of
//! the per-image dependence, and a JSON line.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;

use super::{DEPENDENT_PAIR_NATS, Dependence, ExplainingAwayArgs, Results};
use crate::experiment::report::{publish, write_atomic};

/// Values below this are drawn at it on the log-scale plot.
pub const PLOT_FLOOR: f64 = 1e-18;

/// A number for a table: four significant digits, scientific when small.
fn num(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.abs() >= 0.01 && x.abs() < 1e4 {
        format!("{x:.4}")
    } else {
        format!("{x:.2e}")
    }
}

fn share(x: Option<f64>) -> String {
    x.map_or("-".into(), |s| format!("{:.0}%", 100.0 * s))
}

/// The three tables: the textbook net, the belief net at scale, and the
/// belief net against the RBM.
pub fn markdown(r: &Results) -> String {
    let mut s = String::new();
    let t = &r.textbook;
    let _ = writeln!(
        s,
        "Textbook net: prior logit {} per cause, weight {} from each cause, effect bias {}; p(v = 1) = {}.\n",
        t.net.prior_logit,
        t.net.weight,
        t.net.effect_bias,
        num(t.p_effect)
    );
    s.push_str("| (h1, h2) |");
    for c in &t.conditions {
        let _ = write!(s, " p(h1, h2), given {} |", c.given);
    }
    s.push_str("\n| --- |");
    s.push_str(&" ---: |".repeat(t.conditions.len()));
    s.push('\n');
    for (k, name) in ["(0, 0)", "(1, 0)", "(0, 1)", "(1, 1)"].iter().enumerate() {
        let _ = write!(s, "| {name} |");
        for c in &t.conditions {
            let _ = write!(s, " {} |", num(c.states[k]));
        }
        s.push('\n');
    }
    type Row = (&'static str, fn(&super::textbook::Condition) -> String);
    let rows: [Row; 5] = [
        ("p(h1 = 1)", |c| num(c.p_h1)),
        ("p(h2 = 1)", |c| num(c.p_h2)),
        ("Cov(h1, h2)", |c| num(c.covariance)),
        ("Corr(h1, h2)", |c| c.correlation.map_or("-".into(), num)),
        ("I(h1; h2), nats", |c| num(c.mutual_information)),
    ];
    for (name, f) in rows {
        let _ = write!(s, "| {name} |");
        for c in &t.conditions {
            let _ = write!(s, " {} |", f(c));
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "\np(h1 = 1 | v = 1, h2 = 0) = {}. Mean field for p(h | v = 1): q(h1 = 1) = {}, q(h2 = 1) = {}, KL(p || q) = {} nats, KL(q || p) = {} nats.\n",
        num(t.p_h1_given_effect_h2_off),
        num(t.mean_field[0]),
        num(t.mean_field[1]),
        num(t.mean_field_kl),
        num(t.mean_field_reverse_kl)
    );

    let b = &r.belief_net;
    let n = b.per_image_total_correlation.len();
    let h = r.settings.hidden;
    let _ = writeln!(
        s,
        "Belief net, {h} causes over {} binary pixels, wake-sleep on {} images; mean over {n} test images (nats):\n",
        r.visible, r.train_images
    );
    s.push_str("| measure | value |\n| --- | ---: |\n");
    let pairs = h * h.saturating_sub(1) / 2;
    let dependent_label = format!("dependent pairs (I above {DEPENDENT_PAIR_NATS:e} nats), of all");
    let lines = [
        ("ln p(v), exact", num(b.test_log_likelihood)),
        ("entropy of p(h given v)", num(b.posterior_entropy)),
        (
            "total correlation of p(h given v) = KL(p, product of its marginals)",
            num(b.posterior.total_correlation),
        ),
        (
            "pairwise I(h_i; h_j), mean over pairs",
            num(b.posterior.mean_pair_mi),
        ),
        (
            "pairwise I(h_i; h_j), largest pair",
            num(b.posterior.max_pair_mi),
        ),
        (
            &dependent_label,
            format!("{:.1} of {pairs}", b.posterior.dependent_pairs),
        ),
        (
            "of those, negatively correlated",
            share(b.posterior.negative_share),
        ),
        ("KL(p, mean field)", num(b.kl_exact_mean_field)),
        (
            "KL(mean field, p), what mean field minimizes",
            num(b.kl_mean_field_exact),
        ),
        (
            "KL(p, wake-sleep recognition net)",
            num(b.kl_exact_recognition),
        ),
        (
            "total correlation of the prior p(h)",
            num(b.prior.total_correlation),
        ),
        (
            "mean-field sweeps (converged share)",
            format!(
                "{:.1} ({:.0}%)",
                b.mean_field_sweeps,
                100.0 * b.mean_field_converged
            ),
        ),
    ];
    for (name, v) in lines {
        let _ = writeln!(s, "| {name} | {v} |");
    }

    let m = &r.rbm;
    let _ = writeln!(
        s,
        "\nBelief net against an RBM of the same size trained on the same images (CD-1, {} epochs); nats:\n",
        r.settings.rbm_epochs
    );
    s.push_str(
        "| model | ln p(v), exact | total correlation of p(h) | of p(h given v), mean | of p(h given v), largest | largest pairwise I in p(h given v), mean |\n",
    );
    s.push_str("| --- | ---: | ---: | ---: | ---: | ---: |\n");
    let bn_max = b
        .per_image_total_correlation
        .iter()
        .copied()
        .fold(0.0, f64::max);
    let row = |name: &str, ll: f64, prior: &Dependence, post: &Dependence, max: f64| {
        format!(
            "| {name} | {} | {} | {} | {} | {} |\n",
            num(ll),
            num(prior.total_correlation),
            num(post.total_correlation),
            num(max),
            num(post.max_pair_mi)
        )
    };
    s.push_str(&row(
        "belief net",
        b.test_log_likelihood,
        &b.prior,
        &b.posterior,
        bn_max,
    ));
    s.push_str(&row(
        "RBM",
        m.test_log_likelihood,
        &m.prior,
        &m.posterior,
        m.max_posterior_total_correlation,
    ));
    let _ = writeln!(
        s,
        "\nRBM: enumerated p(h_j = 1 | v) against the core's sigmoid(c_j + W_j v): largest difference {}.",
        num(m.max_marginal_error)
    );
    let _ = writeln!(
        s,
        "Seconds: belief net fit {:.1}, measure {:.1}; RBM fit {:.1}, measure {:.1}; total {:.1}.",
        b.fit_seconds, b.measure_seconds, m.fit_seconds, m.measure_seconds, r.seconds
    );
    s
}

/// The results as one JSON line.
pub fn json(r: &Results) -> String {
    serde_json::to_string(r).expect("results serialize")
}

/// Sorted per-image values, `(rank / n, max(value, floor))`.
fn quantiles(values: &[f64]) -> Vec<(f64, f64)> {
    let mut v: Vec<f64> = values.iter().map(|x| x.max(PLOT_FLOOR)).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len().max(1) as f64;
    v.into_iter()
        .enumerate()
        .map(|(i, x)| ((i as f64 + 0.5) / n, x))
        .collect()
}

/// Per-image dependence, each series sorted (log scale): the belief net's
/// exact posterior and its factorized approximations, the RBM's exact
/// posterior, and the RBM's `p(h)` as a level.
pub fn plot(path: &Path, r: &Results) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("{}: {e}", path.display());
    let b = &r.belief_net;
    let prior_level = r.rbm.prior.total_correlation.max(PLOT_FLOOR);
    let series = [
        (
            "belief net: KL(p, recognition net)",
            quantiles(&b.per_image_kl_recognition),
        ),
        (
            "belief net: KL(p, mean field)",
            quantiles(&b.per_image_kl_mean_field),
        ),
        (
            "belief net: total correlation of p(h|v)",
            quantiles(&b.per_image_total_correlation),
        ),
        (
            "RBM: total correlation of p(h)",
            vec![(0.0, prior_level), (1.0, prior_level)],
        ),
        (
            "RBM: total correlation of p(h|v)",
            quantiles(&r.rbm.per_image_total_correlation),
        ),
    ];
    let ys = series.iter().flat_map(|s| s.1.iter().map(|p| p.1));
    let hi = ys.fold(PLOT_FLOOR, f64::max) * 10.0;
    let colours = [
        RGBColor(255, 127, 14),
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(44, 160, 44),
    ];
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (860, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "Dependence between {} hidden units, per test image (sorted)",
                    r.settings.hidden
                ),
                ("sans-serif", 20),
            )
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..1.0, (PLOT_FLOOR / 10.0..hi).log_scale())
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("fraction of test images")
            .y_desc("nats")
            .y_label_formatter(&|y| format!("{y:.0e}"))
            .draw()
            .map_err(|e| err(&e))?;
        for ((name, pts), colour) in series.iter().zip(colours) {
            chart
                .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::Coordinate(380, 220))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    write_atomic(path, svg.as_bytes())
}

/// Writes `table.md`, `results.json` and the plot; prints the table, and the
/// JSON line with `--json`.
pub fn write_outputs(args: &ExplainingAwayArgs, r: &Results) -> Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create", args.out.display()))?;
    let plot_path = args
        .plot
        .clone()
        .unwrap_or_else(|| args.out.join("dependence.svg"));
    plot(&plot_path, r)?;
    publish(&args.out, &markdown(r), &json(r), args.json)?;
    eprintln!(
        "explaining-away: wrote table.md, results.json in {} and {}",
        args.out.display(),
        plot_path.display()
    );
    Ok(())
}
