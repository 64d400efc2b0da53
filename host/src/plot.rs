//! Loss and accuracy curves as an SVG (plotters).

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use crate::checkpoint::EpochStats;

/// Reads one figure of an epoch.
type Metric = fn(&EpochStats) -> f64;

/// Draws training and validation loss (left) and accuracy (right) per epoch into `path`.
pub fn write_svg(path: &Path, title: &str, history: &[EpochStats]) -> Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let root = root
            .titled(title, ("sans-serif", 20))
            .map_err(|e| anyhow!("{e}"))?;
        let (left, right) = root.split_horizontally(480);
        let epochs = history.len().max(1) as f64;
        let series = |f: fn(&EpochStats) -> f64| -> Vec<(f64, f64)> {
            history
                .iter()
                .map(|s| (s.epoch as f64, f(s)))
                .filter(|p| p.1.is_finite())
                .collect()
        };
        let panels: [(&DrawingArea<_, _>, &str, [Metric; 2]); 2] = [
            (&left, "loss", [|s| s.train_loss, |s| s.val_loss]),
            (
                &right,
                "accuracy (%)",
                [|s| 100.0 * s.train_accuracy, |s| 100.0 * s.val_accuracy],
            ),
        ];
        for (area, label, fs) in panels {
            let train = series(fs[0]);
            let val = series(fs[1]);
            let ys = train.iter().chain(&val).map(|p| p.1);
            let lo = ys.clone().fold(f64::INFINITY, f64::min);
            let hi = ys.fold(f64::NEG_INFINITY, f64::max);
            let (lo, hi) = if lo.is_finite() && hi > lo {
                (lo, hi)
            } else {
                (0.0, 1.0)
            };
            let pad = 0.05 * (hi - lo);
            let mut chart = ChartBuilder::on(area)
                .margin(12)
                .x_label_area_size(32)
                .y_label_area_size(56)
                .build_cartesian_2d(1.0..epochs.max(2.0), (lo - pad)..(hi + pad))
                .map_err(|e| anyhow!("{e}"))?;
            chart
                .configure_mesh()
                .x_labels(history.len().clamp(2, 12))
                .x_label_formatter(&|x| format!("{x:.0}"))
                .x_desc("epoch")
                .y_desc(label)
                .draw()
                .map_err(|e| anyhow!("{e}"))?;
            for (data, colour, name) in [(train, &BLUE, "train"), (val, &RED, "validation")] {
                if data.is_empty() {
                    continue;
                }
                chart
                    .draw_series(LineSeries::new(data, colour.stroke_width(2)))
                    .map_err(|e| anyhow!("{e}"))?
                    .label(name)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| anyhow!("{e}"))?;
        }
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    crate::checkpoint::write_atomic(path, svg.as_bytes())
}
