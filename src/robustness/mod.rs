//! Robust accuracy: how many digits a model still classifies correctly under an attack,
//! for a list of ε, white-box or transferred from another model; the worst case over
//! several attacks; and gradient-masking diagnostics (after Athalye, Carlini & Wagner 2018).
//!
//! A digit counts as *robust* at ε when the model classifies it correctly both clean and
//! under the attack at ε. White-box, the attack runs on the model itself with
//! [`AttackSpec::early_stop`] as given (every iterate is checked); transferred, it runs on
//! the source model for its whole budget (no early stop: the strongest image of the
//! source) and the victim classifies the result.

mod evaluate;
pub use evaluate::{evaluate, EvalEvent, EvalPlan, Evaluation, PlannedAttack};

use crate::attack::{
    attack, fgsm_from_gradient, top_class, AttackError, AttackSpec, Goal, Loss, Method,
};
use crate::data::Dataset;
use crate::model::{validate_images, validate_labels, Model};
use crate::nn::Mode;
use crate::parallel::on_pool;
use ndarray::{Array2, Array4, Axis};
use serde::{Deserialize, Serialize};

/// Digits per evaluation batch.
pub const EVAL_BATCH: usize = 250;

/// Most ε values in one sweep.
pub const MAX_EPSILONS: usize = 64;

fn correct(logits: &Array2<f32>, labels: &[usize]) -> Vec<bool> {
    logits
        .axis_iter(Axis(0))
        .zip(labels)
        .map(|(z, &y)| top_class(z.iter().copied()) == y)
        .collect()
}

/// Checks a list of ε against the spec's bounds.
pub fn validate_epsilons(spec: &AttackSpec, epsilons: &[f32]) -> Result<(), AttackError> {
    if epsilons.is_empty() || epsilons.len() > MAX_EPSILONS {
        return Err(AttackError::Name(format!(
            "give between 1 and {MAX_EPSILONS} values of epsilon, got {}",
            epsilons.len()
        )));
    }
    epsilons.iter().try_for_each(|&e| spec.at(e).validate())
}

/// Whether an evaluation also runs `spec` as a transfer attack from another model: gradient
/// attacks of a single run (one restart, no APGD-T targets), whose crafted image is that
/// run's strongest point. Attacks of many runs, and the gradient-free Square, are left
/// out: crafted without early stop they cost their whole budget on every digit. The one
/// rule for `splash eval` and `splash study`.
pub fn transfers(spec: &AttackSpec) -> bool {
    spec.method.uses_gradient() && spec.restarts == 1 && spec.targets == 0
}

/// Per ε, per image of one batch: robust or not, and the queries the attack spent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchResult {
    /// `robust[e][i]`: image i is classified correctly clean and under the attack at ε_e.
    pub robust: Vec<Vec<bool>>,
    /// `queries[e][i]`: forward passes the attack spent on image i at ε_e.
    pub queries: Vec<Vec<usize>>,
}

/// Robustness of one batch `x` with true `labels` under `spec` at every ε in `epsilons`
/// (the spec's own ε is ignored). `victim` is `None` for a white-box attack on `source`,
/// or the model that classifies the images crafted on `source`.
pub fn robust_batch(
    source: &mut Model,
    mut victim: Option<&mut Model>,
    x: &Array4<f32>,
    labels: &[usize],
    spec: &AttackSpec,
    epsilons: &[f32],
) -> Result<BatchResult, AttackError> {
    validate_epsilons(spec, epsilons)?;
    validate_images(x)?;
    validate_labels(x.shape()[0], labels)?;
    let n = labels.len();
    let clean = {
        let v = victim.as_deref_mut().unwrap_or(&mut *source);
        correct(&v.forward(x, Mode::Eval)?, labels)
    };
    let mut out = BatchResult::default();
    if spec.method == Method::Fgsm && spec.loss() == Loss::Ce {
        // One gradient serves every ε (FGSM is a single step from the image itself).
        let (_, grad) = source.input_gradient(x, labels)?;
        for &eps in epsilons {
            let adv = fgsm_from_gradient(x, &grad, eps);
            let v = victim.as_deref_mut().unwrap_or(&mut *source);
            let ok = correct(&v.forward(&adv, Mode::Eval)?, labels);
            out.robust
                .push(ok.iter().zip(&clean).map(|(&a, &c)| a && c).collect());
            out.queries.push(vec![2; n]);
        }
        return Ok(out);
    }
    for &eps in epsilons {
        let goal = Goal::Untargeted(labels);
        match victim.as_deref_mut() {
            None => {
                let o = attack(source, x, goal, &spec.at(eps))?;
                out.robust.push(
                    o.fooled
                        .iter()
                        .zip(&clean)
                        .map(|(&f, &c)| !f && c)
                        .collect(),
                );
                out.queries.push(o.queries);
            }
            Some(v) => {
                let crafted = AttackSpec {
                    early_stop: false,
                    ..spec.at(eps)
                };
                let o = attack(source, x, goal, &crafted)?;
                let ok = correct(&v.forward(&o.adversarial, Mode::Eval)?, labels);
                out.robust
                    .push(ok.iter().zip(&clean).map(|(&a, &c)| a && c).collect());
                out.queries.push(o.queries);
            }
        }
    }
    Ok(out)
}

