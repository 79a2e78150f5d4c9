//! An attack, fully described: [`AttackSpec`], its bounds, its names and its errors.

use crate::model::ModelError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Largest ε accepted (the whole pixel range).
pub const MAX_EPSILON: f32 = 1.0;
/// Most gradient steps of one BIM/PGD/APGD run.
pub const MAX_STEPS: usize = 1000;
/// Most restarts of PGD, APGD or Square.
pub const MAX_RESTARTS: usize = 100;
/// Most queries of one Square run per image.
pub const MAX_QUERIES: usize = 100_000;
/// The step size of BIM and PGD is this many times ε/steps unless given.
pub const STEP_SIZE_FACTOR: f32 = 2.5;
/// Square's default initial fraction of pixels in a patch (the authors' value for MNIST).
pub const SQUARE_P_INIT: f32 = 0.8;

/// Which attack.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
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
    /// Auto-PGD (Croce & Hein 2020): PGD with momentum and a step size that halves at
    /// checkpoints where progress stalls; optionally towards the top-k other classes.
    Apgd,
}

impl Method {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Fgsm => "fgsm",
            Method::Bim => "bim",
            Method::Pgd => "pgd",
            Method::Square => "square",
            Method::Apgd => "apgd",
        }
    }
    /// Whether the attack reads the model's gradient.
    pub fn uses_gradient(self) -> bool {
        self != Method::Square
    }
}

/// The objective an attack raises.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Softmax cross-entropy.
    Ce,
    /// The logit margin (Carlini–Wagner).
    Margin,
    /// The difference of logits ratio (Croce & Hein 2020): the margin divided by the spread
    /// of the top logits, so that rescaling the logits does not change it. Untargeted:
    /// −(z_y − max_{j≠y} z_j)/(z_π1 − z_π3); towards a target t (APGD-T):
    /// −(z_y − z_t)/(z_π1 − (z_π3 + z_π4)/2), with π the classes sorted by logit.
    Dlr,
}

impl Loss {
    /// Lower-case name, as attack names spell it.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Ce => "ce",
            Loss::Margin => "margin",
            Loss::Dlr => "dlr",
        }
    }
}

/// One attack, fully described: the one place where an attack's parameters, defaults and
/// bounds live. The CLI, the study, the WebAssembly binding and the page all build one.
///
/// JSON form (every field optional): `{"method": "pgd", "epsilon": 0.1, "steps": 40,
/// "step_size": null, "restarts": 1, "loss": null, "queries": 1000, "p_init": 0.8,
/// "targets": 0, "seed": 0, "early_stop": true}`.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(target_arch = "wasm32", tsify(missing_as_null))]
pub struct AttackSpec {
    /// The attack.
    pub method: Method,
    /// L∞ budget in pixel units, in [0, 1].
    pub epsilon: f32,
    /// Gradient steps of BIM, PGD and APGD, 1 to [`MAX_STEPS`] (FGSM takes one; Square
    /// ignores it).
    pub steps: usize,
    /// Step size of BIM and PGD; `None` means [`STEP_SIZE_FACTOR`]·ε/steps. APGD chooses
    /// its own (2·ε, halved as it goes) and takes none.
    pub step_size: Option<f32>,
    /// Independent runs of PGD, APGD or Square, 1 to [`MAX_RESTARTS`]; an image survives
    /// only if it survives every one. FGSM and BIM are deterministic and take 1.
    pub restarts: usize,
    /// The objective raised; `None` is the method's own: cross-entropy for the gradient
    /// attacks, the margin for Square (as its authors use it).
    pub loss: Option<Loss>,
    /// Square's query budget per image and restart, 1 to [`MAX_QUERIES`].
    pub queries: usize,
    /// Square's initial fraction of pixels changed by a patch, in (0, 1].
    pub p_init: f32,
    /// APGD only: 0 attacks the true label (untargeted); k from 1 to 9 runs the attack
    /// once towards each of the k classes the model ranks highest after the true one
    /// (APGD-T), and an image survives only if it survives every run. An image counts as
    /// fooled when its top class is not the true one, whichever target reached that.
    #[serde(skip_serializing_if = "is_zero")]
    pub targets: usize,
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
            targets: 0,
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
    /// Targets outside 1..=9, or targets for an attack other than APGD.
    #[error("targets (the top-k classes APGD-T attacks towards) must be between 1 and 9, and only for apgd; got {0}")]
    Targets(usize),
    /// A setting the attack does not take (such as a step size for APGD), or a loss the
    /// goal cannot use.
    #[error("{0}")]
    Unsupported(String),
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

