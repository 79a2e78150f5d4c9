//! Adversarial training: the inner attack a training step runs on its batch, and the
//! options a user states it with.

use super::TrainError;
use crate::attack::{AttackSpec, Method};
use serde::{Deserialize, Serialize};

/// Adversarial training (Madry et al. 2018): every step trains on the digits the inner
/// attack makes from the batch, not on the batch itself. With a one-step inner attack from
/// a random start this is "fast" adversarial training (Wong, Rice & Kolter 2020).
///
/// BatchNorm: the inner attack runs the model in evaluation mode (running statistics, as in
/// TRADES' reference code), so crafting the batch leaves the running statistics alone; the
/// training step on the attacked digits then uses batch statistics and updates them.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adversarial {
    /// The inner attack at full strength (FGSM, BIM or PGD; it runs every step to the end,
    /// without early stop). Its seed is mixed with the recipe seed, the epoch and the step,
    /// so every step has fresh random starts and a rerun repeats them.
    pub attack: AttackSpec,
    /// Epochs over which ε (and a fixed step size with it) grows linearly from 0 to the
    /// attack's ε; 0 trains at full ε from the first step.
    pub epsilon_warmup_epochs: f32,
}

/// The step size of "fast" adversarial training, as a multiple of ε (Wong et al. 2020).
pub const FGSM_RS_STEP_FACTOR: f32 = 1.25;

/// Steps of [`Adversarial::watch_attack`].
pub const WATCH_STEPS: usize = 10;

/// Test digits on which `splash train` watches an adversarially trained model.
pub const WATCH_DIGITS: usize = 500;

impl Adversarial {
    /// PGD with `steps` steps of 2.5·ε/steps from a random start.
    pub fn pgd(epsilon: f32, steps: usize) -> Self {
        Adversarial {
            attack: AttackSpec {
                early_stop: false,
                ..AttackSpec::pgd(epsilon, steps, 1)
            },
            epsilon_warmup_epochs: 0.0,
        }
    }

    /// One step of 1.25·ε from a random start ("FGSM-RS").
    pub fn fgsm_rs(epsilon: f32) -> Self {
        Adversarial {
            attack: AttackSpec {
                step_size: Some(FGSM_RS_STEP_FACTOR * epsilon),
                early_stop: false,
                ..AttackSpec::pgd(epsilon, 1, 1)
            },
            epsilon_warmup_epochs: 0.0,
        }
    }

    /// A short description such as "PGD-7 (step 2.5·ε/7) at ε = 0.1".
    pub fn describe(&self) -> String {
        let warm = if self.epsilon_warmup_epochs > 0.0 {
            let w = self.epsilon_warmup_epochs;
            format!(
                ", ε ramped up over {w} epoch{}",
                if w == 1.0 { "" } else { "s" }
            )
        } else {
            String::new()
        };
        let how = match self.options().kind {
            AdversarialKind::FgsmRs => {
                format!("FGSM with a random start, one step of {FGSM_RS_STEP_FACTOR}·ε")
            }
            AdversarialKind::Pgd => self.attack.describe(),
        };
        format!("{how} at ε = {}{warm}", self.attack.epsilon)
    }

    /// The options this was made from ([`AdversarialOptions::adversarial`]): FGSM-RS if it
    /// is one step of [`FGSM_RS_STEP_FACTOR`]·ε, PGD otherwise.
    pub fn options(&self) -> AdversarialOptions {
        let a = &self.attack;
        let fgsm_rs = a.steps == 1 && a.step_size == Some(FGSM_RS_STEP_FACTOR * a.epsilon);
        AdversarialOptions {
            kind: if fgsm_rs {
                AdversarialKind::FgsmRs
            } else {
                AdversarialKind::Pgd
            },
            epsilon: a.epsilon,
            steps: a.steps,
            warmup_epochs: self.epsilon_warmup_epochs,
        }
    }

