//! The checkpoint format: a weights file (see [`crate::weights`]) with the optimiser's
//! momentum as extra tensors `optim.<parameter>` and the progress in the metadata
//! (`epochs_done`, `seconds_trained`, and the recipe as JSON); resuming checks every part of
//! it. Checkpoints are written atomically.

#[cfg(not(target_arch = "wasm32"))]
use super::{EpochStats, TrainError};
use super::{Recipe, Trainer};
use crate::data::Dataset;
use crate::weights::{self, ModelConfig, WeightsError};
use ndarray::ArrayD;
use std::collections::HashMap;

impl Trainer {
    /// The model, optimiser state and progress as safetensors bytes (`optim.<param>` holds
    /// the momentum; metadata `epochs_done`, `recipe` and `training_data`, the
    /// [`Dataset::fingerprint`] of the digits it is trained on).
    pub fn checkpoint(&self, config: &ModelConfig, data: &Dataset) -> Vec<u8> {
        let mut config = config.clone();
        config.recipe = Some(serde_json::to_value(&self.recipe).expect("serialisable"));
        let bytes = weights::save(&self.model, &config);
        let decoded = weights::decode(&bytes).expect("just written");
        let mut meta = decoded.metadata;
        meta.insert("epochs_done".into(), self.epochs_done.to_string());
        meta.insert("seconds_trained".into(), self.seconds_trained.to_string());
        meta.insert("training_data".into(), data.fingerprint());
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
        let epochs_done: usize = done.parse().map_err(|_| WeightsError::BadMetadata {
            key: "epochs_done",
            value: done.clone(),
            reason: "not a count".into(),
        })?;
        let seconds_trained = decoded
            .metadata
            .get("seconds_trained")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0);
        let trained_on = decoded.metadata.get("training_data").cloned();
        let velocity: HashMap<String, ArrayD<f32>> = decoded
            .tensors
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix("optim.").map(|n| (n.to_string(), v)))
            .collect();
        // Momentum for exactly the parameters, of their shapes (none before the first step).
        let mut model = model;
        let params = model.params_mut();
        if epochs_done > 0 || !velocity.is_empty() {
            for (name, p) in &params {
                let v = velocity
                    .get(name)
                    .ok_or_else(|| WeightsError::Missing(format!("optim.{name}")))?;
                if v.shape() != p.value.shape() {
                    return Err(WeightsError::Shape {
                        name: format!("optim.{name}"),
                        expected: p.value.shape().to_vec(),
                        found: v.shape().to_vec(),
                    });
                }
            }
        }
        if let Some(extra) = velocity
            .keys()
            .find(|k| !params.iter().any(|(n, _)| n == *k))
        {
            return Err(WeightsError::Unexpected(format!("optim.{extra}")));
        }
        drop(params);
        if epochs_done > recipe.epochs {
            return Err(WeightsError::BadMetadata {
                key: "epochs_done",
                value: epochs_done.to_string(),
                reason: format!("more than the recipe's {} epochs", recipe.epochs),
            });
        }
        Ok((
            Trainer {
                model,
                recipe,
                epochs_done,
                seconds_trained,
                trained_on,
                velocity,
            },
            config,
        ))
    }
    /// The trainer for `spec` and `recipe` on `data` whose checkpoint is `checkpoint`:
    /// resumed from it if it exists (it must hold the same model and recipe, made on the
    /// same digits), fresh otherwise.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(
        spec: crate::model::ModelSpec,
        recipe: Recipe,
        data: &Dataset,
        checkpoint: &std::path::Path,
    ) -> Result<Self, TrainError> {
        recipe.validate()?;
        if !checkpoint.exists() {
            return Ok(Trainer::new(spec, recipe));
        }
        let (t, c) = Trainer::resume(&crate::files::read_bounded(
            checkpoint,
            crate::weights::MAX_FILE_BYTES,
        )?)?;
        if c.spec != spec || t.recipe != recipe {
            return Err(TrainError::Mismatch {
                path: checkpoint.to_path_buf(),
            });
        }
        let now = data.fingerprint();
        if t.trained_on.as_deref() != Some(now.as_str()) {
            return Err(TrainError::DataMismatch {
                path: checkpoint.to_path_buf(),
                recorded: t
                    .trained_on
                    .clone()
                    .unwrap_or_else(|| "nothing recorded".into()),
                now,
            });
        }
        Ok(t)
    }

    /// One epoch ([`Trainer::train_epoch`]), then the checkpoint written atomically.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn epoch_with_checkpoint(
        &mut self,
        data: &Dataset,
        checkpoint: &std::path::Path,
        config: &ModelConfig,
        progress: &mut (dyn FnMut(usize, usize, f32) + Send),
    ) -> Result<EpochStats, TrainError> {
        let stats = self.train_epoch(data, progress)?;
        weights::write_atomic(checkpoint, &self.checkpoint(config, data))?;
        Ok(stats)
    }
}