    /// APGD with `steps` iterations at ε and `loss`; `targets` > 0 makes it APGD-T (towards
    /// each of the top `targets` other classes in turn).
    pub fn apgd(epsilon: f32, steps: usize, loss: Loss, targets: usize) -> Self {
        AttackSpec {
            method: Method::Apgd,
            epsilon,
            steps,
            loss: Some(loss),
            targets,
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
        let random = matches!(self.method, Method::Pgd | Method::Square | Method::Apgd);
        if self.restarts == 0 || self.restarts > MAX_RESTARTS || (!random && self.restarts > 1) {
            return Err(AttackError::Restarts(self.restarts));
        }
        if self.queries == 0 || self.queries > MAX_QUERIES {
            return Err(AttackError::Queries(self.queries));
        }
        if !(self.p_init > 0.0 && self.p_init <= 1.0) {
            return Err(AttackError::PInit(self.p_init));
        }
        let targets_ok = match self.method {
            Method::Apgd => self.targets < crate::model::CLASSES,
            _ => self.targets == 0,
        };
        if !targets_ok {
            return Err(AttackError::Targets(self.targets));
        }
        if self.method == Method::Apgd {
            if let Some(a) = self.step_size {
                return Err(AttackError::Unsupported(format!(
                    "apgd chooses its own step size (2·ε, halved as it goes); got step_size {a}"
                )));
            }
            if self.loss() == Loss::Margin {
                return Err(AttackError::Unsupported(
                    "apgd takes the ce or dlr loss, not margin".into(),
                ));
            }
            return Ok(());
        }
        let step = self.step_size();
        if !(step.is_finite() && (step > 0.0 || (step == 0.0 && self.epsilon == 0.0))) {
            return Err(AttackError::StepSize(step));
        }
        Ok(())
    }

    /// Gradient steps actually taken: 1 for FGSM, `steps` for BIM, PGD and APGD (per
    /// target), 0 for Square.
    pub fn gradient_steps(&self) -> usize {
        match self.method {
            Method::Fgsm => 1,
            Method::Bim | Method::Pgd | Method::Apgd => self.steps,
            Method::Square => 0,
        }
    }

    /// The step size used: ε for FGSM, the given one or 2.5·ε/steps for BIM and PGD, and
    /// APGD's first step, 2·ε.
    pub fn step_size(&self) -> f32 {
        match (self.method, self.step_size) {
            (Method::Fgsm, _) => self.epsilon,
            (Method::Apgd, _) => APGD_FIRST_STEP * self.epsilon,
            (_, Some(a)) => a,
            (_, None) => STEP_SIZE_FACTOR * self.epsilon / self.steps.max(1) as f32,
        }
    }

    /// The most queries (forward passes) one image can cost.
    pub fn query_budget(&self) -> usize {
        match self.method {
            Method::Square => self.queries * self.restarts,
            Method::Apgd => (self.steps + 1) * self.restarts * self.targets.max(1),
            _ => (self.gradient_steps() + 1) * self.restarts,
        }
    }

    /// A short name without ε that says every setting that differs from the method's
    /// defaults, so that two different attacks never share a name: `fgsm`, `bim-10`,
    /// `pgd-40`, `pgd-40-r5-margin`, `pgd-1-step0.375` (a step size given in pixel units),
    /// `square-1000`, `square-5000-r2-ce-p0.5` (p_init), `apgd-ce-100`, `apgd-dlr-t9-100`
    /// (APGD-T towards the top nine classes). [`FromStr`] reads every name back to an equal
    /// spec (with the default ε, seed and early stop, which names leave out).
    pub fn name(&self) -> String {
        let mut n = match self.method {
            Method::Fgsm => "fgsm".to_string(),
            Method::Bim | Method::Pgd => format!("{}-{}", self.method.name(), self.steps),
            Method::Square => format!("square-{}", self.queries),
            Method::Apgd => {
                let t = if self.targets > 0 {
                    format!("-t{}", self.targets)
                } else {
                    String::new()
                };
                format!("apgd-{}{t}-{}", self.loss().name(), self.steps)
            }
        };
        if self.method != Method::Fgsm {
            if let Some(a) = self.step_size {
                n += &format!("-step{a}");
            }
        }
        if self.restarts > 1 {
            n += &format!("-r{}", self.restarts);
        }
        let own_loss = AttackSpec {
            loss: None,
            ..self.clone()
        }
        .loss();
        if self.method != Method::Apgd && self.loss() != own_loss {
            n += "-";
            n += self.loss().name();
        }
        if self.p_init != SQUARE_P_INIT {
            n += &format!("-p{}", self.p_init);
        }
        n
    }

    /// A readable description, e.g. "PGD, 40 steps of 2.5·ε/40, 5 restarts, margin loss".
    pub fn describe(&self) -> String {
        let loss = match self.loss() {
            Loss::Ce => "cross-entropy loss",
            Loss::Margin => "margin loss",
            Loss::Dlr if self.targets > 0 => "targeted DLR loss",
            Loss::Dlr => "DLR loss",
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
        let plural = |k: usize| if k == 1 { "" } else { "s" };
        match self.method {
            Method::Fgsm => format!("FGSM, one step of ε, {loss}"),
            Method::Bim => format!(
                "BIM, {} step{} of {step}, {loss}",
                self.steps,
                plural(self.steps)
            ),
            Method::Pgd => format!(
                "PGD, random start, {} step{} of {step}{restarts}, {loss}",
                self.steps,
                plural(self.steps)
            ),
            Method::Square => format!(
                "Square Attack (no gradient), {} queries, p_init {}{restarts}, {loss}",
                self.queries, self.p_init
            ),
            Method::Apgd => {
                let towards = if self.targets > 0 {
                    format!(
                        ", towards each of the top {} other class{}",
                        self.targets,
                        if self.targets == 1 { "" } else { "es" }
                    )
                } else {
                    String::new()
                };
                format!(
                    "APGD, random start, {} iteration{} with momentum and adaptive step size{towards}{restarts}, {loss}",
                    self.steps,
                    plural(self.steps)
                )
            }
        }
    }
}

/// APGD's first step size, as a multiple of ε (Croce & Hein 2020).
pub const APGD_FIRST_STEP: f32 = 2.0;

fn is_zero(v: &usize) -> bool {
    *v == 0
}

impl fmt::Display for AttackSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())
    }
}