    /// A name for a sentence: "PGD-5 at ε = 0.1" or "FGSM with a random start at ε = 0.1".
    pub fn short_name(&self) -> String {
        let o = self.options();
        match o.kind {
            AdversarialKind::Pgd => format!("PGD-{} at ε = {}", o.steps, o.epsilon),
            AdversarialKind::FgsmRs => format!("FGSM with a random start at ε = {}", o.epsilon),
        }
    }

    /// The command-line flags that train this way (`splash train` and `splash study`).
    pub fn cli_flags(&self) -> String {
        let o = self.options();
        let kind = match o.kind {
            AdversarialKind::Pgd => format!("pgd --adv-steps {}", o.steps),
            AdversarialKind::FgsmRs => "fgsm-rs".into(),
        };
        format!(
            "--adversarial {kind} --adv-eps {} --adv-warmup-epochs {}",
            o.epsilon, o.warmup_epochs
        )
    }

    /// The attack that watches an adversarially trained model after every epoch, so that
    /// a collapse of robustness (catastrophic overfitting) shows: PGD-10 from a random start
    /// at the training ε (the CLI on its first [`WATCH_DIGITS`] test digits, the page's
    /// training panel on held-out digits).
    pub fn watch_attack(&self) -> AttackSpec {
        AttackSpec::pgd(self.attack.epsilon, WATCH_STEPS, 1)
    }

    /// Checks the inner attack (a gradient attack with one run) and the warm-up.
    pub fn validate(&self) -> Result<(), TrainError> {
        let a = &self.attack;
        a.validate().map_err(TrainError::Attack)?;
        if matches!(a.method, Method::Square | Method::Apgd) || a.restarts != 1 || a.early_stop {
            return Err(TrainError::Recipe(
                "the inner attack of adversarial training must be FGSM, BIM or PGD with one \
                 restart and no early stop"
                    .into(),
            ));
        }
        let w = self.epsilon_warmup_epochs;
        if !(w.is_finite() && w >= 0.0) {
            return Err(TrainError::Recipe(format!(
                "the ε warm-up must be a number of epochs ≥ 0, got {w}"
            )));
        }
        Ok(())
    }

    /// The inner attack at fractional epoch `t`, seeded for step `step` of a run with seed
    /// `seed`.
    pub fn at(&self, t: f32, seed: u64, step: u64) -> AttackSpec {
        let w = self.epsilon_warmup_epochs;
        let scale = if w > 0.0 {
            (t / w).clamp(0.0, 1.0)
        } else {
            1.0
        };
        let a = &self.attack;
        AttackSpec {
            epsilon: a.epsilon * scale,
            step_size: a.step_size.map(|s| s * scale),
            seed: a
                .seed
                .wrapping_add(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                .wrapping_add(step),
            ..a.clone()
        }
    }
}

/// The inner attacks adversarial training offers by name (the CLI's `--adversarial`, the
/// page's menu).
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum AdversarialKind {
    /// PGD-K from a random start ([`Adversarial::pgd`]).
    Pgd,
    /// FGSM from a random start, one step of 1.25·ε ([`Adversarial::fgsm_rs`]; Wong, Rice
    /// & Kolter 2020).
    FgsmRs,
}

/// Adversarial training as a user states it: which attack, ε, PGD steps and ε warm-up.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdversarialOptions {
    /// The inner attack.
    pub kind: AdversarialKind,
    /// ε of the inner attack.
    pub epsilon: f32,
    /// Steps of PGD (ignored for FGSM-RS).
    #[serde(default = "default_adv_steps")]
    pub steps: usize,
    /// Epochs over which ε grows from 0.
    #[serde(default = "default_adv_warmup")]
    pub warmup_epochs: f32,
}

fn default_adv_steps() -> usize {
    7
}
fn default_adv_warmup() -> f32 {
    1.0
}

impl AdversarialOptions {
    /// The recipe's adversarial part.
    pub fn adversarial(&self) -> Adversarial {
        let adv = match self.kind {
            AdversarialKind::Pgd => Adversarial::pgd(self.epsilon, self.steps),
            AdversarialKind::FgsmRs => Adversarial::fgsm_rs(self.epsilon),
        };
        Adversarial {
            epsilon_warmup_epochs: self.warmup_epochs,
            ..adv
        }
    }
}
