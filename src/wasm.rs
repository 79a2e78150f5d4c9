//! The JavaScript surface: a thin layer that converts between JS values and the core.
//!
//! Every function returns `Result<_, JsError>` with a message a user can act on; nothing here
//! panics on bad input. Images cross the boundary as flat `Float32Array`s of N·784 pixels in
//! [0, 1] (row-major 28×28 each). Structured values (attack specs, training options, step
//! reports, configurations, limits) cross as plain JS objects through serde-wasm-bindgen,
//! typed in the generated `.d.ts` by tsify from the same serde definitions the core uses.
//! They are converted inside each function ([`Ts::to_rust`]), so a malformed object is an
//! ordinary error, not an exception thrown from the glue past Rust's destructors.

use crate::activation::ActivationLayer;
use crate::attack::{
    attack, AttackSpec, Goal, MAX_EPSILON, MAX_QUERIES, MAX_RESTARTS, MAX_STEPS, STEP_SIZE_FACTOR,
};
use crate::data::Dataset;
use crate::data::PIXELS;
use crate::digit::preprocess_rgba;
use crate::model::{Model, CLASSES, IMAGE_SIDE, MNIST_MEAN, MNIST_STD};
use crate::robustness::{breaking_point, robust_batch, BatchResult, BreakingPoint, MAX_EPSILONS};
use crate::train::{accuracy, Adversarial};
#[cfg(feature = "training")]
use crate::train::{EpochRun, EpochStats, RunOptions, Trainer};
use crate::weights::{self, ModelConfig};
use js_sys::{Float32Array, Uint32Array, Uint8Array};
use ndarray::{Array4, Axis};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

/// Most images in one call (the page sends a few hundred at a time).
pub const MAX_IMAGES_PER_CALL: usize = 4096;

/// Runs when the module is instantiated: a panic (a bug: every bad input is an error) is
/// printed to the console with its message and location, not only as "unreachable".
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        let message = format!("splash (WebAssembly) panicked: {info}");
        web_sys::console::error_1(&JsValue::from_str(&message));
    }));
}

