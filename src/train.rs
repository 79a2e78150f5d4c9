//! Training (SGD with Nesterov momentum, warm-up then cosine learning rate), checkpoints,
//! and clean accuracy (robust accuracy is in [`crate::robustness`]).

use crate::attack::top_class;
use crate::data::{Augment, Dataset};
use crate::loss::cross_entropy;
use crate::model::Model;
use crate::nn::Mode;
use crate::parallel::on_pool;
use crate::robustness::EVAL_BATCH;
use crate::weights::{self, ModelConfig, WeightsError};
use ndarray::{ArrayD, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How a model is trained. Stored in the weights' metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// Seed for initialisation, shuffling and augmentation.
    pub seed: u64,
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
        }
    }
}

impl Recipe {
    /// Learning rate at a fractional epoch `t` in [0, epochs].
    pub fn learning_rate_at(&self, t: f32) -> f32 {
        let peak = self.learning_rate;
        let warm = self.warmup_epochs.max(0.0);
        if t < warm {
            peak * (0.1 + 0.9 * t / warm)
        } else {
            let span = (self.epochs as f32 - warm).max(1e-6);
            let p = ((t - warm) / span).clamp(0.0, 1.0);
            peak * 0.5 * (1.0 + (std::f32::consts::PI * p).cos())
        }
    }
}

/// Loss and accuracy over one epoch of training batches.
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
            velocity: HashMap::new(),
        }
    }

    /// One pass over `data` (shuffled by a generator seeded from the recipe seed and the
    /// epoch, so a resumed run repeats the same epochs). `progress(done, total, loss)` is
    /// called after every step.
    pub fn train_epoch(
        &mut self,
        data: &Dataset,
        progress: &mut (dyn FnMut(usize, usize, f32) + Send),
    ) -> EpochStats {
        on_pool(|| self.train_epoch_here(data, progress))
    }

    fn train_epoch_here(
        &mut self,
        data: &Dataset,
        progress: &mut (dyn FnMut(usize, usize, f32) + Send),
    ) -> EpochStats {
        let started = std::time::Instant::now();
        let epoch = self.epochs_done;
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.recipe
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(epoch as u64),
        );
        let mut order: Vec<usize> = (0..data.len()).collect();
        order.shuffle(&mut rng);
        let bs = self.recipe.batch_size.max(1);
        let steps = order.len().div_ceil(bs);
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        for (step, idx) in order.chunks(bs).enumerate() {
            let aug = self.recipe.augment.clone();
            let (x, y) = match &aug {
                Some(a) => data.batch(idx, Some((a, &mut rng))),
                None => data.batch(idx, None),
            };
            self.model.zero_grad();
            let logits = self.model.forward(&x, Mode::Train);
            let ce = cross_entropy(logits.view(), &y);
            let grad = ce.grad_sum(&y) / idx.len() as f32;
            self.model.backward_params(&grad);
            let t = epoch as f32 + step as f32 / steps as f32;
            self.sgd_step(self.recipe.learning_rate_at(t));
            loss_sum += ce.per_sample.sum() as f64;
            correct += count_correct(&logits, &y);
            seen += idx.len();
            progress(step + 1, steps, ce.mean());
        }
        self.epochs_done += 1;
        let seconds = started.elapsed().as_secs_f64();
        self.seconds_trained += seconds;
        EpochStats {
            seconds,
            epoch: self.epochs_done,
            loss: (loss_sum / seen.max(1) as f64) as f32,
            accuracy: correct as f32 / seen.max(1) as f32,
        }
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

    /// The model, optimiser state and progress as safetensors bytes (`optim.<param>` holds
    /// the momentum; metadata `epochs_done` and `recipe`).
    pub fn checkpoint(&self, config: &ModelConfig) -> Vec<u8> {
        let mut config = config.clone();
        config.recipe = Some(serde_json::to_value(&self.recipe).expect("serialisable"));
        let bytes = weights::save(&self.model, &config);
        let decoded = weights::decode(&bytes).expect("just written");
        let mut meta = decoded.metadata;
        meta.insert("epochs_done".into(), self.epochs_done.to_string());
        meta.insert("seconds_trained".into(), self.seconds_trained.to_string());
        let mut tensors: Vec<(String, &ArrayD<f32>)> = decoded
            .tensors
            .iter()
            .map(|(k, v)| (k.clone(), v))
            .collect();
        let mut names: Vec<&String> = self.velocity.keys().collect();
        names.sort();
        for name in names {
            tensors.push((format!("optim.{name}"), &self.velocity[name]));
        }
        weights::encode(tensors, meta)
    }

    /// Restores a trainer from [`Trainer::checkpoint`] bytes.
    pub fn resume(bytes: &[u8]) -> Result<(Self, ModelConfig), WeightsError> {
        let (model, config, decoded) = weights::load_with_extras(bytes, &["optim."])?;
        let recipe: Recipe = config
            .recipe
            .clone()
            .ok_or(WeightsError::MissingMetadata("recipe"))
            .and_then(|r| {
                serde_json::from_value(r.clone()).map_err(|e| WeightsError::BadMetadata {
                    key: "recipe",
                    value: r.to_string(),
                    reason: e.to_string(),
                })
            })?;
        let done = decoded
            .metadata
            .get("epochs_done")
            .ok_or(WeightsError::MissingMetadata("epochs_done"))?;
        let epochs_done = done.parse().map_err(|_| WeightsError::BadMetadata {
            key: "epochs_done",
            value: done.clone(),
            reason: "not a count".into(),
        })?;
        let seconds_trained = decoded
            .metadata
            .get("seconds_trained")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0);
        let velocity = decoded
            .tensors
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix("optim.").map(|n| (n.to_string(), v)))
            .collect();
        Ok((
            Trainer {
                model,
                recipe,
                epochs_done,
                seconds_trained,
                velocity,
            },
            config,
        ))
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

/// Accuracy of `model` on `data` in evaluation mode.
pub fn accuracy(model: &mut Model, data: &Dataset) -> f32 {
    on_pool(|| accuracy_here(model, data))
}

fn accuracy_here(model: &mut Model, data: &Dataset) -> f32 {
    let idx: Vec<usize> = (0..data.len()).collect();
    let mut correct = 0;
    for chunk in idx.chunks(EVAL_BATCH) {
        let (x, y) = data.batch(chunk, None);
        correct += count_correct(&model.forward(&x, Mode::Eval), &y);
    }
    correct as f32 / data.len().max(1) as f32
}
