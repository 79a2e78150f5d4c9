//! L∞ attacks in pixel space, described once by an [`AttackSpec`]: FGSM, BIM, PGD (with
//! random restarts and a choice of loss), APGD (AutoAttack's gradient attack, untargeted or
//! towards the top-k classes) and the gradient-free Square Attack.
//!
//! One file per job: [`spec`] says what an attack is (settings, bounds, names),
//! `gradient.rs` runs FGSM, BIM and PGD, `apgd.rs` APGD, `square.rs` the Square Attack;
//! this file holds what they share (the objective, the per-image best, the projection).
//!
//! Every attack keeps each adversarial image within ε of the original in every pixel and
//! inside [0, 1]. The gradient attacks take steps of α·sign(∇ₓ objective) and project onto
//! that box after each step: FGSM is one step with α = ε, BIM repeats steps of
//! α = 2.5·ε/steps (Madry et al. 2018), PGD does the same from a uniformly random start in
//! the ε-ball and may restart from new random points. Square (Andriushchenko et al., ECCV
//! 2020) needs no gradient: it proposes a random ±ε square patch of the perturbation and
//! keeps it when the model's objective improves, spending one query (forward pass) per try.
//!
//! The objective an attack raises is, for untargeted attacks against the true label y,
//! cross-entropy CE(f(x), y) or the margin max_{j≠y} z_j − z_y (Carlini & Wagner) of the
//! logits z, or APGD's DLR loss ([`Loss::Dlr`]); for targeted attacks towards t,
//! −CE(f(x), t) or z_t − max_{j≠t} z_j. An image
//! is *fooled* when the model's top class is not y (untargeted) or is t (targeted).
//!
//! Models are run in evaluation mode. [`attack`] returns per image the adversarial image,
//! whether it fools the model, and how many queries were spent; with
//! [`AttackSpec::early_stop`] (the default) an image stops at the first iterate that fools
//! the model, which is how robust accuracy is measured.

mod apgd;
mod gradient;
pub mod spec;
mod square;

pub use apgd::apgd_checkpoints;
pub use gradient::{fgsm, fgsm_from_gradient};
pub use spec::{
    AttackError, AttackSpec, Loss, Method, APGD_FIRST_STEP, MAX_EPSILON, MAX_QUERIES, MAX_RESTARTS,
    MAX_STEPS, SQUARE_P_INIT, STEP_SIZE_FACTOR,
};
pub use square::{square_p, SquareSearch};

use crate::loss::softmax;
use crate::model::{validate_images, validate_labels, Model, CLASSES};
use ndarray::{Array2, Array4, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

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
    fn targeted(&self) -> bool {
        matches!(self, Goal::Targeted(_))
    }
}

/// What an attack did, per image.
#[derive(Clone, Debug)]
pub struct AttackOutcome {
    /// The adversarial images, (N, 1, 28, 28): each within ε of its original and in [0, 1].
    pub adversarial: Array4<f32>,
    /// Whether the model is fooled by each adversarial image.
    pub fooled: Vec<bool>,
    /// Queries (forward passes, with or without a backward pass) spent on each image.
    pub queries: Vec<usize>,
}

/// Per image: the objective (to raise), whether the model is fooled, and d objective /
/// d logits.
struct Objective {
    value: Vec<f32>,
    fooled: Vec<bool>,
    grad: Array2<f32>,
}

/// The objective `loss` for each row of `logits`: against the true labels `classes`
/// (untargeted) or towards them (targeted). `towards` gives APGD-T's target per image for
/// the targeted DLR loss, whose `classes` stay the true labels and whose images count as
/// fooled when the top class is not the true one.
fn objective(
    logits: &Array2<f32>,
    classes: &[usize],
    targeted: bool,
    loss: Loss,
    towards: Option<&[usize]>,
) -> Objective {
    let n = logits.nrows();
    let mut value = Vec::with_capacity(n);
    let mut fooled = Vec::with_capacity(n);
    let mut grad = Array2::<f32>::zeros((n, CLASSES));
    let probs = (loss == Loss::Ce).then(|| softmax(logits.view()));
    for (i, z) in logits.axis_iter(Axis(0)).enumerate() {
        let c = classes[i];
        let top = top_class(z.iter().copied());
        fooled.push(if targeted { top == c } else { top != c });
        // Largest logit among the other classes.
        let (other, z_other) = z.iter().enumerate().filter(|&(j, _)| j != c).fold(
            (0, f32::NEG_INFINITY),
            |(bj, bv), (j, &v)| {
                if v > bv {
                    (j, v)
                } else {
                    (bj, bv)
                }
            },
        );
        let sign = if targeted { -1.0 } else { 1.0 };
        match (loss, &probs) {
            (Loss::Ce, Some(p)) => {
                // Untargeted: CE(y) = −log p_y, gradient p − onehot(y); targeted: the negative.
                let t = towards.map_or(c, |t| t[i]);
                let sign = if towards.is_some() { -1.0 } else { sign };
                value.push(sign * -libm::logf(p[[i, t]].max(1e-30)));
                for j in 0..CLASSES {
                    let onehot = if j == t { 1.0 } else { 0.0 };
                    grad[[i, j]] = sign * (p[[i, j]] - onehot);
                }
            }
            (Loss::Dlr, _) => {
                let (v, g) = dlr(z, c, other, towards.map(|t| t[i]));
                value.push(v);
                grad.row_mut(i).assign(&ndarray::ArrayView1::from(&g));
            }
            _ => {
                // Untargeted: z_other − z_y; targeted: z_t − z_other.
                value.push(sign * (z_other - z[c]));
                grad[[i, other]] = sign;
                grad[[i, c]] = -sign;
            }
        }
    }
    Objective {
        value,
        fooled,
        grad,
    }
}