fn js(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// The Rust value of a JS object typed `T`, with every rule of `T`'s serde definition: an
/// unknown field (a misspelt setting) is an error, as is a wrong type, and `what` says what
/// was being read. (Through a serde_json value: serde-wasm-bindgen reads a struct's known
/// fields only, so `deny_unknown_fields` would never fire.)
/// A member that is `undefined` or `null` counts as missing (so it takes its default), as
/// it did when the page sent `JSON.stringify`'s text.
fn from_js<T: DeserializeOwned + Tsify>(value: Ts<T>, what: &str) -> Result<T, JsError> {
    fn drop_missing(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(fields) => {
                fields.retain(|_, f| !f.is_null());
                fields.values_mut().for_each(drop_missing);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(drop_missing),
            _ => {}
        }
    }
    let mut tree: serde_json::Value =
        serde_wasm_bindgen::from_value(value.into()).map_err(|e| js(format!("{what}: {e}")))?;
    drop_missing(&mut tree);
    serde_json::from_value(tree).map_err(|e| js(format!("{what}: {e}")))
}

/// Reads an attack (an [`AttackSpec`] object; missing fields take their defaults) and
/// validates it.
fn spec(spec: Ts<AttackSpec>) -> Result<AttackSpec, JsError> {
    let s = from_js(spec, "attack settings")?;
    s.validate().map_err(js)?;
    Ok(s)
}

/// `value` as the JS object its TypeScript type describes: objects for maps, `null` for a
/// missing value, and f32 numbers as their shortest decimals ([`weights::json_value`]).
fn to_js<T: Serialize + Tsify>(value: &T) -> Result<Ts<T>, JsError> {
    let tree = weights::json_value(value).map_err(js)?;
    let object = tree
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(js)?;
    Ok(Ts::new_unchecked(object))
}

fn images(pixels: &[f32]) -> Result<Array4<f32>, JsError> {
    if pixels.is_empty() || !pixels.len().is_multiple_of(PIXELS) {
        return Err(JsError::new(&format!(
            "expected a multiple of 784 pixels (28×28 per image), got {}",
            pixels.len()
        )));
    }
    if pixels.len() / PIXELS > MAX_IMAGES_PER_CALL {
        return Err(JsError::new(&format!(
            "at most {MAX_IMAGES_PER_CALL} images per call, got {}",
            pixels.len() / PIXELS
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

    /// The configuration stored with the weights: architecture, hinges, seed, test
    /// accuracy, how it was trained.
    pub fn config(&self) -> Result<Ts<ModelConfig>, JsError> {
        to_js(&self.config)
    }

    /// Accuracy on digits given as bytes (784 per digit, 0 = background, 255 = ink) with
    /// their labels.
    pub fn accuracy(&mut self, images: &[u8], labels: &[u8]) -> Result<f32, JsError> {
        let data = digits(images, labels)?;
        Ok(accuracy(&mut self.model, &data))
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

    /// How far the change from `clean` to `changed` (one image each) travels: the relative
    /// change of each activation layer's input, then of the logits.
    #[wasm_bindgen(js_name = perturbationTrace)]
    pub fn perturbation_trace(
        &mut self,
        clean: &[f32],
        changed: &[f32],
    ) -> Result<Vec<f32>, JsError> {
        let (x, y) = (images(clean)?, images(changed)?);
        self.model
            .perturbation_trace(&x, &y)
            .map_err(|e| JsError::new(&e.to_string()))
    }

    /// Attacks N images (784 pixels each in [0, 1]) with the attack `spec`: untargeted
    /// against `classes` = true labels, or targeted towards `classes` = targets.
    pub fn attack(
        &mut self,
        pixels: &[f32],
        classes_: &[u32],
        targeted: bool,
        spec: Ts<AttackSpec>,
    ) -> Result<AttackResult, JsError> {
        let x = images(pixels)?;
        let cls = classes(classes_);
        let goal = if targeted {
            Goal::Targeted(&cls)
        } else {
            Goal::Untargeted(&cls)
        };
        let o = attack(&mut self.model, &x, goal, &self::spec(spec)?).map_err(js)?;
        Ok(AttackResult {
            adversarial: o.adversarial.iter().copied().collect(),
            fooled: o.fooled.iter().map(|&f| f as u8).collect(),
            queries: o.queries.iter().map(|&q| q as u32).collect(),
        })
    }

    /// White-box robustness of N images with true `labels` under the attack `spec` at
    /// every ε of `epsilons` (the spec's own ε is ignored): per ε, per image, 1 where the
    /// image is classified correctly clean and under the attack (ε-major, N·|ε| values).
    pub fn robustness(
        &mut self,
        pixels: &[f32],
        labels: &[u32],
        spec: Ts<AttackSpec>,
        epsilons: &[f32],
    ) -> Result<RobustnessResult, JsError> {
        robustness(&mut self.model, None, pixels, labels, spec, epsilons)
    }

    /// The smallest ε at which the attack `spec` fools this network on one image with true
    /// `label`, by bisection on [0, `max_epsilon`] to within `tolerance`: `holds_at` (the
    /// largest ε tried that did not fool it) and `breaks_at` (null if none did).
    #[wasm_bindgen(js_name = breakingPoint)]
    pub fn breaking_point(
        &mut self,
        pixels: &[f32],
        label: u32,
        spec: Ts<AttackSpec>,
        max_epsilon: f32,
        tolerance: f32,
    ) -> Result<Ts<BreakingPoint>, JsError> {
        let x = images(pixels)?;
        let b = breaking_point(
            &mut self.model,
            &x,
            label as usize,
            &self::spec(spec)?,
            max_epsilon,
            tolerance,
        )
        .map_err(js)?;
        to_js(&b)
    }

    /// Like [`Network::robustness`], but the images are crafted on this network and
    /// classified by `victim` (a transfer attack; the attack runs its whole budget).
    #[wasm_bindgen(js_name = robustnessTransfer)]
    pub fn robustness_transfer(
        &mut self,
        victim: &mut Network,
        pixels: &[f32],
        labels: &[u32],
        spec: Ts<AttackSpec>,
        epsilons: &[f32],
    ) -> Result<RobustnessResult, JsError> {
        robustness(
            &mut self.model,
            Some(&mut victim.model),
            pixels,
            labels,
            spec,
            epsilons,
        )
    }

    /// Number of activation layers.
    #[wasm_bindgen(js_name = activationLayerCount)]
    pub fn activation_layer_count(&self) -> usize {
        self.model.activation_layers().len()
    }

    /// Where each activation layer sits, e.g. `conv2 (16 channels, 5×5) → bn2 → act2`.
    #[wasm_bindgen(js_name = activationSites)]
    pub fn activation_sites(&self) -> Vec<String> {
        self.model.activation_sites()
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

    /// Sets a⁺ then a⁻ (8 values) of SPLASH layer `layer`.
    #[wasm_bindgen(js_name = setCoefficients)]
    pub fn set_coefficients(&mut self, layer: usize, coefficients: &[f32]) -> Result<(), JsError> {
        let c: [f32; 8] = coefficients.try_into().map_err(|_| {
            JsError::new(&format!(
                "expected 8 coefficients (a⁺ then a⁻), got {}",
                coefficients.len()
            ))
        })?;
        self.model
            .set_splash_coefficients(layer, [c[0], c[1], c[2], c[3]], [c[4], c[5], c[6], c[7]])
            .map_err(|e| JsError::new(&e))
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

/// Digits as bytes (784 per digit) and labels, as a [`Dataset`].
fn digits(images: &[u8], labels: &[u8]) -> Result<Dataset, JsError> {
    if labels.is_empty() {
        return Err(JsError::new("no digits given"));
    }
    if labels.len() > MAX_TRAINING_DIGITS {
        return Err(JsError::new(&format!(
            "at most {MAX_TRAINING_DIGITS} digits, got {}",
            labels.len()
        )));
    }
    Dataset::from_parts(images.to_vec(), labels.to_vec()).map_err(js)
}

/// Most digits a [`Training`] holds (MNIST's training set).
pub const MAX_TRAINING_DIGITS: usize = 60_000;

/// A network being trained in the page on digits it was given, driven step by step by the
/// caller (who measures the time: the core reads no clock in WebAssembly). In the build with
/// the `training` feature only (the training worker's module), so that the page's module
/// does not carry the trainer.
#[cfg(feature = "training")]
#[wasm_bindgen]
pub struct Training {
    trainer: Trainer,
    base: ModelConfig,
    data: Dataset,
    run: Option<EpochRun>,
}

#[cfg(feature = "training")]
#[wasm_bindgen]
impl Training {
    /// A run described by `options` (`{epochs, batch_size, learning_rate, seed, augment,
    /// adversarial: null | {kind: "pgd" | "fgsm-rs", epsilon, steps, warmup_epochs}}`) on
    /// `images` (784 bytes per digit) and `labels`. The network is `start` (a
    /// `.safetensors` file, to fine-tune it) or, if `start` is empty, a fresh LeNet5 with
    /// `activation` ("splash", "relu", …) initialised from the seed.
    #[wasm_bindgen(constructor)]
    pub fn new(
        options: Ts<RunOptions>,
        activation: &str,
        start: &[u8],
        images: &[u8],
        labels: &[u8],
    ) -> Result<Training, JsError> {
        let options = from_js(options, "training settings")?;
        let recipe = options.recipe().map_err(js)?;
        let data = digits(images, labels)?;
        let (trainer, base) = if start.is_empty() {
            let kind = activation.parse().map_err(js)?;
            let spec = crate::model::ModelSpec::lenet5(kind);
            (Trainer::new(spec, recipe), ModelConfig::new(spec))
        } else {
            let (model, config) = weights::load(start).map_err(js)?;
            (
                Trainer::from_model(model, recipe),
                ModelConfig::new(config.spec),
            )
        };
        Ok(Training {
            trainer,
            base,
            data,
            run: None,
        })
    }

    /// Runs up to `max_steps` training steps (never past the end of an epoch) and reports
    /// them (see [`StepReport`]; after the epoch's last step, call `finishEpoch`).
    pub fn step(&mut self, max_steps: usize) -> Result<Ts<StepReport>, JsError> {
        if self.run.is_none() {
            self.run = Some(self.trainer.start_epoch(&self.data).map_err(js)?);
        }
        let run = self.run.as_mut().expect("just started");
        let (mut sum, mut n) = (0.0f64, 0usize);
        while n < max_steps.max(1) && !run.is_done() {
            sum += self.trainer.train_step(&self.data, run).map_err(js)? as f64;
            n += 1;
        }
        to_js(&StepReport {
            epoch: run.epoch() + 1,
            step: run.step(),
            steps: run.steps(),
            loss: sum / n as f64,
            epoch_end: run.is_done(),
        })
    }

    /// Ends the epoch whose last step is done: its number, training loss and accuracy over
    /// the epoch, and `seconds`, the time the caller measured for the epoch's steps.
    #[wasm_bindgen(js_name = finishEpoch)]
    pub fn finish_epoch(&mut self, seconds: f64) -> Result<Ts<EpochStats>, JsError> {
        let run = self
            .run
            .take()
            .ok_or_else(|| JsError::new("no epoch is running"))?;
        if !run.is_done() {
            let msg = format!("the epoch has {} steps left", run.steps() - run.step());
            self.run = Some(run);
            return Err(JsError::new(&msg));
        }
        let stats = self.trainer.finish_epoch(run, seconds).map_err(js)?;
        to_js(&stats)
    }

    /// The attack that watches an adversarial run after every epoch (`spec` for
    /// `Network.robustness`), or `undefined` for standard training.
    #[wasm_bindgen(js_name = watchAttack)]
    pub fn watch_attack(&self) -> Result<Option<Ts<WatchAttack>>, JsError> {
        let Some(adv) = self.trainer.recipe.adversarial.as_ref() else {
            return Ok(None);
        };
        let spec = adv.watch_attack();
        to_js(&WatchAttack {
            name: spec.name(),
            spec,
        })
        .map(Some)
    }

    /// Epochs completed.
    #[wasm_bindgen(js_name = epochsDone)]
    pub fn epochs_done(&self) -> usize {
        self.trainer.epochs_done
    }

    /// Whether every epoch is done.
    pub fn finished(&self) -> bool {
        self.trainer.finished()
    }

    /// The network as it is now, as a [`Network`] (for predictions, attacks and curves).
    pub fn network(&self) -> Result<Network, JsError> {
        Network::new(&self.weights())
    }

    /// h(x) of every activation layer at each x, layer after layer (|layers|·|xs| values).
    pub fn curves(&self, xs: &[f32]) -> Vec<f32> {
        self.trainer
            .model
            .activation_layers()
            .iter()
            .flat_map(|(_, l)| xs.iter().map(|&x| l.activation().value(x)))
            .collect()
    }

    /// The trained network as `.safetensors` bytes in the project's format, with the
    /// recipe and the number of training digits in its metadata (no MNIST test accuracy:
    /// the page does not have the test set).
    pub fn weights(&self) -> Vec<u8> {
        let config = self
            .trainer
            .final_config(&self.base, None, &self.data, None);
        weights::save(&self.trainer.model, &config)
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

/// The models' fixed numbers, so that scripts do not repeat them.
#[derive(Serialize, Tsify)]
pub struct ModelConstants {
    /// Side of the square input image (28).
    pub image_side: usize,
    /// Pixels per image (784).
    pub pixels: usize,
    /// Classes (10).
    pub classes: usize,
    /// Mean of the MNIST training pixels, subtracted inside the model.
    pub mnist_mean: f32,
    /// Their standard deviation, divided by inside the model.
    pub mnist_std: f32,
    /// SPLASH's hinge locations b.
    pub hinges: [f32; 4],
    /// The largest SPLASH coefficient `setCoefficients` accepts.
    pub max_bent_coefficient: f32,
}

/// The models' fixed numbers (see [`ModelConstants`]).
#[wasm_bindgen(js_name = modelConstants)]
pub fn model_constants() -> Result<Ts<ModelConstants>, JsError> {
    to_js(&ModelConstants {
        image_side: IMAGE_SIDE,
        pixels: PIXELS,
        classes: CLASSES,
        mnist_mean: MNIST_MEAN,
        mnist_std: MNIST_STD,
        hinges: crate::SPLASH_HINGES,
        max_bent_coefficient: crate::model::MAX_BENT_COEFFICIENT,
    })
}

/// [`robust_batch`] on JS inputs: images crafted on `source`, classified by `victim` (or
/// by `source` itself).
fn robustness(
    source: &mut Model,
    victim: Option<&mut Model>,
    pixels: &[f32],
    labels: &[u32],
    spec: Ts<AttackSpec>,
    epsilons: &[f32],
) -> Result<RobustnessResult, JsError> {
    let x = images(pixels)?;
    let spec = self::spec(spec)?;
    let r = robust_batch(source, victim, &x, &classes(labels), &spec, epsilons).map_err(js)?;
    Ok(RobustnessResult::from(r))
}

/// What [`Network::attack`] returns.
#[wasm_bindgen]
pub struct AttackResult {
    adversarial: Vec<f32>,
    fooled: Vec<u8>,
    queries: Vec<u32>,
}

#[wasm_bindgen]
impl AttackResult {
    /// The adversarial images, N·784 pixels (copied once, straight into a JS array).
    #[wasm_bindgen(getter)]
    pub fn adversarial(&self) -> Float32Array {
        self.adversarial.as_slice().into()
    }
    /// Per image, 1 if the network is fooled by its adversarial image.
    #[wasm_bindgen(getter)]
    pub fn fooled(&self) -> Uint8Array {
        self.fooled.as_slice().into()
    }
    /// Per image, the queries (forward passes) the attack spent.
    #[wasm_bindgen(getter)]
    pub fn queries(&self) -> Uint32Array {
        self.queries.as_slice().into()
    }
}

/// What [`Network::robustness`] returns.
#[wasm_bindgen]
pub struct RobustnessResult {
    robust: Vec<u8>,
    queries: Vec<u32>,
}

impl From<BatchResult> for RobustnessResult {
    fn from(r: BatchResult) -> Self {
        RobustnessResult {
            robust: r.robust.iter().flatten().map(|&b| b as u8).collect(),
            queries: r.queries.iter().flatten().map(|&q| q as u32).collect(),
        }
    }
}

#[wasm_bindgen]
impl RobustnessResult {
    /// ε-major, N per ε: 1 where the image is robust.
    #[wasm_bindgen(getter)]
    pub fn robust(&self) -> Uint8Array {
        self.robust.as_slice().into()
    }
    /// ε-major, N per ε: queries spent per image.
    #[wasm_bindgen(getter)]
    pub fn queries(&self) -> Uint32Array {
        self.queries.as_slice().into()
    }
}

/// The attacks' bounds and defaults, so that the page builds its controls from the core's
/// rules.
#[derive(Serialize, Tsify)]
pub struct AttackLimits {
    /// Largest ε.
    pub max_epsilon: f32,
    /// Most steps of an iterative attack.
    pub max_steps: usize,
    /// Most restarts.
    pub max_restarts: usize,
    /// Most queries of the Square Attack.
    pub max_queries: usize,
    /// Most ε values in one robustness call.
    pub max_epsilons: usize,
    /// Most images in one call.
    pub max_images_per_call: usize,
    /// An iterative attack's default step is this × ε / steps.
    pub step_size_factor: f32,
    /// Every setting's default.
    pub defaults: AttackSpec,
}

/// The attacks' bounds and defaults (see [`AttackLimits`]).
#[wasm_bindgen(js_name = attackLimits)]
pub fn attack_limits() -> Result<Ts<AttackLimits>, JsError> {
    to_js(&AttackLimits {
        max_epsilon: MAX_EPSILON,
        max_steps: MAX_STEPS,
        max_restarts: MAX_RESTARTS,
        max_queries: MAX_QUERIES,
        max_epsilons: MAX_EPSILONS,
        max_images_per_call: MAX_IMAGES_PER_CALL,
        step_size_factor: STEP_SIZE_FACTOR,
        defaults: AttackSpec::default(),
    })
}

/// An attack, validated and described.
#[derive(Serialize, Tsify)]
pub struct AttackDescription {
    /// Its name, e.g. `pgd-40-r5-margin` ([`AttackSpec::name`]).
    pub name: String,
    /// One sentence for people.
    pub description: String,
    /// The step size ([`AttackSpec::step_size`]: ε for FGSM, the given one or 2.5·ε/steps
    /// for BIM and PGD, 2·ε for APGD's first step).
    pub step_size: f32,
    /// Forward passes it may spend per image.
    pub query_budget: usize,
    /// Whether it reads the network's gradient (all but Square).
    pub uses_gradient: bool,
}

/// Validates an attack and describes it (see [`AttackDescription`]), or says which setting
/// is out of bounds.
#[wasm_bindgen(js_name = describeAttack)]
pub fn describe_attack(spec: Ts<AttackSpec>) -> Result<Ts<AttackDescription>, JsError> {
    let s = self::spec(spec)?;
    to_js(&AttackDescription {
        name: s.name(),
        description: s.describe(),
        step_size: s.step_size(),
        query_budget: s.query_budget(),
        uses_gradient: s.method.uses_gradient(),
    })
}

/// Adversarial training, described.
#[derive(Serialize, Tsify)]
pub struct AdversarialDescription {
    /// Short, e.g. "PGD-5 at ε = 0.1".
    pub short: String,
    /// One sentence for people.
    pub description: String,
    /// The CLI flags that train this way.
    pub flags: String,
}

/// Describes the adversarial part of a recipe (as stored in a weights file's
/// `recipe.adversarial`).
#[wasm_bindgen(js_name = describeAdversarialTraining)]
pub fn describe_adversarial_training(
    adversarial: Ts<Adversarial>,
) -> Result<Ts<AdversarialDescription>, JsError> {
    let adv = from_js(adversarial, "adversarial training")?;
    to_js(&AdversarialDescription {
        short: adv.short_name(),
        description: adv.describe(),
        flags: adv.cli_flags(),
    })
}

/// The attack named like `pgd-40-r5-margin` (see [`AttackSpec::name`]).
#[wasm_bindgen(js_name = parseAttack)]
pub fn parse_attack(name: &str) -> Result<Ts<AttackSpec>, JsError> {
    let s: AttackSpec = name.parse().map_err(js)?;
    to_js(&s)
}

/// What [`Training::step`] reports.
#[cfg(feature = "training")]
#[derive(Serialize, Tsify)]
pub struct StepReport {
    /// The epoch, from 1.
    pub epoch: usize,
    /// Steps done of it.
    pub step: usize,
    /// Its steps.
    pub steps: usize,
    /// The mean loss of the steps just run.
    pub loss: f64,
    /// Whether the epoch's last step is done (then call `finishEpoch`).
    pub epoch_end: bool,
}

/// The attack that watches an adversarial training run.
#[cfg(feature = "training")]
#[derive(Serialize, Tsify)]
pub struct WatchAttack {
    /// Its name ([`AttackSpec::name`]).
    pub name: String,
    /// The attack, for `Network.robustness`.
    pub spec: AttackSpec,
}
