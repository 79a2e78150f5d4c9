//! L∞ attacks in pixel space, described once by an [`AttackSpec`]: FGSM, BIM, PGD (with
//! random restarts and a choice of loss) and the gradient-free Square Attack.
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
//! logits z; for targeted attacks towards t, −CE(f(x), t) or z_t − max_{j≠t} z_j. An image
//! is *fooled* when the model's top class is not y (untargeted) or is t (targeted).
//!
//! Models are run in evaluation mode. [`attack`] returns per image the adversarial image,
//! whether it fools the model, and how many queries were spent; with
//! [`AttackSpec::early_stop`] (the default) an image stops at the first iterate that fools
//! the model, which is how robust accuracy is measured.

use crate::loss::softmax;
use crate::model::{validate_images, validate_labels, Model, ModelError, CLASSES, IMAGE_SIDE};
use crate::nn::Mode;
use ndarray::{s, Array2, Array4, Axis, Zip};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Largest ε accepted (the whole pixel range).
pub const MAX_EPSILON: f32 = 1.0;
/// Most gradient steps of one BIM/PGD run.
pub const MAX_STEPS: usize = 1000;
/// Most restarts of PGD or Square.
pub const MAX_RESTARTS: usize = 100;
/// Most queries of one Square run per image.
pub const MAX_QUERIES: usize = 100_000;
/// The step size of BIM and PGD is this many times ε/steps unless given.
pub const STEP_SIZE_FACTOR: f32 = 2.5;
/// Square's default initial fraction of pixels in a patch (the authors' value for MNIST).
pub const SQUARE_P_INIT: f32 = 0.8;

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

/// Which attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Fast gradient sign method: one step of size ε.
    Fgsm,
    /// Basic iterative method: `steps` gradient-sign steps from the image itself.
    Bim,
    /// Projected gradient descent: BIM from a random point of the ε-ball, with restarts.
    Pgd,
    /// Square Attack: random search over square patches, no gradient.
    Square,
}

impl Method {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Fgsm => "fgsm",
            Method::Bim => "bim",
            Method::Pgd => "pgd",
            Method::Square => "square",
        }
    }
    /// Whether the attack reads the model's gradient.
    pub fn uses_gradient(self) -> bool {
        self != Method::Square
    }
}

/// The objective an attack raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Softmax cross-entropy.
    Ce,
    /// The logit margin (Carlini–Wagner).
    Margin,
}

/// One attack, fully described: the one place where an attack's parameters, defaults and
/// bounds live. The CLI, the study, the WebAssembly binding and the page all build one.
///
/// JSON form (every field optional): `{"method": "pgd", "epsilon": 0.1, "steps": 40,
/// "step_size": null, "restarts": 1, "loss": null, "queries": 1000, "p_init": 0.8,
/// "seed": 0, "early_stop": true}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttackSpec {
    /// The attack.
    pub method: Method,
    /// L∞ budget in pixel units, in [0, 1].
    pub epsilon: f32,
    /// Gradient steps of BIM and PGD, 1 to [`MAX_STEPS`] (FGSM takes one; Square ignores it).
    pub steps: usize,
    /// Step size of BIM and PGD; `None` means [`STEP_SIZE_FACTOR`]·ε/steps.
    pub step_size: Option<f32>,
    /// Independent runs of PGD or Square, 1 to [`MAX_RESTARTS`]; an image survives only if
    /// it survives every one. FGSM and BIM are deterministic and take 1.
    pub restarts: usize,
    /// The objective raised; `None` is the method's own: cross-entropy for the gradient
    /// attacks, the margin for Square (as its authors use it).
    pub loss: Option<Loss>,
    /// Square's query budget per image and restart, 1 to [`MAX_QUERIES`].
    pub queries: usize,
    /// Square's initial fraction of pixels changed by a patch, in (0, 1].
    pub p_init: f32,
    /// Seed of PGD's random starts and Square's random search.
    pub seed: u64,
    /// Stop each image at the first iterate that fools the model (for robust accuracy);
    /// otherwise run the whole budget and keep, per image, the final iterate of the best
    /// restart (for transfer attacks and for showing a full-strength perturbation).
    pub early_stop: bool,
}

