//! Auto-PGD (Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble
//! of diverse parameter-free attacks", ICML 2020), the gradient attack of AutoAttack, in L∞.
//!
//! From a random point of the ε-ball, each iteration takes a sign-gradient step of size η
//! and mixes it with the previous move (momentum): z = P(x⁽ᵏ⁾ + η·sign(∇f(x⁽ᵏ⁾))),
//! x⁽ᵏ⁺¹⁾ = P(x⁽ᵏ⁾ + α(z − x⁽ᵏ⁾) + (1 − α)(x⁽ᵏ⁾ − x⁽ᵏ⁻¹⁾)) with α = 0.75 (α = 1 for the first
//! step), P the projection onto the ε-box and [0, 1]. η starts at 2ε. At the checkpoints of
//! [`apgd_checkpoints`] each image halves its η and goes back to its best point so far when
//! (1) fewer than ρ = 75 % of the steps since the last checkpoint raised its objective, or
//! (2) its step did not halve at the last checkpoint and its best objective has not risen
//! since. Steps are counted from the starting point's objective (as the paper states it).
//!
//! APGD-T runs the attack once towards each of the top-k classes the model ranks highest
//! after the true label on the clean image, with the targeted DLR loss; an image survives
//! only if no run fools it.

use super::{objective, project, restart_rng, AttackOutcome, AttackSpec, Best, Goal};
use crate::model::{Model, CLASSES};
use crate::nn::Mode;
use ndarray::{Array4, Axis, Zip};
use rand::Rng;

/// The new step's weight α against the previous move (Croce & Hein's value).
pub const APGD_MOMENTUM: f32 = 0.75;
/// The share ρ of steps between two checkpoints that must raise the objective, or η halves.
pub const APGD_RHO: f32 = 0.75;

/// The iterations (counted from 1) after which APGD checks its progress in a run of `n`:
/// the first after ⌊0.22·n⌋, each next interval ⌊0.03·n⌋ shorter than the one before but
/// at least ⌊0.06·n⌋ (every length at least 1). For n = 100: 22, 41, 57, 70, 80, 87, 93, 99,
/// the paper's w_j = ⌈p_j·n⌉ with p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} −
/// 0.03, 0.06), rounded as the authors' code rounds it.
pub fn apgd_checkpoints(n: usize) -> Vec<usize> {
    let part = |f: f64| ((f * n as f64) as usize).max(1);
    let (first, shrink, shortest) = (part(0.22), part(0.03), part(0.06));
    let mut out = Vec::new();
    let (mut at, mut interval) = (first, first);
    while at <= n {
        out.push(at);
        interval = interval.saturating_sub(shrink).max(shortest);
        at += interval;
    }
    out
}

/// Per image of one run: where it is, where it was, its best point, its step size and the
/// counts the checkpoints read. Rows follow the run's images.
struct Run {
    orig: Array4<f32>,
    current: Array4<f32>,
    previous: Array4<f32>,
    best_point: Array4<f32>,
    grad: Array4<f32>,
    best_grad: Array4<f32>,
    step: Vec<f32>,
    best_value: Vec<f32>,
    last_value: Vec<f32>,
    rises: Vec<usize>,
    best_at_check: Vec<f32>,
    halved_at_check: Vec<bool>,
    active: Vec<bool>,
}

/// APGD or APGD-T on `x` (validated by the caller).
pub(super) fn apgd(
    model: &mut Model,
    x: &Array4<f32>,
    goal: Goal,
    spec: &AttackSpec,
) -> AttackOutcome {
    let n = x.shape()[0];
    let mut best = Best::new(x);
    let classes = goal.classes();
    let targeted = goal.targeted();
    if spec.epsilon == 0.0 {
        // No step can move a pixel: one query says whether each image is fooled.
        let logits = model.forward(x, Mode::Eval).expect(super::CHECKED);
        let obj = objective(&logits, classes, targeted, spec.loss(), None);
        for i in 0..n {
            best.queries[i] += 1;
            best.offer(i, x.index_axis(Axis(0), i), obj.fooled[i], obj.value[i]);
        }
        return best.outcome();
    }
    // APGD-T: the other classes of each clean image, most likely first (one query).
    let rivals: Option<Vec<Vec<usize>>> = (spec.targets > 0).then(|| {
        let logits = model.forward(x, Mode::Eval).expect(super::CHECKED);
        logits
            .axis_iter(Axis(0))
            .zip(classes)
            .zip(&mut best.queries)
            .map(|((z, &y), q)| {
                *q += 1;
                let mut order: Vec<usize> = (0..CLASSES).filter(|&j| j != y).collect();
                order.sort_by(|&a, &b| z[b].total_cmp(&z[a]));
                order
            })
            .collect()
    });
    let runs = spec.targets.max(1);
    for target in 0..runs {
        for restart in 0..spec.restarts {
            let idx: Vec<usize> = (0..n)
                .filter(|&i| !(spec.early_stop && best.fooled[i]))
                .collect();
            if idx.is_empty() {
                return best.outcome();
            }
            let towards: Option<Vec<usize>> = rivals
                .as_ref()
                .map(|r| idx.iter().map(|&i| r[i][target]).collect());
            let stream = target * spec.restarts + restart;
            run(
                model,
                x,
                &idx,
                goal,
                towards.as_deref(),
                spec,
                stream,
                &mut best,
            );
        }
    }
    best.outcome()
}

