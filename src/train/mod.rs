//! Training (SGD with Nesterov momentum, warm-up then cosine learning rate), clean or
//! adversarial ([`adversarial`]); the resumable run with its checkpoints that the CLI and
//! the study share ([`checkpoint`]); and clean accuracy (robust accuracy is in
//! [`crate::robustness`]).

pub mod adversarial;
pub mod checkpoint;

pub use adversarial::{
    Adversarial, AdversarialKind, AdversarialOptions, FGSM_RS_STEP_FACTOR, WATCH_DIGITS,
};

use crate::attack::{attack, top_class, AttackError, Goal};
use crate::data::{Augment, Dataset};
use crate::loss::cross_entropy;
use crate::model::Model;
use crate::nn::Mode;
use crate::parallel::on_pool;
use crate::robustness::EVAL_BATCH;
use crate::weights::{ModelConfig, WeightsError};
use ndarray::{ArrayD, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;

/// How the trainer optimises, as stated in the weights' recipe.
pub const OPTIMIZER: &str = "SGD, Nesterov momentum, warm-up then cosine learning rate";

/// A training run as a caller states it (the page's training panel): the knobs a visitor
/// turns; everything else is [`Recipe::default`], except that the learning rate warms up
/// over the first quarter of the run (at most one epoch), so that a run of an epoch or two
/// still reaches its peak and decays.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(target_arch = "wasm32", tsify(missing_as_null))]
pub struct RunOptions {
    /// Passes over the training digits.
    pub epochs: usize,
    /// Digits per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub learning_rate: f32,
    /// Seed for initialisation, order, augmentation and the inner attack.
    pub seed: u64,
    /// Random distortions of the training digits ([`Augment::default`]).
    pub augment: bool,
    /// Adversarial training, if any.
    #[serde(default)]
    pub adversarial: Option<AdversarialOptions>,
}

impl RunOptions {
    /// The full recipe, validated.
    pub fn recipe(&self) -> Result<Recipe, TrainError> {
        let recipe = Recipe {
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            seed: self.seed,
            augment: self.augment.then(Augment::default),
            adversarial: self
                .adversarial
                .as_ref()
                .map(AdversarialOptions::adversarial),
            warmup_epochs: (self.epochs as f32 / 4.0).min(1.0),
            ..Recipe::default()
        };
        recipe.validate()?;
        Ok(recipe)
    }
}

/// Why training could not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A recipe value that cannot train a model.
    #[error("bad recipe: {0}")]
    Recipe(String),
    /// The inner attack of adversarial training is invalid.
    #[error("bad adversarial training attack: {0}")]
    Attack(AttackError),
    /// The loss became NaN or infinite.
    #[error("training diverged at epoch {epoch}, step {step}: {what}; lower the learning rate")]
    Diverged {
        /// The epoch, from 1.
        epoch: usize,
        /// The step within the epoch, from 1.
        step: usize,
        /// What went non-finite.
        what: String,
    },
    /// There are no training digits.
    #[error("there are no training digits")]
    NoData,
    /// A checkpoint belongs to another model or recipe.
    #[error("{path} was made with another model or recipe; delete it or start afresh")]
    Mismatch {
        /// The checkpoint.
        path: PathBuf,
    },
    /// A checkpoint was made on other training digits than the run's.
    #[error("{path} was made on other training digits ({recorded}) than this run's ({now}): another --limit, --exclude or --data; delete it or start afresh")]
    DataMismatch {
        /// The checkpoint.
        path: PathBuf,
        /// What it recorded ("nothing recorded" for a checkpoint that records no data).
        recorded: String,
        /// This run's digits.
        now: String,
    },
    /// A checkpoint or weights file is invalid.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// Reading or writing a file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// How a model is trained. Stored in the weights' metadata.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", tsify(missing_as_null))]
pub struct Recipe {
    /// Passes over the training digits.
    pub epochs: usize,
    /// Digits per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub learning_rate: f32,
    /// Nesterov momentum.
    pub momentum: f32,
    /// L2 weight decay on conv and linear weights (not on biases, BatchNorm or SPLASH).
    pub weight_decay: f32,
    /// Epochs of linear warm-up from learning_rate/10, then cosine decay to 0.
    pub warmup_epochs: f32,
    /// Random distortions of the training digits, if any.
    pub augment: Option<Augment>,
    /// Seed for initialisation, shuffling, augmentation and the inner attack's starts.
    pub seed: u64,
    /// Train on attacked digits (absent: clean training).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adversarial: Option<Adversarial>,
}

impl Default for Recipe {
    fn default() -> Self {
        Recipe {
            epochs: 12,
            batch_size: 64,
            learning_rate: 0.05,
            momentum: 0.9,
            weight_decay: 5e-4,
            warmup_epochs: 1.0,
            augment: Some(Augment::default()),
            seed: 1,
            adversarial: None,
        }
    }
}

impl Recipe {
    /// Checks that the recipe can train a model.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |what: String| Err(TrainError::Recipe(what));
        if self.epochs == 0 || self.epochs > 10_000 {
            return bad(format!("epochs must be 1 to 10000, got {}", self.epochs));
        }
        if self.batch_size == 0 || self.batch_size > 4096 {
            return bad(format!(
                "the batch size must be 1 to 4096, got {}",
                self.batch_size
            ));
        }
        let finite_in = |v: f32, lo: f32, hi: f32| v.is_finite() && v >= lo && v <= hi;
        if !finite_in(self.learning_rate, f32::MIN_POSITIVE, 10.0) {
            return bad(format!(
                "the learning rate must be in (0, 10], got {}",
                self.learning_rate
            ));
        }
        if !finite_in(self.momentum, 0.0, 0.999) {
            return bad(format!(
                "momentum must be in [0, 0.999], got {}",
                self.momentum
            ));
        }
        if !finite_in(self.weight_decay, 0.0, 1.0) {
            return bad(format!(
                "weight decay must be in [0, 1], got {}",
                self.weight_decay
            ));
        }
        if !finite_in(self.warmup_epochs, 0.0, self.epochs as f32) {
            return bad(format!(
                "warm-up epochs must be in [0, epochs], got {}",
                self.warmup_epochs
            ));
        }
        match &self.adversarial {
            Some(adv) => {
                adv.validate()?;
                // A ramp longer than the run would label a model adversarially trained at
                // an ε it never reached.
                let w = adv.epsilon_warmup_epochs;
                if w > self.epochs as f32 {
                    return bad(format!(
                        "the ε warm-up ({w} epochs) must not be longer than the run ({} epochs): the model would never train at ε = {}",
                        self.epochs, adv.attack.epsilon
                    ));
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Learning rate at a fractional epoch `t` in [0, epochs].
    pub fn learning_rate_at(&self, t: f32) -> f32 {
        let peak = self.learning_rate;
        let warm = self.warmup_epochs.max(0.0);
        if t < warm {
            peak * (0.1 + 0.9 * t / warm)
        } else {
            let span = (self.epochs as f32 - warm).max(1e-6);
            let p = ((t - warm) / span).clamp(0.0, 1.0);
            peak * 0.5 * (1.0 + libm::cosf(std::f32::consts::PI * p))
        }
    }
}

/// Loss and accuracy over one epoch of training batches.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Clone, Copy, Debug, Serialize)]
pub struct EpochStats {
    /// The epoch just finished, from 1.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f32,
    /// Training accuracy (on the distorted digits).
    pub accuracy: f32,
    /// Wall-clock seconds of the training steps alone (no evaluation, no checkpoint).
    pub seconds: f64,
}

/// An epoch in progress (see [`Trainer::start_epoch`]): its shuffled order, the augmentation
/// generator and the running sums.
pub struct EpochRun {
    epoch: usize,
    rng: ChaCha8Rng,
    order: Vec<usize>,
    steps: usize,
    step: usize,
    digits: usize,
    loss_sum: f64,
    correct: usize,
    seen: usize,
}

impl EpochRun {
    /// The epoch, from 0.
    pub fn epoch(&self) -> usize {
        self.epoch
    }
    /// Steps done.
    pub fn step(&self) -> usize {
        self.step
    }
    /// Steps in the epoch.
    pub fn steps(&self) -> usize {
        self.steps
    }
    /// Whether every step is done.
    pub fn is_done(&self) -> bool {
        self.step >= self.steps
    }
}

/// A model, its optimiser state and its progress.
pub struct Trainer {
    /// The model being trained.
    pub model: Model,
    /// The recipe.
    pub recipe: Recipe,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Wall-clock seconds spent in [`Trainer::train_epoch`], over all sessions.
    pub seconds_trained: f64,
    /// The training digits' [`Dataset::fingerprint`] a resumed run recorded in its
    /// checkpoint (None for a fresh run, or a checkpoint that recorded none).
    pub trained_on: Option<String>,
    velocity: HashMap<String, ArrayD<f32>>,
}

impl Trainer {
    /// A trainer for a fresh model initialised from the recipe's seed.
    pub fn new(spec: crate::model::ModelSpec, recipe: Recipe) -> Self {
        Trainer {
            model: Model::new(spec, recipe.seed),
            recipe,
            epochs_done: 0,
            seconds_trained: 0.0,
            trained_on: None,
            velocity: HashMap::new(),
        }
    }

    /// A trainer that goes on from `model` (fine-tuning a trained network: fresh momentum,
    /// the recipe's schedule from its start).
    pub fn from_model(model: Model, recipe: Recipe) -> Self {
        Trainer {
            model,
            recipe,
            epochs_done: 0,
            seconds_trained: 0.0,
            trained_on: None,
            velocity: HashMap::new(),
        }
    }

    /// One pass over `data` (shuffled by a generator seeded from the recipe seed and the
    /// epoch, so a resumed run repeats the same epochs). `progress(done, total, loss)` is
    /// called after every step. A NaN or infinite loss stops the epoch with
    /// [`TrainError::Diverged`]. Native only: in WebAssembly the caller drives
    /// [`Trainer::start_epoch`], [`Trainer::train_step`] and [`Trainer::finish_epoch`] and
    /// measures the time itself.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn train_epoch(
        &mut self,
        data: &Dataset,
        progress: &mut (dyn FnMut(usize, usize, f32) + Send),
    ) -> Result<EpochStats, TrainError> {
        let started = std::time::Instant::now();
        let mut run = self.start_epoch(data)?;
        on_pool(|| {
            while !run.is_done() {
                let loss = self.train_step(data, &mut run)?;
                progress(run.step, run.steps, loss);
            }
            Ok::<(), TrainError>(())
        })?;
        self.finish_epoch(run, started.elapsed().as_secs_f64())
    }

    /// Starts the next epoch over `data`: its shuffled order (from the recipe seed and the
    /// epoch number) and empty running sums.
    pub fn start_epoch(&self, data: &Dataset) -> Result<EpochRun, TrainError> {
        self.recipe.validate()?;
        if data.is_empty() {
            return Err(TrainError::NoData);
        }
        if self.finished() {
            return Err(TrainError::Recipe(format!(
                "all {} epochs are done",
                self.recipe.epochs
            )));
        }
        let epoch = self.epochs_done;
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.recipe
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(epoch as u64),
        );
        let mut order: Vec<usize> = (0..data.len()).collect();
        order.shuffle(&mut rng);
        let steps = order.len().div_ceil(self.recipe.batch_size);
        Ok(EpochRun {
            epoch,
            rng,
            order,
            steps,
            step: 0,
            digits: data.len(),
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
        })
    }

    /// One training step of `run` (the next batch of `data`, attacked first if the recipe
    /// is adversarial); returns the batch's mean loss.
    pub fn train_step(&mut self, data: &Dataset, run: &mut EpochRun) -> Result<f32, TrainError> {
        if run.is_done() {
            return Err(TrainError::Recipe("the epoch has no steps left".into()));
        }
        if run.digits != data.len() || run.epoch != self.epochs_done {
            return Err(TrainError::Recipe(
                "this epoch was started on other digits or at another epoch".into(),
            ));
        }
        let (epoch, step, steps) = (run.epoch, run.step, run.steps);
        let bs = self.recipe.batch_size;
        let idx = &run.order[step * bs..((step + 1) * bs).min(run.order.len())];
        let (mut x, y) = match &self.recipe.augment {
            Some(a) => data.batch(idx, Some((a, &mut run.rng))),
            None => data.batch(idx, None),
        };
        let t = epoch as f32 + step as f32 / steps as f32;
        if let Some(adv) = &self.recipe.adversarial {
            let spec = adv.at(t, self.recipe.seed, (epoch * steps + step) as u64);
            x = attack(&mut self.model, &x, Goal::Untargeted(&y), &spec)
                .map_err(TrainError::Attack)?
                .adversarial;
        }
        self.model.zero_grad();
        let logits = self.model.forward(&x, Mode::Train).expect(BATCHES);
        let ce = cross_entropy(logits.view(), &y);
        let loss = ce.mean();
        if !loss.is_finite() {
            return Err(TrainError::Diverged {
                epoch: epoch + 1,
                step: step + 1,
                what: format!("the loss is {loss}"),
            });
        }
        let grad = ce.grad_sum(&y) / idx.len() as f32;
        self.model.backward_params(&grad).expect(BATCHES);
        self.sgd_step(self.recipe.learning_rate_at(t));
        run.loss_sum += ce.per_sample.sum() as f64;
        run.correct += count_correct(&logits, &y);
        run.seen += idx.len();
        run.step += 1;
        Ok(loss)
    }

    /// Ends `run` (all its steps done): checks that every weight is still finite, counts
    /// the epoch and adds `seconds` (measured by the caller) to the time trained.
    pub fn finish_epoch(&mut self, run: EpochRun, seconds: f64) -> Result<EpochStats, TrainError> {
        if !run.is_done() || run.epoch != self.epochs_done {
            return Err(TrainError::Recipe(format!(
                "the epoch is not finished ({} of {} steps)",
                run.step, run.steps
            )));
        }
        if let Some((name, _)) = self
            .model
            .state()
            .into_iter()
            .find(|(_, t)| t.iter().any(|v| !v.is_finite()))
        {
            return Err(TrainError::Diverged {
                epoch: run.epoch + 1,
                step: run.steps,
                what: format!("{name} is no longer finite"),
            });
        }
        self.epochs_done += 1;
        let seconds = if seconds.is_finite() {
            seconds.max(0.0)
        } else {
            0.0
        };
        self.seconds_trained += seconds;
        Ok(EpochStats {
            seconds,
            epoch: self.epochs_done,
            loss: (run.loss_sum / run.seen.max(1) as f64) as f32,
            accuracy: run.correct as f32 / run.seen.max(1) as f32,
        })
    }

    fn sgd_step(&mut self, lr: f32) {
        let (mu, wd) = (self.recipe.momentum, self.recipe.weight_decay);
        for (name, p) in self.model.params_mut() {
            let v = self
                .velocity
                .entry(name)
                .or_insert_with(|| ArrayD::zeros(p.value.raw_dim()));
            let decay = if p.decay { wd } else { 0.0 };
            ndarray::Zip::from(&mut p.value)
                .and(&p.grad)
                .and(v)
                .for_each(|w, &g, v| {
                    let d = g + decay * *w;
                    *v = mu * *v + d;
                    *w -= lr * (d + mu * *v);
                });
        }
    }
}

impl Trainer {
    /// The configuration to save with the trained weights: `base` with the seed, the test
    /// accuracy (if measured) and the recipe, annotated with the optimiser, the training
    /// digits (`training_digits`, their count, and `training_data`, their
    /// [`Dataset::fingerprint`]), the seconds spent training over all sessions
    /// (`train_seconds`) and, if the caller timed it, the wall-clock seconds of this
    /// session (`train_seconds_this_run`).
    pub fn final_config(
        &self,
        base: &ModelConfig,
        test_accuracy: Option<f32>,
        data: &Dataset,
        seconds_this_run: Option<f32>,
    ) -> ModelConfig {
        let mut recipe = crate::weights::json_value(&self.recipe).unwrap_or_default();
        if let Some(r) = recipe.as_object_mut() {
            r.insert("optimizer".into(), OPTIMIZER.into());
            r.insert("training_digits".into(), data.len().into());
            r.insert("training_data".into(), data.fingerprint().into());
            r.insert("train_seconds".into(), self.seconds_trained.into());
            if let Some(s) = seconds_this_run {
                r.insert("train_seconds_this_run".into(), s.into());
            }
        }
        ModelConfig {
            seed: Some(self.recipe.seed),
            test_accuracy,
            recipe: Some(recipe),
            ..base.clone()
        }
    }

    /// Whether every epoch of the recipe is done.
    pub fn finished(&self) -> bool {
        self.epochs_done >= self.recipe.epochs
    }
}

fn count_correct(logits: &ndarray::Array2<f32>, labels: &[usize]) -> usize {
    argmax_rows(logits)
        .iter()
        .zip(labels)
        .filter(|(p, y)| p == y)
        .count()
}

/// Index of the largest value in each row (the first one on ties).
pub fn argmax_rows(a: &ndarray::Array2<f32>) -> Vec<usize> {
    a.axis_iter(Axis(0))
        .map(|row| top_class(row.iter().copied()))
        .collect()
}

/// Why the model's passes in training and evaluation cannot fail: they run on
/// [`Dataset::batch`]es, (N, 1, 28, 28) with one label per image.
const BATCHES: &str = "a dataset's batches are (N, 1, 28, 28) images with their labels";

/// Accuracy of `model` on `data` in evaluation mode.
pub fn accuracy(model: &mut Model, data: &Dataset) -> f32 {
    on_pool(|| accuracy_here(model, data))
}

fn accuracy_here(model: &mut Model, data: &Dataset) -> f32 {
    let idx: Vec<usize> = (0..data.len()).collect();
    let mut correct = 0;
    for chunk in idx.chunks(EVAL_BATCH) {
        let (x, y) = data.batch(chunk, None);
        correct += count_correct(&model.forward(&x, Mode::Eval).expect(BATCHES), &y);
    }
    correct as f32 / data.len().max(1) as f32
}