impl Default for AttackSpec {
    fn default() -> Self {
        AttackSpec {
            method: Method::Fgsm,
            epsilon: 0.1,
            steps: 40,
            step_size: None,
            restarts: 1,
            loss: None,
            queries: 1000,
            p_init: SQUARE_P_INIT,
            seed: 0,
            early_stop: true,
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
    /// Zero steps, or more than MAX_STEPS.
    #[error("steps must be between 1 and {MAX_STEPS}, got {0}")]
    Steps(usize),
    /// Zero restarts, more than MAX_RESTARTS, or restarts of a deterministic attack.
    #[error("restarts must be between 1 and {MAX_RESTARTS} (more than 1 only for PGD and Square, whose starts are random), got {0}")]
    Restarts(usize),
    /// Zero queries, or more than MAX_QUERIES.
    #[error("queries must be between 1 and {MAX_QUERIES}, got {0}")]
    Queries(usize),
    /// Square's p_init outside (0, 1].
    #[error("p_init must be in (0, 1], got {0}")]
    PInit(f32),
    /// An attack name that does not parse.
    #[error("{0}")]
    Name(String),
    /// The images or labels are invalid.
    #[error(transparent)]
    Input(#[from] ModelError),
}

impl AttackSpec {
    /// FGSM at ε.
    pub fn fgsm(epsilon: f32) -> Self {
        AttackSpec {
            method: Method::Fgsm,
            epsilon,
            steps: 1,
            ..Self::default()
        }
    }

    /// BIM with `steps` steps at ε.
    pub fn bim(epsilon: f32, steps: usize) -> Self {
        AttackSpec {
            method: Method::Bim,
            epsilon,
            steps,
            ..Self::default()
        }
    }

    /// PGD with `steps` steps and `restarts` random starts at ε, cross-entropy loss.
    pub fn pgd(epsilon: f32, steps: usize, restarts: usize) -> Self {
        AttackSpec {
            method: Method::Pgd,
            epsilon,
            steps,
            restarts,
            ..Self::default()
        }
    }

    /// Square with a budget of `queries` per image at ε, margin loss.
    pub fn square(epsilon: f32, queries: usize) -> Self {
        AttackSpec {
            method: Method::Square,
            epsilon,
            queries,
            ..Self::default()
        }
    }

    /// The objective raised: the one given, or the method's own.
    pub fn loss(&self) -> Loss {
        self.loss.unwrap_or(match self.method {
            Method::Square => Loss::Margin,
            _ => Loss::Ce,
        })
    }

    /// The same attack at another ε.
    pub fn at(&self, epsilon: f32) -> Self {
        AttackSpec {
            epsilon,
            ..self.clone()
        }
    }

    /// Checks every field against its bounds.
    pub fn validate(&self) -> Result<(), AttackError> {
        if !(0.0..=MAX_EPSILON).contains(&self.epsilon) {
            return Err(AttackError::Epsilon(self.epsilon));
        }
        if self.steps == 0 || self.steps > MAX_STEPS {
            return Err(AttackError::Steps(self.steps));
        }
        let random = matches!(self.method, Method::Pgd | Method::Square);
        if self.restarts == 0 || self.restarts > MAX_RESTARTS || (!random && self.restarts > 1) {
            return Err(AttackError::Restarts(self.restarts));
        }
        if self.queries == 0 || self.queries > MAX_QUERIES {
            return Err(AttackError::Queries(self.queries));
        }
        if !(self.p_init > 0.0 && self.p_init <= 1.0) {
            return Err(AttackError::PInit(self.p_init));
        }
        let step = self.step_size();
        if !(step.is_finite() && (step > 0.0 || (step == 0.0 && self.epsilon == 0.0))) {
            return Err(AttackError::StepSize(step));
        }
        Ok(())
    }

    /// Gradient steps actually taken: 1 for FGSM, `steps` for BIM and PGD, 0 for Square.
    pub fn gradient_steps(&self) -> usize {
        match self.method {
            Method::Fgsm => 1,
            Method::Bim | Method::Pgd => self.steps,
            Method::Square => 0,
        }
    }

    /// The step size used: ε for FGSM, the given one or 2.5·ε/steps for BIM and PGD.
    pub fn step_size(&self) -> f32 {
        match (self.method, self.step_size) {
            (Method::Fgsm, _) => self.epsilon,
            (_, Some(a)) => a,
            (_, None) => STEP_SIZE_FACTOR * self.epsilon / self.steps.max(1) as f32,
        }
    }

    /// The most queries (forward passes) one image can cost.
    pub fn query_budget(&self) -> usize {
        match self.method {
            Method::Square => self.queries * self.restarts,
            _ => (self.gradient_steps() + 1) * self.restarts,
        }
    }

    /// A short name without ε: `fgsm`, `bim-10`, `pgd-40`, `pgd-40-r5-margin`,
    /// `square-1000`, `square-5000-r2-ce`. Non-default loss, restarts and step sizes are
    /// spelled out; [`FromStr`] reads the same names back.
    pub fn name(&self) -> String {
        let mut n = match self.method {
            Method::Fgsm => "fgsm".to_string(),
            Method::Bim | Method::Pgd => format!("{}-{}", self.method.name(), self.steps),
            Method::Square => format!("square-{}", self.queries),
        };
        if self.restarts > 1 {
            n += &format!("-r{}", self.restarts);
        }
        let default_loss = AttackSpec {
            loss: None,
            ..self.clone()
        }
        .loss();
        if self.loss() != default_loss {
            n += match self.loss() {
                Loss::Ce => "-ce",
                Loss::Margin => "-margin",
            };
        }
        n
    }

    /// A readable description, e.g. "PGD, 40 steps of 2.5·ε/40, 5 restarts, margin loss".
    pub fn describe(&self) -> String {
        let loss = match self.loss() {
            Loss::Ce => "cross-entropy loss",
            Loss::Margin => "margin loss",
        };
        let restarts = if self.restarts > 1 {
            format!(", {} restarts", self.restarts)
        } else {
            String::new()
        };
        let step = match self.step_size {
            Some(a) => format!("{a}"),
            None => format!("{STEP_SIZE_FACTOR}·ε/{}", self.steps),
        };
        match self.method {
            Method::Fgsm => format!("FGSM, one step of ε, {loss}"),
            Method::Bim => format!(
                "BIM, {} step{} of {step}, {loss}",
                self.steps,
                if self.steps == 1 { "" } else { "s" }
            ),
            Method::Pgd => format!(
                "PGD, random start, {} step{} of {step}{restarts}, {loss}",
                self.steps,
                if self.steps == 1 { "" } else { "s" }
            ),
            Method::Square => format!(
                "Square Attack (no gradient), {} queries, p_init {}{restarts}, {loss}",
                self.queries, self.p_init
            ),
        }
    }
}

impl fmt::Display for AttackSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())
    }
}