/// One run of APGD on the images `idx` of `x`, towards `towards` (APGD-T) if given.
#[allow(clippy::too_many_arguments)]
fn run(
    model: &mut Model,
    x: &Array4<f32>,
    idx: &[usize],
    goal: Goal,
    towards: Option<&[usize]>,
    spec: &AttackSpec,
    stream: usize,
    best: &mut Best,
) {
    let eps = spec.epsilon;
    let m = idx.len();
    let classes: Vec<usize> = idx.iter().map(|&i| goal.classes()[i]).collect();
    let orig = x.select(Axis(0), idx);
    let mut current = orig.clone();
    // A random start: uniform noise rescaled so that its largest pixel is ±ε.
    for (k, &i) in idx.iter().enumerate() {
        let mut rng = restart_rng(spec.seed, stream, i);
        let mut row = current.index_axis_mut(Axis(0), k);
        row.iter_mut()
            .for_each(|c| *c = rng.gen_range(-1.0f32..=1.0));
        let scale = eps / (row.iter().fold(0.0f32, |m, v| m.max(v.abs())) + 1e-12);
        Zip::from(row)
            .and(orig.index_axis(Axis(0), k))
            .for_each(|c, &o| *c = project(o + scale * *c, o, eps));
    }
    let mut state = Run {
        previous: current.clone(),
        best_point: current.clone(),
        grad: Array4::zeros(current.raw_dim()),
        best_grad: Array4::zeros(current.raw_dim()),
        step: vec![super::APGD_FIRST_STEP * eps; m],
        best_value: vec![f32::NEG_INFINITY; m],
        last_value: vec![f32::NEG_INFINITY; m],
        rises: vec![0; m],
        best_at_check: vec![f32::NEG_INFINITY; m],
        halved_at_check: vec![true; m],
        active: vec![true; m],
        orig,
        current,
    };
    let checkpoints = apgd_checkpoints(spec.steps);
    let mut checks = checkpoints.iter().peekable();
    let mut last_check = 0;
    for it in 0..=spec.steps {
        let act: Vec<usize> = (0..m).filter(|&p| state.active[p]).collect();
        if act.is_empty() {
            break;
        }
        if it > 0 {
            let alpha = if it == 1 { 1.0 } else { APGD_MOMENTUM };
            for &p in &act {
                let step = state.step[p];
                Zip::from(state.current.index_axis_mut(Axis(0), p))
                    .and(state.previous.index_axis_mut(Axis(0), p))
                    .and(state.orig.index_axis(Axis(0), p))
                    .and(state.grad.index_axis(Axis(0), p))
                    .for_each(|c, prev, &o, &g| {
                        let sign = (g > 0.0) as i32 as f32 - (g < 0.0) as i32 as f32;
                        let z = project(*c + step * sign, o, eps);
                        let next =
                            project(*c + alpha * (z - *c) + (1.0 - alpha) * (*c - *prev), o, eps);
                        *prev = *c;
                        *c = next;
                    });
            }
        }
        // The objective, the fooled test and the gradient at the new points (one query).
        let batch = state.current.select(Axis(0), &act);
        let logits = model.forward(&batch, Mode::Eval).expect(super::CHECKED);
        let cls: Vec<usize> = act.iter().map(|&p| classes[p]).collect();
        let tw: Option<Vec<usize>> = towards.map(|t| act.iter().map(|&p| t[p]).collect());
        let obj = objective(&logits, &cls, goal.targeted(), spec.loss(), tw.as_deref());
        let grad = model.backward_input(&obj.grad).expect(super::CHECKED);
        for (k, &p) in act.iter().enumerate() {
            let i = idx[p];
            let v = obj.value[k];
            best.queries[i] += 1;
            copy_row(&mut state.grad, p, &grad, k);
            if obj.fooled[k] {
                best.offer(i, state.current.index_axis(Axis(0), p), true, v);
                if spec.early_stop {
                    state.active[p] = false;
                }
            }
            if it > 0 && v > state.last_value[p] {
                state.rises[p] += 1;
            }
            state.last_value[p] = v;
            if v > state.best_value[p] {
                state.best_value[p] = v;
                copy_row(&mut state.best_point, p, &state.current, p);
                copy_row(&mut state.best_grad, p, &grad, k);
            }
        }
        if it == 0 {
            state.best_at_check.clone_from(&state.best_value);
        }
        if checks.peek() == Some(&&it) {
            checks.next();
            let interval = it - last_check;
            last_check = it;
            for p in 0..m {
                let oscillates = state.rises[p] as f32 <= APGD_RHO * interval as f32;
                let stalled =
                    !state.halved_at_check[p] && state.best_at_check[p] >= state.best_value[p];
                let halve = oscillates || stalled;
                state.halved_at_check[p] = halve;
                state.best_at_check[p] = state.best_value[p];
                state.rises[p] = 0;
                if halve {
                    state.step[p] *= 0.5;
                    copy_row(&mut state.current, p, &state.best_point, p);
                    copy_row(&mut state.grad, p, &state.best_grad, p);
                }
            }
        }
    }
    // What was not fooled keeps its highest-objective point (for transfer and display).
    for (p, &i) in idx.iter().enumerate() {
        best.offer(
            i,
            state.best_point.index_axis(Axis(0), p),
            false,
            state.best_value[p],
        );
    }
}

/// Image `to` of `dst` becomes image `from` of `src`.
fn copy_row(dst: &mut Array4<f32>, to: usize, src: &Array4<f32>, from: usize) {
    dst.index_axis_mut(Axis(0), to)
        .assign(&src.index_axis(Axis(0), from));
}