/// Robustness of every digit of `data` (in batches of [`EVAL_BATCH`], on the thread pool),
/// with `progress(batches done, batches)`.
pub fn robust_dataset(
    source: &mut Model,
    mut victim: Option<&mut Model>,
    data: &Dataset,
    spec: &AttackSpec,
    epsilons: &[f32],
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<BatchResult, AttackError> {
    validate_epsilons(spec, epsilons)?;
    on_pool(|| {
        let idx: Vec<usize> = (0..data.len()).collect();
        let total = idx.len().div_ceil(EVAL_BATCH);
        let mut all = BatchResult {
            robust: vec![Vec::with_capacity(data.len()); epsilons.len()],
            queries: vec![Vec::with_capacity(data.len()); epsilons.len()],
        };
        for (b, chunk) in idx.chunks(EVAL_BATCH).enumerate() {
            let (x, y) = data.batch(chunk, None);
            let r = robust_batch(source, victim.as_deref_mut(), &x, &y, spec, epsilons)?;
            for e in 0..epsilons.len() {
                all.robust[e].extend_from_slice(&r.robust[e]);
                all.queries[e].extend_from_slice(&r.queries[e]);
            }
            progress(b + 1, total);
        }
        Ok(all)
    })
}

/// Fraction of `true` in each row.
pub fn fractions(flags: &[Vec<bool>]) -> Vec<f32> {
    flags
        .iter()
        .map(|row| row.iter().filter(|&&r| r).count() as f32 / row.len().max(1) as f32)
        .collect()
}

/// Mean of each row.
pub fn means(values: &[Vec<usize>]) -> Vec<f32> {
    values
        .iter()
        .map(|row| row.iter().sum::<usize>() as f32 / row.len().max(1) as f32)
        .collect()
}

/// Per ε, per image: robust only if robust under every attack in `each` (AutoAttack's
/// worst case), over the digits all of them evaluated (the shortest list).
pub fn worst_case(each: &[&[Vec<bool>]]) -> Vec<Vec<bool>> {
    let Some(first) = each.first() else {
        return Vec::new();
    };
    (0..first.len())
        .map(|e| {
            let n = each.iter().map(|f| f[e].len()).min().unwrap_or(0);
            (0..n).map(|i| each.iter().all(|f| f[e][i])).collect()
        })
        .collect()
}

/// One attack's measured curve, as written into an eval report's `"attacks"` array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackCurve {
    /// The attack's short name (`fgsm`, `pgd-40`, `square-1000`, … or `worst`).
    pub name: String,
    /// A readable description.
    pub description: String,
    /// The attack's settings (ε is the list below); absent for `worst`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<AttackSpec>,
    /// For `worst`: the attacks it takes the worst case over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<Vec<String>>,
    /// The budgets.
    pub epsilons: Vec<f32>,
    /// Robust accuracy, white-box, one per ε.
    pub white_box_accuracy: Vec<f32>,
    /// Mean queries per digit of the white-box attack, one per ε.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_queries: Option<Vec<f32>>,
    /// Robust accuracy on images crafted on another model, if measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<Transfer>,
    /// Test digits evaluated (the first ones of the test set).
    pub test_digits: usize,
    /// Wall time of this attack's evaluation.
    pub seconds: f32,
}

/// Robust accuracy under an attack crafted on another model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    /// The model the images were crafted on.
    pub source: String,
    /// Robust accuracy, one per ε.
    pub accuracy: Vec<f32>,
    /// Test digits crafted and classified (the first ones).
    pub test_digits: usize,
}