impl FromStr for AttackSpec {
    type Err = AttackError;
    /// Reads a name such as `pgd-40-r5-margin` (see [`AttackSpec::name`]); ε stays at the
    /// default until [`AttackSpec::at`] sets it.
    fn from_str(s: &str) -> Result<Self, AttackError> {
        let bad = || {
            AttackError::Name(format!(
                "unknown attack '{s}': expected fgsm, bim-K, pgd-K, square-Q, optionally followed by -rN (restarts) and -ce or -margin (loss)"
            ))
        };
        let mut parts = s.trim().split('-');
        let method = parts.next().unwrap_or("");
        let mut spec = match method.to_ascii_lowercase().as_str() {
            "fgsm" => AttackSpec::fgsm(0.1),
            "bim" | "pgd" | "square" => {
                let n: usize = parts.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
                match method {
                    "bim" => AttackSpec::bim(0.1, n),
                    "pgd" => AttackSpec::pgd(0.1, n, 1),
                    _ => AttackSpec::square(0.1, n),
                }
            }
            _ => return Err(bad()),
        };
        for p in parts {
            match p {
                "ce" => spec.loss = Some(Loss::Ce),
                "margin" => spec.loss = Some(Loss::Margin),
                r if r.starts_with('r') => {
                    spec.restarts = r[1..].parse().map_err(|_| bad())?;
                }
                _ => return Err(bad()),
            }
        }
        spec.validate()?;
        Ok(spec)
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

fn objective(logits: &Array2<f32>, classes: &[usize], targeted: bool, loss: Loss) -> Objective {
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
        match &probs {
            Some(p) => {
                // Untargeted: CE(y) = −log p_y, gradient p − onehot(y); targeted: the negative.
                value.push(sign * -libm::logf(p[[i, c]].max(1e-30)));
                for j in 0..CLASSES {
                    let onehot = if j == c { 1.0 } else { 0.0 };
                    grad[[i, j]] = sign * (p[[i, j]] - onehot);
                }
            }
            None => {
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
    validate_images(x)?;
    validate_labels(x.shape()[0], goal.classes())?;
    Ok(())
}

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
        _ => {
            check(x, goal, spec)?;
            gradient_attack(model, x, goal, spec)
        }
    })
}

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

/// FGSM, BIM and PGD: `restarts` runs of `gradient_steps` sign steps; the objective and
/// the fooled test are evaluated at every iterate (one query each).
fn gradient_attack(
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
            let logits = model.forward(&adv, Mode::Eval);
            let mut obj = objective(&logits, &classes, targeted, spec.loss());
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
            let grad = model.backward_input(&obj.grad);
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

/// Square's fraction of pixels per patch at iteration `it` of `n_iters`: p_init, halved
/// at 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of 10,000 iterations (rescaled).
pub fn square_p(p_init: f32, it: usize, n_iters: usize) -> f32 {
    let t = (it as f64 / n_iters.max(1) as f64 * 10_000.0) as usize;
    let halvings = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000]
        .iter()
        .filter(|&&b| t > b)
        .count();
    p_init / (1u32 << halvings) as f32
}

/// The Square Attack's random search, one query per [`SquareSearch::step`], for tests and
/// tools that want to watch it; [`attack`] runs it to the end.
pub struct SquareSearch {
    orig: Array4<f32>,
    classes: Vec<usize>,
    targeted: bool,
    spec: AttackSpec,
    restart: usize,
    iteration: usize,
    /// Current best adversarial per image of this restart.
    current: Array4<f32>,
    current_value: Vec<f32>,
    current_fooled: Vec<bool>,
    rngs: Vec<ChaCha8Rng>,
    best: Best,
}

impl SquareSearch {
    /// Starts restart 0: vertical stripes of ±ε (one query). Validates like [`attack`].
    pub fn new(
        model: &mut Model,
        x: &Array4<f32>,
        goal: Goal,
        spec: &AttackSpec,
    ) -> Result<Self, AttackError> {
        check(x, goal, spec)?;
        let n = x.shape()[0];
        let mut s = SquareSearch {
            orig: x.clone(),
            classes: goal.classes().to_vec(),
            targeted: goal.targeted(),
            spec: spec.clone(),
            restart: 0,
            iteration: 0,
            current: x.clone(),
            current_value: vec![f32::NEG_INFINITY; n],
            current_fooled: vec![false; n],
            rngs: Vec::new(),
            best: Best::new(x),
        };
        s.start_restart(model);
        Ok(s)
    }

