//! Means and spreads over seeds, as the report prints them.

use splash::activation::ActivationKind;
use splash::study::{RunResult, StudyResults};

/// Mean and sample standard deviation.
pub(super) fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n.max(1.0);
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

pub(super) fn runs_of(r: &StudyResults, act: ActivationKind) -> Vec<&RunResult> {
    r.runs.iter().filter(|x| x.activation == act).collect()
}

pub(super) fn pm(v: &[f64]) -> String {
    let (m, s) = mean_sd(v);
    if v.len() > 1 {
        format!("{:.2} ± {:.2}", 100.0 * m, 100.0 * s)
    } else {
        format!("{:.2}", 100.0 * m)
    }
}

/// "mean ± sd" over the runs for each ε of the accuracies `pick` selects.
pub(super) fn eps_cells(
    runs: &[&RunResult],
    n_eps: usize,
    pick: fn(&RunResult) -> &Vec<f32>,
) -> Vec<String> {
    (0..n_eps)
        .map(|k| pm(&runs.iter().map(|r| pick(r)[k] as f64).collect::<Vec<_>>()))
        .collect()
}