/// One gradient-masking check and whether it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// What is checked.
    pub check: String,
    /// Whether it holds on the measured numbers (`None`: the attacks it needs were not run).
    pub holds: Option<bool>,
    /// The numbers behind it.
    pub detail: String,
}

/// Slack for comparing two accuracies measured on the same digits: one and a half
/// percentage points (about two standard errors of a 1,000-digit estimate near 10 %).
pub const DIAGNOSTIC_SLACK: f32 = 0.015;

fn pct(v: f32) -> String {
    format!("{:.1} %", 100.0 * v)
}

/// The four checks of Athalye et al. for signs of gradient masking, on a model's curves:
/// an iterative attack is at least as strong as a one-step one; white-box at least as
/// strong as transfer; a gradient-free attack not stronger than a gradient-based one;
/// accuracy falls to about zero at the largest ε. Where APGD ran, a fifth: the
/// gradient-free attack does not beat APGD. Each compares curves at the ε values
/// they share.
pub fn diagnose(curves: &[AttackCurve]) -> Vec<Diagnostic> {
    let find = |pred: &dyn Fn(&AttackSpec) -> bool| {
        curves
            .iter()
            .filter(|c| c.settings.as_ref().is_some_and(pred))
            .min_by(|a, b| {
                let sa: f32 = a.white_box_accuracy.iter().sum();
                let sb: f32 = b.white_box_accuracy.iter().sum();
                sa.total_cmp(&sb)
            })
    };
    let one_step = find(&|s| s.method == Method::Fgsm);
    let iterative_method = |m: Method| matches!(m, Method::Bim | Method::Pgd | Method::Apgd);
    let iterative = find(&|s| iterative_method(s.method));
    let transfer_iter = curves.iter().find(|c| {
        c.transfer.is_some()
            && c.settings
                .as_ref()
                .is_some_and(|s| iterative_method(s.method))
    });
    let gradient_free = find(&|s| s.method == Method::Square);
    let apgd = find(&|s| s.method == Method::Apgd);
    // Pairs (ε, a, b) at the ε values both curves have.
    let shared = |a: &AttackCurve, av: &[f32], b: &AttackCurve, bv: &[f32]| {
        a.epsilons
            .iter()
            .zip(av)
            .filter_map(|(e, &x)| {
                b.epsilons
                    .iter()
                    .position(|f| f == e)
                    .map(|j| (*e, x, bv[j]))
            })
            .collect::<Vec<_>>()
    };
    let compare = |check: &str, pairs: Vec<(f32, f32, f32)>, an: &str, bn: &str| {
        // Holds when a ≤ b + slack at every shared ε.
        let fails: Vec<String> = pairs
            .iter()
            .filter(|(_, a, b)| *a > *b + DIAGNOSTIC_SLACK)
            .map(|(e, a, b)| format!("ε = {e}: {an} {} > {bn} {}", pct(*a), pct(*b)))
            .collect();
        let detail = if pairs.is_empty() {
            "no shared ε".to_string()
        } else if fails.is_empty() {
            pairs
                .iter()
                .map(|(e, a, b)| format!("ε = {e}: {an} {} vs {bn} {}", pct(*a), pct(*b)))
                .collect::<Vec<_>>()
                .join("; ")
        } else {
            fails.join("; ")
        };
        Diagnostic {
            check: check.to_string(),
            holds: (!pairs.is_empty()).then_some(fails.is_empty()),
            detail,
        }
    };
    let missing = |check: &str, what: &str| Diagnostic {
        check: check.to_string(),
        holds: None,
        detail: format!("not measured: needs {what}"),
    };
    let mut out = Vec::new();
    let c1 = "an iterative attack is at least as strong as a one-step attack";
    out.push(match (iterative, one_step) {
        (Some(i), Some(o)) => compare(
            c1,
            shared(i, &i.white_box_accuracy, o, &o.white_box_accuracy),
            &i.name,
            &o.name,
        ),
        _ => missing(c1, "FGSM and BIM or PGD"),
    });
    let c2 = "white-box is at least as strong as transfer";
    out.push(match transfer_iter {
        Some(c) => {
            let t = c
                .transfer
                .as_ref()
                .map(|t| t.accuracy.clone())
                .unwrap_or_default();
            let src = c
                .transfer
                .as_ref()
                .map(|t| t.source.clone())
                .unwrap_or_default();
            compare(
                c2,
                shared(c, &c.white_box_accuracy, c, &t),
                &format!("white-box {}", c.name),
                &format!("crafted on {src}"),
            )
        }
        None => missing(c2, "an iterative attack with a transfer source"),
    });
    let c3 = "a gradient-free attack is not stronger than the gradient-based ones";
    out.push(match (gradient_free, iterative) {
        (Some(g), Some(i)) => compare(
            c3,
            shared(i, &i.white_box_accuracy, g, &g.white_box_accuracy),
            &i.name,
            &g.name,
        ),
        _ => missing(c3, "Square and BIM, PGD or APGD"),
    });
    // Only where APGD ran, so that reports without it keep their four checks.
    if let (Some(g), Some(a)) = (gradient_free, apgd) {
        out.push(compare(
            "the gradient-free attack does not beat APGD",
            shared(a, &a.white_box_accuracy, g, &g.white_box_accuracy),
            &a.name,
            &g.name,
        ));
    }
    let c4 = "accuracy falls to about zero (≤ 5 %) as ε grows";
    out.push(match iterative {
        Some(i) => match (i.epsilons.last(), i.white_box_accuracy.last()) {
            (Some(&e), Some(&a)) => Diagnostic {
                check: c4.to_string(),
                holds: Some(a <= 0.05),
                detail: format!("{} at ε = {e}: {}", i.name, pct(a)),
            },
            _ => missing(c4, "an ε grid"),
        },
        None => missing(c4, "BIM, PGD or APGD"),
    });
    out
}