/// The DLR loss of one row of logits `z` with true label `y` (whose strongest rival is
/// `other`) and its gradient: untargeted −(z_y − z_other)/(z_π1 − z_π3 + 10⁻¹²), towards `t`
/// −(z_y − z_t)/(z_π1 − (z_π3 + z_π4)/2 + 10⁻¹²), with π the classes by falling logit.
fn dlr(
    z: ndarray::ArrayView1<f32>,
    y: usize,
    other: usize,
    t: Option<usize>,
) -> (f32, [f32; CLASSES]) {
    let mut order: [usize; CLASSES] = std::array::from_fn(|j| j);
    // Falling logits; equal logits keep their class order, so the result is deterministic.
    order.sort_by(|&a, &b| z[b].total_cmp(&z[a]));
    let rival = t.unwrap_or(other);
    let num = z[y] - z[rival];
    let mut g = [0.0f32; CLASSES];
    let den = match t {
        None => z[order[0]] - z[order[2]] + 1e-12,
        Some(_) => z[order[0]] - 0.5 * (z[order[2]] + z[order[3]]) + 1e-12,
    };
    // value = −num/den: d/dz_y = −1/den, d/dz_rival = 1/den, d/d den = num/den².
    g[y] -= 1.0 / den;
    g[rival] += 1.0 / den;
    let r = num / (den * den);
    g[order[0]] += r;
    match t {
        None => g[order[2]] -= r,
        Some(_) => {
            g[order[2]] -= 0.5 * r;
            g[order[3]] -= 0.5 * r;
        }
    }
    (-num / den, g)
}

/// Index of the largest value (the first one on ties), as accuracy counts it.
pub fn top_class(values: impl Iterator<Item = f32>) -> usize {
    values
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, v)| {
            if v > bv {
                (i, v)
            } else {
                (bi, bv)
            }
        })
        .0
}

/// Validates an attack's settings, images and classes.
fn check(x: &Array4<f32>, goal: Goal, spec: &AttackSpec) -> Result<(), AttackError> {
    spec.validate()?;
    if goal.targeted() && (spec.loss() == Loss::Dlr || spec.targets > 0) {
        return Err(AttackError::Unsupported(format!(
            "{} needs the true labels (an untargeted goal): the DLR loss and APGD-T's targets are defined against them",
            spec.name()
        )));
    }
    validate_images(x)?;
    validate_labels(x.shape()[0], goal.classes())?;
    Ok(())
}

/// Why the model's passes inside an attack cannot fail: [`attack`] checks the images (and
/// the classes) before it starts, and every pass runs on images of that shape.
const CHECKED: &str = "images checked when the attack started";

/// Runs the attack `spec` on `model` for the images `x` (N, 1, 28, 28) in [0, 1].
pub fn attack(
    model: &mut Model,
    x: &Array4<f32>,
    goal: Goal,
    spec: &AttackSpec,
) -> Result<AttackOutcome, AttackError> {
    // SquareSearch::new validates too; check once on either path.
    Ok(match spec.method {
        Method::Square => SquareSearch::new(model, x, goal, spec)?.run(model),
        Method::Apgd => {
            check(x, goal, spec)?;
            apgd::apgd(model, x, goal, spec)
        }
        _ => {
            check(x, goal, spec)?;
            gradient::gradient_attack(model, x, goal, spec)
        }
    })
}

/// Keeps, per image, the better of what it has and a new candidate: fooled beats not
/// fooled, then the higher objective.
struct Best {
    adversarial: Array4<f32>,
    fooled: Vec<bool>,
    value: Vec<f32>,
    queries: Vec<usize>,
}

impl Best {
    fn new(x: &Array4<f32>) -> Self {
        let n = x.shape()[0];
        Best {
            adversarial: x.clone(),
            fooled: vec![false; n],
            value: vec![f32::NEG_INFINITY; n],
            queries: vec![0; n],
        }
    }
    fn offer(&mut self, i: usize, image: ndarray::ArrayView3<f32>, fooled: bool, value: f32) {
        let better =
            (fooled && !self.fooled[i]) || (fooled == self.fooled[i] && value > self.value[i]);
        if better {
            self.adversarial.index_axis_mut(Axis(0), i).assign(&image);
            self.fooled[i] = fooled;
            self.value[i] = value;
        }
    }
    fn outcome(self) -> AttackOutcome {
        AttackOutcome {
            adversarial: self.adversarial,
            fooled: self.fooled,
            queries: self.queries,
        }
    }
}

/// The random generator of restart `restart` (and, for Square, of image `image`).
fn restart_rng(seed: u64, restart: usize, image: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((restart as u64) << 32) | image as u64);
    rng
}

/// Clips `v` to the ε-box around `orig` and to [0, 1].
fn project(v: f32, orig: f32, eps: f32) -> f32 {
    v.clamp(orig - eps, orig + eps).clamp(0.0, 1.0)
}
