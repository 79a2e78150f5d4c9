//! The report's SVG charts: FGSM white-box and transfer curves, the worst case of the
//! strong attacks, and the learned SPLASH shapes.

use super::stats::{mean_sd, runs_of};
use super::Res;
use plotters::prelude::*;
use splash::activation::{Activation, ActivationKind, Splash};
use splash::study::{RunResult, StudyResults};
use splash::weights::write_atomic;
use std::path::Path;

/// White-box FGSM curves, one per activation.
pub(super) const WHITEBOX: &str = "whitebox.svg";
/// FGSM crafted on the ReLU model of the same seed.
pub(super) const TRANSFER: &str = "transfer.svg";
/// The worst case over FGSM and the strong attacks.
pub(super) const WORST: &str = "worst.svg";
/// The learned SPLASH shapes, one line per layer and seed.
pub(super) const SHAPES: &str = "splash-shapes.svg";

/// Which of the optional figures were written.
pub(super) struct Figures {
    /// [`SHAPES`]: there are SPLASH runs.
    pub shapes: bool,
    /// [`WORST`]: the study ran strong attacks.
    pub worst: bool,
}

const PALETTE: [RGBColor; 10] = [
    RGBColor(37, 99, 235),
    RGBColor(217, 119, 6),
    RGBColor(22, 163, 74),
    RGBColor(147, 51, 234),
    RGBColor(220, 38, 38),
    RGBColor(8, 145, 178),
    RGBColor(101, 163, 13),
    RGBColor(190, 24, 93),
    RGBColor(75, 85, 99),
    RGBColor(234, 179, 8),
];

type Series = (String, RGBColor, Vec<(f32, f32)>);

fn line_chart(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    x: std::ops::Range<f32>,
    y: std::ops::Range<f32>,
    series: &[Series],
) -> Result<String, Box<dyn std::error::Error>> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 460)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x, y)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        for (label, color, points) in series {
            let c = *color;
            chart
                .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
            // Mark measured points; dense curves (the learned shapes) are lines only.
            if points.len() <= 20 {
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

fn curve_series(r: &StudyResults, pick: fn(&RunResult) -> &Vec<f32>) -> Vec<Series> {
    ActivationKind::ALL
        .iter()
        .enumerate()
        .filter_map(|(i, &act)| {
            // Runs without this curve (ReLU has no transfer curve: it is the source) are left out.
            let runs: Vec<_> = runs_of(r, act)
                .into_iter()
                .filter(|x| pick(x).len() == r.epsilons.len())
                .collect();
            if runs.is_empty() {
                return None;
            }
            let mut points = vec![(
                0.0,
                mean_sd(
                    &runs
                        .iter()
                        .map(|x| x.clean_accuracy as f64)
                        .collect::<Vec<_>>(),
                )
                .0 as f32,
            )];
            for (k, &eps) in r.epsilons.iter().enumerate() {
                let v: Vec<f64> = runs.iter().map(|x| pick(x)[k] as f64).collect();
                points.push((eps, mean_sd(&v).0 as f32));
            }
            Some((act.name().to_string(), PALETTE[i % PALETTE.len()], points))
        })
        .collect()
}

/// Writes the figures into `fig_dir`.
pub(super) fn write_figures(results: &StudyResults, fig_dir: &Path) -> Res<Figures> {
    let network = results.network()?.describe();
    let max_eps = results.epsilons.iter().cloned().fold(0.0f32, f32::max);
    let fgsm_chart = |title: String, pick: fn(&RunResult) -> &Vec<f32>| {
        line_chart(
            &title,
            "epsilon (L-infinity, pixels in [0, 1])",
            "test accuracy",
            0.0..max_eps + 0.005,
            0.0..1.0,
            &curve_series(results, pick),
        )
    };
    let wb = fgsm_chart(
        format!("White-box FGSM, {network} on MNIST (mean over seeds)"),
        |r| &r.white_box_accuracy,
    )?;
    write_atomic(&fig_dir.join(WHITEBOX), wb.as_bytes())?;
    let tr = fgsm_chart(
        "Transfer FGSM from the ReLU model of the same seed (mean over seeds)".into(),
        |r| &r.transfer_accuracy,
    )?;
    write_atomic(&fig_dir.join(TRANSFER), tr.as_bytes())?;

    // Learned SPLASH shapes: one line per (layer, seed).
    let mut shapes: Vec<Series> = Vec::new();
    for run in runs_of(results, ActivationKind::Splash) {
        if let Some(layers) = &run.splash_coefficients {
            for (l, (ap, am)) in layers.iter().enumerate() {
                let s = Splash::with_coefficients(*ap, *am);
                let points: Vec<(f32, f32)> = (0..=80)
                    .map(|i| {
                        let x = -4.0 + i as f32 * 0.1;
                        (x, s.value(x))
                    })
                    .collect();
                shapes.push((
                    format!("act{} (seed {})", l + 1, run.seed),
                    PALETTE[l % PALETTE.len()],
                    points,
                ));
            }
        }
    }
    let has_shapes = !shapes.is_empty();
    if has_shapes {
        let ymin = shapes
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.1))
            .fold(0.0f32, f32::min);
        let ymax = shapes
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.1))
            .fold(4.0f32, f32::max);
        let svg = line_chart(
            "Learned SPLASH activations (colour = layer)",
            "x (pre-activation, after BatchNorm)",
            "h(x)",
            -4.0..4.0,
            ymin - 0.5..ymax + 0.5,
            &shapes,
        )?;
        write_atomic(&fig_dir.join(SHAPES), svg.as_bytes())?;
    }
    if !results.strong_attacks.is_empty() {
        let svg = line_chart(
            &format!(
                "Worst case of FGSM and {}, {network} (mean over seeds, {} digits)",
                results.strong_attacks.join(", "),
                results.strong_test_digits
            ),
            "epsilon (L-infinity, pixels in [0, 1])",
            "robust accuracy",
            0.0..max_eps + 0.005,
            0.0..1.0,
            &curve_series(results, |r| {
                r.worst_case_accuracy
                    .as_ref()
                    .unwrap_or(&r.white_box_accuracy)
            }),
        )?;
        write_atomic(&fig_dir.join(WORST), svg.as_bytes())?;
    }
    Ok(Figures {
        shapes: has_shapes,
        worst: !results.strong_attacks.is_empty(),
    })
}
