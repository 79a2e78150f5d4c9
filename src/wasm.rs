//! The JavaScript surface: a thin layer that converts between JS values and the core.
//!
//! Every function returns `Result<_, JsError>` with a message a user can act on; nothing here
//! panics on bad input. Images cross the boundary as flat `Float32Array`s of N·784 pixels in
//! [0, 1] (row-major 28×28 each).

use crate::activation::ActivationLayer;
use crate::attack::{fgsm_from_gradient, iterative, AttackError, Goal, MAX_EPSILON};
use crate::digit::preprocess_rgba;
use crate::model::{validate_images, validate_labels, Model, CLASSES, IMAGE_SIDE};
use crate::weights::{self, ModelConfig};
use ndarray::{Array4, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use wasm_bindgen::prelude::*;

const PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;

fn images(pixels: &[f32]) -> Result<Array4<f32>, JsError> {
    if pixels.is_empty() || !pixels.len().is_multiple_of(PIXELS) {
        return Err(JsError::new(&format!(
            "expected a multiple of 784 pixels (28×28 per image), got {}",
            pixels.len()
        )));
    }
    let n = pixels.len() / PIXELS;
    Array4::from_shape_vec((n, 1, IMAGE_SIDE, IMAGE_SIDE), pixels.to_vec())
        .map_err(|e| JsError::new(&e.to_string()))
}

fn classes(values: &[u32]) -> Vec<usize> {
    values.iter().map(|&v| v as usize).collect()
}

/// A trained network loaded from safetensors bytes.
#[wasm_bindgen]
pub struct Network {
    model: Model,
    config: ModelConfig,
}

#[wasm_bindgen]
impl Network {
    /// Loads a network from the bytes of a `.safetensors` file written by splash.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8]) -> Result<Network, JsError> {
        let (model, config) = weights::load(bytes).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Network { model, config })
    }

    /// Short name, e.g. `lenet5-splash`.
    pub fn name(&self) -> String {
        self.config.spec.slug()
    }

    /// The configuration stored with the weights, as JSON.
    #[wasm_bindgen(js_name = configJson)]
    pub fn config_json(&self) -> String {
        serde_json::to_string(&self.config).unwrap_or_else(|_| "{}".into())
    }

    /// Class probabilities, N·10 values, for N images of 784 pixels in [0, 1].
    pub fn predict(&mut self, pixels: &[f32]) -> Result<Vec<f32>, JsError> {
        let x = images(pixels)?;
        let p = self
            .model
            .predict(&x)
            .map_err(|e| JsError::new(&e.to_string()))?;
        Ok(p.iter().copied().collect())
    }

    /// An adversarial batch: `steps` L∞ gradient-sign steps of size `step` within ε of the
    /// images (1 step of size ε is FGSM), untargeted against `classes` = true labels or
    /// targeted towards `classes` = targets; `random_start` makes it PGD (seeded by `seed`).
    #[allow(clippy::too_many_arguments)]
    pub fn attack(
        &mut self,
        pixels: &[f32],
        classes_: &[u32],
        targeted: bool,
        epsilon: f32,
        steps: u32,
        step: f32,
        random_start: bool,
        seed: u32,
    ) -> Result<Vec<f32>, JsError> {
        let x = images(pixels)?;
        let cls = classes(classes_);
        let goal = if targeted {
            Goal::Targeted(&cls)
        } else {
            Goal::Untargeted(&cls)
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed as u64);
        let adv = iterative(
            &mut self.model,
            &x,
            goal,
            epsilon,
            step,
            steps as usize,
            random_start.then_some(&mut rng),
        )
        .map_err(|e| JsError::new(&e.to_string()))?;
        Ok(adv.iter().copied().collect())
    }

    /// Untargeted FGSM images for several ε from one gradient: for each ε in `epsilons`, N
    /// images of 784 pixels, concatenated (ε-major). `labels` are the true classes.
    #[wasm_bindgen(js_name = fgsmSweep)]
    pub fn fgsm_sweep(
        &mut self,
        pixels: &[f32],
        labels: &[u32],
        epsilons: &[f32],
    ) -> Result<Vec<f32>, JsError> {
        let x = images(pixels)?;
        let cls = classes(labels);
        if let Some(e) = epsilons.iter().find(|e| !(0.0..=MAX_EPSILON).contains(*e)) {
            return Err(JsError::new(&AttackError::Epsilon(*e).to_string()));
        }
        validate_images(&x).map_err(|e| JsError::new(&e.to_string()))?;
        validate_labels(x.shape()[0], &cls).map_err(|e| JsError::new(&e.to_string()))?;
        let (_, grad) = self.model.input_gradient(&x, &cls);
        let mut out = Vec::with_capacity(epsilons.len() * pixels.len());
        for &eps in epsilons {
            out.extend(fgsm_from_gradient(&x, &grad, eps).iter().copied());
        }
        Ok(out)
    }

    /// Number of activation layers.
    #[wasm_bindgen(js_name = activationLayerCount)]
    pub fn activation_layer_count(&self) -> usize {
        self.model.activation_layers().len()
    }

    /// Names of the activation layers (`act1`, `act2`, ...).
    #[wasm_bindgen(js_name = activationLayerNames)]
    pub fn activation_layer_names(&self) -> Vec<String> {
        self.model
            .activation_layers()
            .iter()
            .map(|(n, _)| n.to_string())
            .collect()
    }

    /// h(x) of activation layer `layer` at each x.
    pub fn curve(&self, layer: usize, xs: &[f32]) -> Result<Vec<f32>, JsError> {
        let l = self.activation_layer(layer)?;
        Ok(xs.iter().map(|&x| l.activation().value(x)).collect())
    }

    /// a⁺ then a⁻ (8 values) of SPLASH layer `layer`; empty for a ReLU network.
    pub fn coefficients(&self, layer: usize) -> Result<Vec<f32>, JsError> {
        let l = self.activation_layer(layer)?;
        Ok(match l.activation().as_splash() {
            Some(s) => s.a_plus().into_iter().chain(s.a_minus()).collect(),
            None => Vec::new(),
        })
    }

    /// The pre-activations that reached activation layer `layer` for the first image of the
    /// last `predict` or `attack` call.
    #[wasm_bindgen(js_name = preActivations)]
    pub fn pre_activations(&self, layer: usize) -> Result<Vec<f32>, JsError> {
        let l = self.activation_layer(layer)?;
        let x = l
            .last_input()
            .ok_or_else(|| JsError::new("run predict first"))?;
        Ok(x.index_axis(Axis(0), 0).iter().copied().collect())
    }
}

impl Network {
    /// Activation layer `layer` (0-based), or an error naming how many there are.
    fn activation_layer(&self, layer: usize) -> Result<&ActivationLayer, JsError> {
        let layers = self.model.activation_layers();
        let count = layers.len();
        layers.get(layer).map(|(_, l)| *l).ok_or_else(|| {
            JsError::new(&format!("no activation layer {layer} (there are {count})"))
        })
    }
}

/// A canvas's RGBA bytes (`width`×`height`) as a centred 28×28 MNIST-like digit: 784 pixels
/// in [0, 1]. Errors on an empty canvas or a buffer of the wrong size.
#[wasm_bindgen(js_name = preprocessCanvas)]
pub fn preprocess_canvas(rgba: &[u8], width: usize, height: usize) -> Result<Vec<f32>, JsError> {
    preprocess_rgba(rgba, width, height)
        .map(|d| d.pixels)
        .map_err(|e| JsError::new(&e.to_string()))
}

/// Number of classes (10).
#[wasm_bindgen(js_name = classCount)]
pub fn class_count() -> usize {
    CLASSES
}
