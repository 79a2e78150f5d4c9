//! L∞ gradient-sign attacks in pixel space: FGSM, BIM and PGD, untargeted or targeted.
//!
//! One step moves every pixel by α in the direction that raises the loss of the true label
//! (untargeted, `+α·sign(∇ₓ CE(f(x), y))`) or lowers the loss of a target class (targeted,
//! `−α·sign(∇ₓ CE(f(x), t))`), then projects onto the ε-ball around the original image and
//! onto [0, 1]. FGSM is one step with α = ε; BIM repeats steps; PGD starts from a uniformly
//! random point of the ε-ball. The gradient comes from the model's own backward pass, in
//! evaluation mode.

use crate::model::{validate_images, validate_labels, Model, ModelError};
use ndarray::{Array4, Zip};
use rand::Rng;

/// Largest ε accepted (the whole pixel range).
pub const MAX_EPSILON: f32 = 1.0;

/// What the attack aims for.
#[derive(Clone, Copy, Debug)]
pub enum Goal<'a> {
    /// Raise the loss of these true labels (one per image).
    Untargeted(&'a [usize]),
    /// Lower the loss of these target classes (one per image).
    Targeted(&'a [usize]),
}

impl Goal<'_> {
    fn classes(&self) -> &[usize] {
        match self {
            Goal::Untargeted(c) | Goal::Targeted(c) => c,
        }
    }
}

/// Errors from attack parameters or inputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AttackError {
    /// ε is NaN or outside [0, MAX_EPSILON].
    #[error("epsilon must be a number in [0, {MAX_EPSILON}], got {0}")]
    Epsilon(f32),
    /// The step size is NaN or not positive (0 is allowed only with ε = 0).
    #[error("step size must be a positive number, got {0}")]
    StepSize(f32),
    /// Zero steps, or more than 1000.
    #[error("steps must be between 1 and 1000, got {0}")]
    Steps(usize),
    /// The images or labels are invalid.
    #[error(transparent)]
    Input(#[from] ModelError),
}

fn check(x: &Array4<f32>, goal: &Goal, eps: f32) -> Result<(), AttackError> {
    if !(0.0..=MAX_EPSILON).contains(&eps) {
        return Err(AttackError::Epsilon(eps));
    }
    validate_images(x)?;
    validate_labels(x.shape()[0], goal.classes())?;
    Ok(())
}

/// Fast gradient sign method: x′ = clip(x ± ε·sign(∇ₓ CE), 0, 1) (+ untargeted, − targeted).
pub fn fgsm(
    model: &mut Model,
    x: &Array4<f32>,
    goal: Goal,
    eps: f32,
) -> Result<Array4<f32>, AttackError> {
    bim(model, x, goal, eps, eps, 1)
}

/// Basic iterative method: `steps` FGSM steps of size `step`, each projected onto the ε-ball
/// around `x` and onto [0, 1].
pub fn bim(
    model: &mut Model,
    x: &Array4<f32>,
    goal: Goal,
    eps: f32,
    step: f32,
    steps: usize,
) -> Result<Array4<f32>, AttackError> {
    iterative(
        model,
        x,
        goal,
        eps,
        step,
        steps,
        None::<&mut rand::rngs::mock::StepRng>,
    )
}

/// Projected gradient descent: BIM from a start drawn uniformly from the ε-ball (clipped to
/// [0, 1]).
pub fn pgd(
    model: &mut Model,
    x: &Array4<f32>,
    goal: Goal,
    eps: f32,
    step: f32,
    steps: usize,
    rng: &mut impl Rng,
) -> Result<Array4<f32>, AttackError> {
    iterative(model, x, goal, eps, step, steps, Some(rng))
}

/// The common loop behind [`fgsm`], [`bim`] and [`pgd`].
pub fn iterative<R: Rng>(
    model: &mut Model,
    x: &Array4<f32>,
    goal: Goal,
    eps: f32,
    step: f32,
    steps: usize,
    random_start: Option<&mut R>,
) -> Result<Array4<f32>, AttackError> {
    check(x, &goal, eps)?;
    if !(step.is_finite() && (step > 0.0 || (step == 0.0 && eps == 0.0))) {
        return Err(AttackError::StepSize(step));
    }
    if steps == 0 || steps > 1000 {
        return Err(AttackError::Steps(steps));
    }
    let mut adv = x.clone();
    if let Some(rng) = random_start {
        adv.zip_mut_with(x, |a, &v| {
            *a = (v + rng.gen_range(-1.0f32..=1.0) * eps).clamp(0.0, 1.0)
        });
    }
    let (classes, sign) = match goal {
        Goal::Untargeted(c) => (c, 1.0f32),
        Goal::Targeted(c) => (c, -1.0f32),
    };
    for _ in 0..steps {
        let (_, grad) = model.input_gradient(&adv, classes);
        Zip::from(&mut adv)
            .and(x)
            .and(&grad)
            .for_each(|a, &orig, &g| {
                let moved = *a + sign * step * signum0(g);
                *a = moved.clamp(orig - eps, orig + eps).clamp(0.0, 1.0);
            });
    }
    Ok(adv)
}

/// One untargeted FGSM image from a gradient already computed at `x`:
/// clip(x + ε·sign(grad), 0, 1). Lets an evaluation reuse one gradient for many ε.
pub fn fgsm_from_gradient(x: &Array4<f32>, grad: &Array4<f32>, eps: f32) -> Array4<f32> {
    let mut adv = x.clone();
    Zip::from(&mut adv)
        .and(grad)
        .for_each(|a, &g| *a = (*a + eps * signum0(g)).clamp(0.0, 1.0));
    adv
}

/// sign with sign(0) = 0 (a pixel with no gradient does not move).
fn signum0(g: f32) -> f32 {
    if g > 0.0 {
        1.0
    } else if g < 0.0 {
        -1.0
    } else {
        0.0
    }
}