impl FromStr for AttackSpec {
    type Err = AttackError;
    /// Reads a name such as `pgd-40-r5-margin` or `APGD-DLR-T9-100` (see
    /// [`AttackSpec::name`]), in any letter case; each option at most once. ε stays at the
    /// default until [`AttackSpec::at`] sets it.
    fn from_str(s: &str) -> Result<Self, AttackError> {
        let bad = |why: &str| {
            AttackError::Name(format!(
                "unknown attack '{s}' ({why}): expected fgsm, bim-K, pgd-K, square-Q, apgd-ce-K or apgd-dlr[-tN]-K, optionally followed by -rN (restarts), -ce, -margin or -dlr (loss), -stepA (step size) and -pP (Square's p_init)"
            ))
        };
        let lower = s.trim().to_ascii_lowercase();
        let mut parts = lower.split('-').peekable();
        let method = parts.next().unwrap_or("");
        let count = |parts: &mut std::iter::Peekable<std::str::Split<'_, char>>,
                     what: &str|
         -> Result<usize, AttackError> {
            parts
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad(&format!("{method} needs {what}")))
        };
        let mut spec = match method {
            "fgsm" => AttackSpec::fgsm(0.1),
            "bim" => AttackSpec::bim(0.1, count(&mut parts, "a number of steps")?),
            "pgd" => AttackSpec::pgd(0.1, count(&mut parts, "a number of steps")?, 1),
            "square" => AttackSpec::square(0.1, count(&mut parts, "a number of queries")?),
            "apgd" => {
                let loss = match parts.next() {
                    Some("ce") => Loss::Ce,
                    Some("dlr") => Loss::Dlr,
                    _ => return Err(bad("apgd needs its loss, ce or dlr")),
                };
                let targets = match parts.peek() {
                    Some(t) if t.starts_with('t') => {
                        let k = t[1..]
                            .parse()
                            .map_err(|_| bad("-tN needs a number of target classes"))?;
                        parts.next();
                        k
                    }
                    _ => 0,
                };
                AttackSpec::apgd(
                    0.1,
                    count(&mut parts, "a number of iterations")?,
                    loss,
                    targets,
                )
            }
            _ => return Err(bad("no such method")),
        };
        let mut seen = Vec::new();
        for p in parts {
            let key = match p {
                "ce" | "margin" | "dlr" if method != "apgd" => {
                    spec.loss = Some(match p {
                        "ce" => Loss::Ce,
                        "margin" => Loss::Margin,
                        _ => Loss::Dlr,
                    });
                    "loss"
                }
                _ if p.starts_with("step") && method != "fgsm" => {
                    let a: f32 = p[4..].parse().map_err(|_| bad("-stepA needs a number"))?;
                    spec.step_size = Some(a);
                    "step"
                }
                _ if p.starts_with('r') => {
                    spec.restarts = p[1..].parse().map_err(|_| bad("-rN needs a number"))?;
                    "restarts"
                }
                _ if p.starts_with('p') => {
                    spec.p_init = p[1..].parse().map_err(|_| bad("-pP needs a number"))?;
                    "p_init"
                }
                _ => return Err(bad(&format!("'{p}' is not an option"))),
            };
            if seen.contains(&key) {
                return Err(bad(&format!("{key} given twice")));
            }
            seen.push(key);
        }
        spec.validate()?;
        Ok(spec)
    }
}
