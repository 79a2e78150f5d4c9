//! One evaluation of a model, the one `splash eval` and `splash study` both run: clean
//! accuracy, each attack white-box (and, by [`transfers`], crafted on a second model), the
//! worst case over the attacks, and the gradient-masking checks.

use super::{
    diagnose, fractions, means, robust_dataset, transfers, validate_epsilons, worst_case,
    AttackCurve, Diagnostic, Transfer,
};
use crate::attack::{AttackError, AttackSpec};
use crate::data::Dataset;
use crate::model::Model;
use std::time::Instant;

/// One attack of an evaluation, on the first `digits` test digits (all of them if `None`).
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedAttack {
    /// The attack (its ε is replaced by each of the plan's).
    pub spec: AttackSpec,
    /// Test digits it runs on: the first ones.
    pub digits: Option<usize>,
}

/// What an evaluation runs.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalPlan {
    /// The attacks, in order.
    pub attacks: Vec<PlannedAttack>,
    /// The budgets, the same for every attack.
    pub epsilons: Vec<f32>,
    /// Transfer attacks run on the first N of each attack's digits only (`None`: on all of
    /// them).
    pub transfer_digits: Option<usize>,
}

/// Progress of an evaluation.
#[derive(Clone, Copy, Debug)]
pub enum EvalEvent<'a> {
    /// An attack starts, white-box or as a transfer attack.
    Attack {
        /// Its name.
        name: &'a str,
        /// Whether it is crafted on the transfer source.
        transfer: bool,
    },
    /// Batches done of the current attack.
    Progress(usize, usize),
    /// An attack's curve is complete.
    Curve(&'a AttackCurve),
}

/// What an evaluation measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Accuracy on the clean test digits.
    pub clean_accuracy: f32,
    /// Test digits of the clean accuracy.
    pub test_digits: usize,
    /// One curve per attack, then (with two attacks or more) the worst case over them.
    pub attacks: Vec<AttackCurve>,
    /// The gradient-masking checks on those curves.
    pub diagnostics: Vec<Diagnostic>,
}

/// Evaluates `model` on `test` by `plan`; `source` is the model transfer attacks are
/// crafted on, with its name for the report. Every setting is checked before any attack runs.
pub fn evaluate(
    model: &mut Model,
    mut source: Option<(&mut Model, &str)>,
    test: &Dataset,
    plan: &EvalPlan,
    events: &mut (dyn FnMut(EvalEvent) + Send),
) -> Result<Evaluation, AttackError> {
    for a in &plan.attacks {
        validate_epsilons(&a.spec, &plan.epsilons)?;
        if a.digits == Some(0) {
            return Err(AttackError::Name(format!(
                "{}: an attack needs at least one test digit",
                a.spec.name()
            )));
        }
    }
    if test.is_empty() || plan.transfer_digits == Some(0) {
        return Err(AttackError::Name(
            "an evaluation needs at least one test digit".into(),
        ));
    }
    let clean_accuracy = crate::train::accuracy(model, test);
    let eps = &plan.epsilons;
    let mut curves = Vec::new();
    let mut flags = Vec::new();
    for planned in &plan.attacks {
        let spec = &planned.spec;
        let name = spec.name();
        let data = test.first(planned.digits);
        let started = Instant::now();
        events(EvalEvent::Attack {
            name: &name,
            transfer: false,
        });
        let white = robust_dataset(model, None, &data, spec, eps, &mut |d, t| {
            events(EvalEvent::Progress(d, t))
        })?;
        let transfer = match source.as_mut() {
            Some((src, src_name)) if transfers(spec) => {
                events(EvalEvent::Attack {
                    name: &name,
                    transfer: true,
                });
                let tdata = data.first(plan.transfer_digits);
                let r = robust_dataset(src, Some(&mut *model), &tdata, spec, eps, &mut |d, t| {
                    events(EvalEvent::Progress(d, t))
                })?;
                Some(Transfer {
                    source: src_name.to_string(),
                    accuracy: fractions(&r.robust),
                    test_digits: tdata.len(),
                })
            }
            _ => None,
        };
        let curve = AttackCurve {
            name,
            description: spec.describe(),
            // The loss as run (the method's own when the spec leaves it unset), so that a
            // reader of the report need not know the defaults.
            settings: Some(AttackSpec {
                loss: Some(spec.loss()),
                ..spec.clone()
            }),
            of: None,
            epsilons: eps.clone(),
            white_box_accuracy: fractions(&white.robust),
            mean_queries: Some(means(&white.queries)),
            transfer,
            test_digits: data.len(),
            seconds: started.elapsed().as_secs_f32(),
        };
        events(EvalEvent::Curve(&curve));
        curves.push(curve);
        flags.push(white.robust);
    }
    if plan.attacks.len() > 1 {
        let each: Vec<&[Vec<bool>]> = flags.iter().map(|f| f.as_slice()).collect();
        let worst = worst_case(&each);
        curves.push(AttackCurve {
            name: "worst".into(),
            description:
                "worst case: a digit counts as robust only if it survives every attack above"
                    .into(),
            settings: None,
            of: Some(plan.attacks.iter().map(|a| a.spec.name()).collect()),
            epsilons: eps.clone(),
            white_box_accuracy: fractions(&worst),
            mean_queries: None,
            transfer: None,
            test_digits: worst.first().map_or(0, Vec::len),
            seconds: 0.0,
        });
    }
    Ok(Evaluation {
        clean_accuracy,
        test_digits: test.len(),
        diagnostics: diagnose(&curves),
        attacks: curves,
    })
}