    /// Images this restart still works on.
    fn active(&self) -> Vec<usize> {
        (0..self.orig.shape()[0])
            .filter(|&i| !(self.spec.early_stop && self.current_fooled[i]))
            .filter(|&i| !(self.spec.early_stop && self.best.fooled[i]))
            .collect()
    }

    fn start_restart(&mut self, model: &mut Model) {
        let n = self.orig.shape()[0];
        let eps = self.spec.epsilon;
        self.rngs = (0..n)
            .map(|i| restart_rng(self.spec.seed, self.restart, i))
            .collect();
        self.current = self.orig.clone();
        self.current_value = vec![f32::NEG_INFINITY; n];
        self.current_fooled = vec![false; n];
        self.iteration = 0;
        let idx = self.active();
        for &i in &idx {
            let rng = &mut self.rngs[i];
            let stripes: Vec<f32> = (0..IMAGE_SIDE)
                .map(|_| if rng.gen::<bool>() { eps } else { -eps })
                .collect();
            let mut img = self.current.index_axis_mut(Axis(0), i);
            for ((_, _, col), v) in img.indexed_iter_mut() {
                *v = (*v + stripes[col]).clamp(0.0, 1.0);
            }
        }
        self.evaluate(model, &idx, None);
    }

    /// Queries the model on `candidates` (rows in `idx` order, or the current images) and
    /// accepts those that raise the objective.
    fn evaluate(&mut self, model: &mut Model, idx: &[usize], candidates: Option<Array4<f32>>) {
        if idx.is_empty() {
            return;
        }
        let cand = candidates.unwrap_or_else(|| self.current.select(Axis(0), idx));
        let logits = model.forward(&cand, Mode::Eval);
        let classes: Vec<usize> = idx.iter().map(|&i| self.classes[i]).collect();
        let obj = objective(&logits, &classes, self.targeted, self.spec.loss());
        for (k, &i) in idx.iter().enumerate() {
            self.best.queries[i] += 1;
            if obj.value[k] > self.current_value[i] {
                self.current
                    .index_axis_mut(Axis(0), i)
                    .assign(&cand.index_axis(Axis(0), k));
                self.current_value[i] = obj.value[k];
                self.current_fooled[i] = obj.fooled[k];
            }
        }
    }

