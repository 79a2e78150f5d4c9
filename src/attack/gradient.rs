//! The gradient attacks: FGSM, BIM and PGD.

use super::{
    attack, objective, project, restart_rng, AttackError, AttackOutcome, AttackSpec, Best, Goal,
    Method,
};
use crate::model::Model;
use crate::nn::Mode;
use ndarray::{Array4, Axis, Zip};
use rand::Rng;

/// Fast gradient sign method: x′ = clip(x ± ε·sign(∇ₓ CE), 0, 1) (+ untargeted, − targeted).
pub fn fgsm(
    model: &mut Model,
    x: &Array4<f32>,
    goal: Goal,
    eps: f32,
) -> Result<Array4<f32>, AttackError> {
    let spec = AttackSpec {
        early_stop: false,
        ..AttackSpec::fgsm(eps)
    };
    Ok(attack(model, x, goal, &spec)?.adversarial)
}

/// FGSM, BIM and PGD: `restarts` runs of `gradient_steps` sign steps; the objective and
/// the fooled test are evaluated at every iterate (one query each).
pub(super) fn gradient_attack(
    model: &mut Model,
    x: &Array4<f32>,
    goal: Goal,
    spec: &AttackSpec,
) -> AttackOutcome {
    let n = x.shape()[0];
    let (eps, alpha) = (spec.epsilon, spec.step_size());
    // At ε = 0 no step can move a pixel: one query says whether the image is fooled.
    let steps = if eps == 0.0 { 0 } else { spec.gradient_steps() };
    let targeted = goal.targeted();
    let mut best = Best::new(x);
    let restarts = if eps == 0.0 { 1 } else { spec.restarts };
    for restart in 0..restarts {
        // Images still to attack, as indices into x.
        let mut idx: Vec<usize> = (0..n)
            .filter(|&i| !(spec.early_stop && best.fooled[i]))
            .collect();
        if idx.is_empty() {
            break;
        }
        let mut orig = x.select(Axis(0), &idx);
        let mut adv = orig.clone();
        if spec.method == Method::Pgd {
            for (k, &i) in idx.iter().enumerate() {
                let mut rng = restart_rng(spec.seed, restart, i);
                let o = orig.index_axis(Axis(0), k);
                Zip::from(adv.index_axis_mut(Axis(0), k))
                    .and(o)
                    .for_each(|a, &v| *a = project(v + rng.gen_range(-eps..=eps), v, eps));
            }
        }
        let mut classes: Vec<usize> = idx.iter().map(|&i| goal.classes()[i]).collect();
        for step in 0..=steps {
            let logits = model.forward(&adv, Mode::Eval).expect(super::CHECKED);
            let mut obj = objective(&logits, &classes, targeted, spec.loss(), None);
            let mut keep = Vec::with_capacity(idx.len());
            for (k, &i) in idx.iter().enumerate() {
                best.queries[i] += 1;
                let done = spec.early_stop && obj.fooled[k];
                if done || step == steps {
                    best.offer(i, adv.index_axis(Axis(0), k), obj.fooled[k], obj.value[k]);
                }
                if done {
                    obj.grad.row_mut(k).fill(0.0);
                } else {
                    keep.push(k);
                }
            }
            if step == steps || keep.is_empty() {
                break;
            }
            let grad = model.backward_input(&obj.grad).expect(super::CHECKED);
            let sign = |g: f32| (g > 0.0) as i32 as f32 - (g < 0.0) as i32 as f32;
            Zip::from(&mut adv)
                .and(&orig)
                .and(&grad)
                .for_each(|a, &o, &g| *a = project(*a + alpha * sign(g), o, eps));
            if keep.len() < idx.len() {
                adv = adv.select(Axis(0), &keep);
                orig = orig.select(Axis(0), &keep);
                idx = keep.iter().map(|&k| idx[k]).collect();
                classes = keep.iter().map(|&k| classes[k]).collect();
            }
        }
    }
    best.outcome()
}

/// One untargeted FGSM image from a gradient already computed at `x`:
/// clip(x + ε·sign(grad), 0, 1). Lets an evaluation reuse one gradient for many ε.
pub fn fgsm_from_gradient(x: &Array4<f32>, grad: &Array4<f32>, eps: f32) -> Array4<f32> {
    let mut adv = x.clone();
    Zip::from(&mut adv).and(grad).for_each(|a, &g| {
        let sign = (g > 0.0) as i32 as f32 - (g < 0.0) as i32 as f32;
        *a = (*a + eps * sign).clamp(0.0, 1.0)
    });
    adv
}