/// A model's evaluation report (`www/models/*.eval.json`, written by `splash eval`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The model's short name, e.g. `lenet5-splash`.
    pub model: String,
    /// Test digits of the clean accuracy (the first ones of the MNIST test set).
    pub test_digits: usize,
    /// Accuracy on clean test digits.
    pub clean_accuracy: f32,
    /// One curve per attack, then the worst case over them.
    pub attacks: Vec<AttackCurve>,
    /// Gradient-masking checks on those curves.
    pub diagnostics: Vec<Diagnostic>,
    /// The configuration stored with the weights.
    pub config: crate::weights::ModelConfig,
    /// Wall time of the whole evaluation.
    pub seconds: f32,
}

/// The smallest ε that flips one image, found by bisection.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", tsify(missing_as_null))]
pub struct BreakingPoint {
    /// The largest ε tried at which the attack did not fool the model.
    pub holds_at: f32,
    /// The smallest ε tried at which it did (`None`: not even at the upper bound).
    pub breaks_at: Option<f32>,
}

/// Bisection for the smallest ε at which `spec` (untargeted, against `label`) fools
/// `model` on the single image `x` (1, 1, 28, 28): ε in [0, `max_epsilon`], to within
/// `tolerance`. Each probe is one run of the attack with the spec's seed; since attacks with
/// random starts are not monotone in ε, the result is bracketed by two probes that were
/// actually run: fooled at `breaks_at`, not fooled at `holds_at`. An image the model
/// already gets wrong breaks at 0.
pub fn breaking_point(
    model: &mut Model,
    x: &Array4<f32>,
    label: usize,
    spec: &AttackSpec,
    max_epsilon: f32,
    tolerance: f32,
) -> Result<BreakingPoint, AttackError> {
    spec.at(max_epsilon).validate()?;
    if x.shape()[0] != 1 {
        return Err(AttackError::Input(crate::model::ModelError::BadShape(
            x.shape().to_vec(),
        )));
    }
    if !(tolerance.is_finite() && tolerance >= 1e-4) {
        return Err(AttackError::Name(format!(
            "the tolerance must be at least 0.0001, got {tolerance}"
        )));
    }
    let labels = [label];
    let fooled_at = |eps: f32, model: &mut Model| -> Result<bool, AttackError> {
        Ok(attack(model, x, Goal::Untargeted(&labels), &spec.at(eps))?.fooled[0])
    };
    if fooled_at(0.0, model)? {
        return Ok(BreakingPoint {
            holds_at: 0.0,
            breaks_at: Some(0.0),
        });
    }
    if !fooled_at(max_epsilon, model)? {
        return Ok(BreakingPoint {
            holds_at: max_epsilon,
            breaks_at: None,
        });
    }
    let (mut lo, mut hi) = (0.0f32, max_epsilon);
    while hi - lo > tolerance {
        let mid = 0.5 * (lo + hi);
        if fooled_at(mid, model)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(BreakingPoint {
        holds_at: lo,
        breaks_at: Some(hi),
    })
}