    /// Whether every restart has spent its budget or every image is fooled.
    pub fn finished(&self) -> bool {
        self.restart >= self.spec.restarts
    }

    /// The objective of each image's current best in this restart (it never decreases
    /// within a restart).
    pub fn objective(&self) -> &[f32] {
        &self.current_value
    }

    /// One query per active image: a random square patch of the perturbation set to ±ε,
    /// kept where it raises the objective. Moves on to the next restart when the budget or
    /// the active images run out.
    pub fn step(&mut self, model: &mut Model) {
        if self.finished() {
            return;
        }
        let idx = self.active();
        let budget_left = self.iteration + 1 < self.spec.queries;
        if idx.is_empty() || !budget_left || self.spec.epsilon == 0.0 {
            self.end_restart(model);
            return;
        }
        self.iteration += 1;
        let eps = self.spec.epsilon;
        let p = square_p(self.spec.p_init, self.iteration, self.spec.queries);
        let side = ((p * (IMAGE_SIDE * IMAGE_SIDE) as f32).sqrt().round() as usize)
            .clamp(1, IMAGE_SIDE - 1);
        let mut cand = self.current.select(Axis(0), &idx);
        for (k, &i) in idx.iter().enumerate() {
            let rng = &mut self.rngs[i];
            let (r0, c0) = (
                rng.gen_range(0..=IMAGE_SIDE - side),
                rng.gen_range(0..=IMAGE_SIDE - side),
            );
            let orig = self.orig.slice(s![i, 0, r0..r0 + side, c0..c0 + side]);
            let mut window = cand.slice_mut(s![k, 0, r0..r0 + side, c0..c0 + side]);
            // A patch value that changes at least one pixel of the window (one of ±ε
            // always does when ε > 0).
            let first = if rng.gen::<bool>() { eps } else { -eps };
            let changes = |d: f32, w: &ndarray::ArrayViewMut2<f32>| {
                Zip::from(w).and(&orig).fold(false, |acc, &c, &o| {
                    acc || ((o + d).clamp(0.0, 1.0) - c).abs() > 1e-7
                })
            };
            let d = if changes(first, &window) {
                first
            } else {
                -first
            };
            Zip::from(&mut window)
                .and(&orig)
                .for_each(|c, &o| *c = (o + d).clamp(0.0, 1.0));
        }
        self.evaluate(model, &idx, Some(cand));
    }

    fn end_restart(&mut self, model: &mut Model) {
        for i in 0..self.orig.shape()[0] {
            let (f, v) = (self.current_fooled[i], self.current_value[i]);
            if v > f32::NEG_INFINITY {
                let img = self.current.index_axis(Axis(0), i).to_owned();
                self.best.offer(i, img.view(), f, v);
            }
        }
        self.restart += 1;
        if !self.finished() && !self.active_for_new_restart().is_empty() {
            self.start_restart(model);
        } else {
            self.restart = self.spec.restarts;
        }
    }

    fn active_for_new_restart(&self) -> Vec<usize> {
        (0..self.orig.shape()[0])
            .filter(|&i| !(self.spec.early_stop && self.best.fooled[i]))
            .collect()
    }

    /// The result so far (after [`SquareSearch::finished`], the attack's result).
    pub fn outcome(self) -> AttackOutcome {
        self.best.outcome()
    }

    /// Steps until finished and returns the result.
    pub fn run(mut self, model: &mut Model) -> AttackOutcome {
        while !self.finished() {
            self.step(model);
        }
        self.outcome()
    }
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
