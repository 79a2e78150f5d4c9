//! The two architectures, LeNet5 and All-CNN-C (adapted to 28×28), as named layer lists.

use crate::activation::{ActivationKind, ActivationLayer, SPLASH_HINGES};
use crate::loss::{cross_entropy, softmax};
use crate::nn::winograd::Winograd;
use crate::nn::{
    BatchNorm, Conv2d, Epilogue, Flatten, GlobalAvgPool, Layer, Linear, MaxPool2d, Mode, Normalize,
    Param,
};
use ndarray::{Array2, Array4, ArrayD, Axis, Ix2, Ix4};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Mean of the MNIST training pixels in [0, 1], subtracted inside the model.
pub const MNIST_MEAN: f32 = 0.1307;
/// Standard deviation of the MNIST training pixels, divided by inside the model.
pub const MNIST_STD: f32 = 0.3081;
/// Side of the square input image.
pub const IMAGE_SIDE: usize = 28;
/// Number of classes.
pub const CLASSES: usize = 10;
/// Default base width of All-CNN (channels of its first block; the second block has twice
/// as many). The original All-CNN-C has 96/192; the committed models use 16/32, which trains
/// 15 epochs on two CPU cores in about 6 minutes (one epoch of 50,000 digits: 21.5 s with
/// ReLU, 23.9 s with SPLASH).
pub const ALLCNN_DEFAULT_WIDTH: usize = 16;

/// The widest All-CNN a weights file, the CLI or the study may ask for (about 2.5 million
/// parameters, 10 MB), so that a file's metadata cannot make the loader allocate gigabytes.
pub const ALLCNN_MAX_WIDTH: usize = 128;

/// The largest SPLASH coefficient [`Model::set_splash_coefficients`] accepts.
pub const MAX_BENT_COEFFICIENT: f32 = 10.0;

/// What LeNet5 files of weights format 1 recorded as its "width" (its first conv's
/// channels); read for compatibility, never written.
const LEGACY_LENET5_WIDTH: usize = 6;

/// Which network. All-CNN carries its base width; LeNet5 has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// LeNet5 with BatchNorm before every activation.
    Lenet5,
    /// All-CNN-C adapted to 1×28×28, BatchNorm before every activation; `width` channels
    /// in its first block, twice as many in its second.
    Allcnn {
        /// Base width, 1..=[`ALLCNN_MAX_WIDTH`].
        width: usize,
    },
}

impl Architecture {
    /// Lower-case name, as in file names and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Lenet5 => "lenet5",
            Architecture::Allcnn { .. } => "allcnn",
        }
    }

    /// All-CNN's base width; `None` for LeNet5.
    pub fn width(self) -> Option<usize> {
        match self {
            Architecture::Lenet5 => None,
            Architecture::Allcnn { width } => Some(width),
        }
    }

    /// The network called `name` (`lenet5` or `allcnn`, as `--model` takes it) with the
    /// given width: All-CNN needs one in 1..=[`ALLCNN_MAX_WIDTH`]; LeNet5 takes none
    /// (files of weights format 1 recorded 6, which is accepted).
    pub fn from_parts(name: &str, width: Option<usize>) -> Result<Self, String> {
        match (name.to_ascii_lowercase().as_str(), width) {
            ("lenet5" | "lenet", None | Some(LEGACY_LENET5_WIDTH)) => Ok(Architecture::Lenet5),
            ("lenet5" | "lenet", Some(w)) => Err(format!("LeNet5 has no width (got {w})")),
            ("allcnn" | "all-cnn" | "allcnn-c", Some(width)) => {
                if (1..=ALLCNN_MAX_WIDTH).contains(&width) {
                    Ok(Architecture::Allcnn { width })
                } else {
                    Err(format!(
                        "All-CNN's width must be 1..={ALLCNN_MAX_WIDTH}, got {width}"
                    ))
                }
            }
            ("allcnn" | "all-cnn" | "allcnn-c", None) => Err("All-CNN needs a width".to_string()),
            _ => Err(format!(
                "unknown model '{name}' (expected lenet5 or allcnn)"
            )),
        }
    }

    /// How reports name it: `LeNet5`, `All-CNN (width 16/32)`.
    pub fn describe(self) -> String {
        match self {
            Architecture::Lenet5 => "LeNet5".into(),
            Architecture::Allcnn { width } => format!("All-CNN (width {width}/{})", 2 * width),
        }
    }
}

/// `lenet5`, or `allcnn` with the default width.
impl std::str::FromStr for Architecture {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let lenet = matches!(s.to_ascii_lowercase().as_str(), "lenet5" | "lenet");
        Architecture::from_parts(s, (!lenet).then_some(ALLCNN_DEFAULT_WIDTH))
    }
}

/// What determines a model's tensors: architecture (with All-CNN's width) and activation.
/// In JSON and weights metadata it is flat: `architecture`, `width` (All-CNN only) and
/// `activation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "SpecRecord", try_from = "SpecRecord")]
pub struct ModelSpec {
    /// The network.
    pub architecture: Architecture,
    /// The activation in every activation layer.
    pub activation: ActivationKind,
}

/// [`ModelSpec`] as stored.
#[derive(Serialize, Deserialize)]
struct SpecRecord {
    architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    width: Option<usize>,
    activation: ActivationKind,
}

impl From<ModelSpec> for SpecRecord {
    fn from(s: ModelSpec) -> Self {
        SpecRecord {
            architecture: s.architecture.name().into(),
            width: s.architecture.width(),
            activation: s.activation,
        }
    }
}

impl TryFrom<SpecRecord> for ModelSpec {
    type Error = String;
    fn try_from(r: SpecRecord) -> Result<Self, String> {
        Ok(ModelSpec {
            architecture: Architecture::from_parts(&r.architecture, r.width)?,
            activation: r.activation,
        })
    }
}

impl ModelSpec {
    /// LeNet5 with the given activation.
    pub fn lenet5(activation: ActivationKind) -> Self {
        ModelSpec {
            architecture: Architecture::Lenet5,
            activation,
        }
    }

    /// All-CNN with base `width` and the given activation.
    pub fn allcnn(width: usize, activation: ActivationKind) -> Self {
        ModelSpec {
            architecture: Architecture::Allcnn { width },
            activation,
        }
    }

    /// A short name such as `lenet5-splash`.
    pub fn slug(&self) -> String {
        format!("{}-{}", self.architecture.name(), self.activation.name())
    }
}

/// Errors from running a model on outside input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// The input is not (N, 1, 28, 28) or has no images.
    #[error("expected images of shape (N, 1, 28, 28) with N ≥ 1, got {0:?}")]
    BadShape(Vec<usize>),
    /// A pixel is NaN or infinite.
    #[error("pixel {index} is not a finite number ({value})")]
    NotFinite {
        /// Flat index of the pixel.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// A pixel is outside [0, 1].
    #[error("pixel {index} is {value}, outside [0, 1]")]
    OutOfRange {
        /// Flat index of the pixel.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// A label or target is not a class index.
    #[error("class {0} is not in 0..=9")]
    BadClass(usize),
    /// The number of labels does not match the number of images.
    #[error("{images} images but {labels} labels")]
    LabelCount {
        /// Images in the batch.
        images: usize,
        /// Labels given.
        labels: usize,
    },
    /// The network's output for a valid image is NaN or infinite: its weights overflow.
    #[error("the network's output for image {0} is not a finite number: its weights are too large for a forward pass (overflow), so nothing it says can be trusted")]
    OutputNotFinite(usize),
}

/// Checks that `x` is a non-empty (N, 1, 28, 28) batch of finite pixels in [0, 1].
pub fn validate_images(x: &Array4<f32>) -> Result<(), ModelError> {
    let s = x.shape();
    if s[0] == 0 || s[1] != 1 || s[2] != IMAGE_SIDE || s[3] != IMAGE_SIDE {
        return Err(ModelError::BadShape(s.to_vec()));
    }
    // One branch-free pass first (NaN fails both comparisons), which vectorises; the
    // element-by-element search for the first bad value only when there is one.
    let in_range = |v: &f32| (*v >= 0.0) & (*v <= 1.0);
    let all_in_range = match x.as_slice() {
        Some(s) => s.iter().fold(true, |ok, v| ok & in_range(v)),
        None => x.iter().all(in_range),
    };
    if all_in_range {
        return Ok(());
    }
    for (index, &value) in x.iter().enumerate() {
        if !value.is_finite() {
            return Err(ModelError::NotFinite { index, value });
        }
        if !(0.0..=1.0).contains(&value) {
            return Err(ModelError::OutOfRange { index, value });
        }
    }
    Ok(())
}

/// Checks that there is one class index in 0..=9 per image.
pub fn validate_labels(images: usize, labels: &[usize]) -> Result<(), ModelError> {
    if labels.len() != images {
        return Err(ModelError::LabelCount {
            images,
            labels: labels.len(),
        });
    }
    match labels.iter().find(|&&y| y >= CLASSES) {
        Some(&y) => Err(ModelError::BadClass(y)),
        None => Ok(()),
    }
}

/// A network: named layers applied in order to images (N, 1, 28, 28) in [0, 1], giving
/// logits (N, 10). Tensor names are `<layer>.<tensor>`, e.g. `conv1.weight`, `act1.a_plus`.
pub struct Model {
    spec: ModelSpec,
    layers: Vec<(String, Box<dyn Layer>)>,
    /// The weights [`Model::predict`] runs with: every evaluation-mode BatchNorm folded into
    /// the convolution or linear layer before it. Made on first use; dropped whenever a
    /// tensor may change (mutable access, a training-mode forward pass).
    folded: Option<Vec<Folded>>,
}

/// A convolution's or linear layer's weight and bias with the BatchNorm after it folded in:
/// W' = s·W and b' = s·(b − μ) + β per output channel, s = γ/√(σ² + ε) (running statistics).
struct Folded {
    /// Index of the convolution or linear layer; the BatchNorm is the next one.
    layer: usize,
    weight: ArrayD<f32>,
    bias: ArrayD<f32>,
    /// The folded weight's Winograd transform, for a convolution that evaluates that way
    /// (see [`Conv2d::prepared`]).
    winograd: Option<Winograd>,
}

/// The weight and bias of a convolution or linear layer.
fn weight_and_bias(layer: &mut dyn Layer) -> Option<(&mut Param, &mut Param)> {
    let any: &mut dyn std::any::Any = layer;
    if any.is::<Conv2d>() {
        let conv = any.downcast_mut::<Conv2d>().expect("checked");
        return Some((&mut conv.weight, &mut conv.bias));
    }
    any.downcast_mut::<Linear>()
        .map(|fc| (&mut fc.weight, &mut fc.bias))
}

/// The BatchNorm after `layer`, folded into its weight and bias (see [`Folded`]).
fn fold(layer: &mut dyn Layer, bn: &BatchNorm, index: usize) -> Option<Folded> {
    let (weight, bias) = weight_and_bias(layer)?;
    let channels = bias.value.len();
    let as_slice = |a: &ArrayD<f32>| a.as_slice().expect("contiguous").to_vec();
    let (gamma, beta) = (as_slice(&bn.gamma.value), as_slice(&bn.beta.value));
    let (mean, var) = (as_slice(&bn.running_mean), as_slice(&bn.running_var));
    if [gamma.len(), beta.len(), mean.len(), var.len()] != [channels; 4] {
        return None;
    }
    let scale: Vec<f32> = (0..channels)
        .map(|c| gamma[c] * bn.inverse_std(var[c] as f64))
        .collect();
    let mut w = weight.value.as_standard_layout().into_owned();
    let per = w.len() / channels.max(1);
    for (row, s) in w
        .as_slice_mut()
        .expect("standard layout")
        .chunks_exact_mut(per)
        .zip(&scale)
    {
        row.iter_mut().for_each(|v| *v *= s);
    }
    let b: Vec<f32> = (0..channels)
        .map(|c| scale[c] * (bias.value.as_slice().expect("contiguous")[c] - mean[c]) + beta[c])
        .collect();
    let any: &dyn std::any::Any = layer;
    let winograd = any.downcast_ref::<Conv2d>().and_then(|c| c.winograd(&w));
    Some(Folded {
        layer: index,
        weight: w,
        bias: ArrayD::from_shape_vec(vec![channels], b).expect("sized"),
        winograd,
    })
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("spec", &self.spec)
            .field("layers", &self.layer_names())
            .finish()
    }
}

struct Builder {
    layers: Vec<(String, Box<dyn Layer>)>,
    activation: ActivationKind,
    rng: ChaCha8Rng,
    acts: usize,
    bns: usize,
}

impl Builder {
    fn push(&mut self, name: impl Into<String>, layer: impl Layer + 'static) {
        self.layers.push((name.into(), Box::new(layer)));
    }
    fn bn_act(&mut self, channels: usize) {
        self.bns += 1;
        self.acts += 1;
        self.push(format!("bn{}", self.bns), BatchNorm::new(channels));
        let act = ActivationLayer::new(self.activation.build(channels));
        self.push(format!("act{}", self.acts), act);
    }
    fn conv(&mut self, idx: usize, cin: usize, cout: usize, k: usize, stride: usize, pad: usize) {
        let conv = Conv2d::new(cin, cout, k, stride, pad, &mut self.rng);
        self.push(format!("conv{idx}"), conv);
    }
    fn linear(&mut self, idx: usize, fin: usize, fout: usize) {
        let fc = Linear::new(fin, fout, &mut self.rng);
        self.push(format!("fc{idx}"), fc);
    }
}

/// The layer as an activation layer, if it is one.
fn as_activation(layer: &dyn Layer) -> Option<&ActivationLayer> {
    let any: &dyn std::any::Any = layer;
    any.downcast_ref::<ActivationLayer>()
}

fn as_activation_mut(layer: &mut dyn Layer) -> Option<&mut ActivationLayer> {
    let any: &mut dyn std::any::Any = layer;
    any.downcast_mut::<ActivationLayer>()
}

impl Model {
    /// A freshly initialised model; weights are drawn from a generator seeded by `seed`.
    pub fn new(spec: ModelSpec, seed: u64) -> Self {
        let mut b = Builder {
            layers: Vec::new(),
            activation: spec.activation,
            rng: ChaCha8Rng::seed_from_u64(seed),
            acts: 0,
            bns: 0,
        };
        b.push(
            "input",
            Normalize {
                mean: MNIST_MEAN,
                std: MNIST_STD,
            },
        );
        match spec.architecture {
            Architecture::Lenet5 => {
                b.conv(1, 1, 6, 5, 1, 2);
                b.bn_act(6);
                b.push("pool1", MaxPool2d::new(2));
                b.conv(2, 6, 16, 5, 1, 0);
                b.bn_act(16);
                b.push("pool2", MaxPool2d::new(2));
                b.push("flatten", Flatten::new());
                b.linear(1, 400, 120);
                b.bn_act(120);
                b.linear(2, 120, 84);
                b.bn_act(84);
                b.linear(3, 84, CLASSES);
            }
            Architecture::Allcnn { width } => {
                let (w1, w2) = (width, 2 * width);
                b.conv(1, 1, w1, 3, 1, 1);
                b.bn_act(w1);
                b.conv(2, w1, w1, 3, 1, 1);
                b.bn_act(w1);
                b.conv(3, w1, w1, 3, 2, 1); // 28 → 14, in place of pooling
                b.bn_act(w1);
                b.conv(4, w1, w2, 3, 1, 1);
                b.bn_act(w2);
                b.conv(5, w2, w2, 3, 1, 1);
                b.bn_act(w2);
                b.conv(6, w2, w2, 3, 2, 1); // 14 → 7
                b.bn_act(w2);
                b.conv(7, w2, w2, 3, 1, 0); // 7 → 5
                b.bn_act(w2);
                b.conv(8, w2, w2, 1, 1, 0);
                b.bn_act(w2);
                b.conv(9, w2, CLASSES, 1, 1, 0);
                b.push("gap", GlobalAvgPool::new());
            }
        }
        Model {
            spec,
            layers: b.layers,
            folded: None,
        }
    }

    /// Architecture, width and activation.
    pub fn spec(&self) -> ModelSpec {
        self.spec
    }

    /// Layer names in order.
    pub fn layer_names(&self) -> Vec<&str> {
        self.layers.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Logits (N, 10) for images (N, 1, 28, 28). Does not validate; see [`Model::predict`].
    pub fn forward(&mut self, x: &Array4<f32>, mode: Mode) -> Array2<f32> {
        if mode == Mode::Train {
            self.folded = None; // the running statistics move
        }
        let mut h = x.clone().into_dyn();
        for (_, layer) in self.layers.iter_mut() {
            h = layer.forward_owned(h, mode);
        }
        h.into_dimensionality::<Ix2>().expect("logits are 2-D")
    }

    /// Back-propagates dL/dlogits through the last forward pass; accumulates parameter
    /// gradients and returns dL/dx (N, 1, 28, 28).
    pub fn backward(&mut self, grad_logits: &Array2<f32>) -> Array4<f32> {
        let mut g: ArrayD<f32> = grad_logits.clone().into_dyn();
        for (_, layer) in self.layers.iter_mut().rev() {
            g = layer.backward(&g);
        }
        g.into_dimensionality::<Ix4>()
            .expect("input gradient is 4-D")
    }

    /// dL/dx (N, 1, 28, 28) of the last forward pass for dL/dlogits, for attacks: parameter
    /// gradients are not computed (those that are accumulate as in [`Model::backward`];
    /// call [`Model::zero_grad`] before training on them).
    pub fn backward_input(&mut self, grad_logits: &Array2<f32>) -> Array4<f32> {
        let mut g: ArrayD<f32> = grad_logits.clone().into_dyn();
        for (_, layer) in self.layers.iter_mut().rev() {
            g = layer.backward_input(&g);
        }
        g.into_dimensionality::<Ix4>()
            .expect("input gradient is 4-D")
    }

    /// Back-propagates dL/dlogits through the last forward pass for training: accumulates
    /// the same parameter gradients as [`Model::backward`], but stops at the first layer
    /// with parameters instead of computing dL/dx, which training does not use.
    pub fn backward_params(&mut self, grad_logits: &Array2<f32>) {
        let first = self
            .layers
            .iter_mut()
            .position(|(_, l)| !l.params_mut().is_empty())
            .unwrap_or(0);
        let mut g: ArrayD<f32> = grad_logits.clone().into_dyn();
        for (_, layer) in self.layers[first + 1..].iter_mut().rev() {
            g = layer.backward(&g);
        }
        self.layers[first].1.backward_params(&g);
    }

    /// Class probabilities (N, 10) in evaluation mode, after validating the images.
    ///
    /// It runs the network with each BatchNorm folded into the layer before it (one pass
    /// over the data fewer per BatchNorm); the probabilities agree with those of
    /// [`Model::forward`] in [`Mode::Eval`] to rounding (about 1e-7). The layers run
    /// [`Layer::infer`], so they keep nothing for a backward pass, but the activation layers
    /// still record the first image's inputs ([`ActivationLayer::last_input`]). A ReLU after a
    /// folded convolution is applied by the convolution as it writes its outputs
    /// ([`Epilogue::Relu`], the same bits), which hands the activation layer that record.
    /// Attacks and the backward passes use [`Model::forward`], unfolded.
    pub fn predict(&mut self, x: &Array4<f32>) -> Result<Array2<f32>, ModelError> {
        validate_images(x)?;
        let logits = self.forward_folded(x);
        if let Some((i, _)) = logits
            .rows()
            .into_iter()
            .enumerate()
            .find(|(_, r)| r.iter().any(|v| !v.is_finite()))
        {
            return Err(ModelError::OutputNotFinite(i));
        }
        Ok(softmax(logits.view()))
    }

    /// Evaluation-mode logits with every BatchNorm folded (see [`Model::predict`]).
    fn forward_folded(&mut self, x: &Array4<f32>) -> Array2<f32> {
        let mut folded = match self.folded.take() {
            Some(f) => f,
            None => self.fold_batchnorms(),
        };
        let mut pending = folded.iter_mut().peekable();
        let mut h = x.clone().into_dyn();
        let mut i = 0;
        while i < self.layers.len() {
            let Some(f) = pending.next_if(|f| f.layer == i) else {
                h = self.layers[i].1.infer_owned(h);
                i += 1;
                continue;
            };
            // Runs the layer with the folded tensors (and a convolution with their Winograd
            // transform) in place of its own, then puts its own back (swaps, no copies). The
            // BatchNorm after it is folded in; a ReLU after that is applied by a convolution
            // as it writes its outputs, and the activation layer is handed the first image's
            // pre-activations that it would have kept.
            let (layer, after) = self.layers[i..].split_first_mut().expect("layer i");
            let layer = layer.1.as_mut();
            let relu = after
                .get_mut(1)
                .and_then(|(_, l)| as_activation_mut(l.as_mut()))
                .filter(|a| a.activation().kind() == ActivationKind::Relu);
            let swap = |layer: &mut dyn Layer, f: &mut Folded| {
                let any: &mut dyn std::any::Any = &mut *layer;
                if let Some(conv) = any.downcast_mut::<Conv2d>() {
                    std::mem::swap(&mut conv.prepared, &mut f.winograd);
                }
                let (w, b) = weight_and_bias(layer).expect("folded layer");
                std::mem::swap(&mut w.value, &mut f.weight);
                std::mem::swap(&mut b.value, &mut f.bias);
            };
            swap(layer, f);
            let any: &mut dyn std::any::Any = &mut *layer;
            match (any.downcast_mut::<Conv2d>(), relu) {
                (Some(conv), Some(relu)) => {
                    let (y, first) = conv.infer_with(&h, Epilogue::Relu);
                    relu.keep_first_input(first);
                    h = y;
                    i += 3;
                }
                _ => {
                    h = layer.infer_owned(h);
                    i += 2;
                }
            }
            swap(layer, f);
        }
        self.folded = Some(folded);
        h.into_dimensionality::<Ix2>().expect("logits are 2-D")
    }

    /// Every (convolution or linear, BatchNorm) pair, folded.
    fn fold_batchnorms(&mut self) -> Vec<Folded> {
        let mut out = Vec::new();
        for i in 1..self.layers.len() {
            let (before, after) = self.layers.split_at_mut(i);
            let any: &dyn std::any::Any = after[0].1.as_ref();
            if let Some(bn) = any.downcast_ref::<BatchNorm>() {
                out.extend(fold(before[i - 1].1.as_mut(), bn, i - 1));
            }
        }
        out
    }

    /// Replaces the SPLASH coefficients a⁺ and a⁻ of activation layer `layer` (0-based), for
    /// exploring what a curve does ("bend the curve"). Errors if the layer is not SPLASH or
    /// a coefficient is not a finite number within ±[`MAX_BENT_COEFFICIENT`].
    pub fn set_splash_coefficients(
        &mut self,
        layer: usize,
        a_plus: [f32; 4],
        a_minus: [f32; 4],
    ) -> Result<(), String> {
        let names: Vec<String> = self
            .activation_layers()
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        let name = names
            .get(layer)
            .ok_or_else(|| format!("no activation layer {layer} (there are {})", names.len()))?;
        if let Some(v) = a_plus
            .iter()
            .chain(&a_minus)
            .find(|v| !(v.is_finite() && v.abs() <= MAX_BENT_COEFFICIENT))
        {
            return Err(format!(
                "a coefficient must be a number within ±{MAX_BENT_COEFFICIENT}, got {v}"
            ));
        }
        let mut found = 0;
        for (n, t) in self.state_mut() {
            if n == format!("{name}.a_plus") {
                t.assign(&ndarray::arr1(&a_plus).into_dyn());
                found += 1;
            } else if n == format!("{name}.a_minus") {
                t.assign(&ndarray::arr1(&a_minus).into_dyn());
                found += 1;
            }
        }
        if found != 2 {
            return Err(format!("{name} is not a SPLASH layer"));
        }
        Ok(())
    }

    /// How a change of the input travels through the network: for each activation layer,
    /// the relative change ‖z(x′) − z(x)‖ / ‖z(x)‖ of its input z (the BatchNorm output),
    /// and last the same for the logits. `x` and `x_changed` are one image each.
    pub fn perturbation_trace(
        &mut self,
        x: &Array4<f32>,
        x_changed: &Array4<f32>,
    ) -> Result<Vec<f32>, ModelError> {
        for image in [x, x_changed] {
            validate_images(image)?;
            if image.shape()[0] != 1 {
                return Err(ModelError::BadShape(image.shape().to_vec()));
            }
        }
        let both = ndarray::concatenate(Axis(0), &[x.view(), x_changed.view()])
            .expect("two (1, 1, 28, 28) images");
        let logits = self.forward(&both, Mode::Eval).into_dyn();
        let relative = |z: &ndarray::ArrayD<f32>| {
            let (a, b) = (z.index_axis(Axis(0), 0), z.index_axis(Axis(0), 1));
            let (mut diff, mut base) = (0.0f64, 0.0f64);
            ndarray::Zip::from(&a).and(&b).for_each(|&p, &q| {
                diff += ((q - p) as f64).powi(2);
                base += (p as f64).powi(2);
            });
            (diff.sqrt() / base.sqrt().max(1e-12)) as f32
        };
        let mut out: Vec<f32> = self
            .activation_layers()
            .iter()
            .map(|(_, l)| relative(l.last_input().expect("just ran forward")))
            .collect();
        out.push(relative(&logits));
        Ok(out)
    }

    /// Evaluation-mode logits and dL/dx of the summed cross-entropy against `labels`.
    pub fn input_gradient(
        &mut self,
        x: &Array4<f32>,
        labels: &[usize],
    ) -> (Array2<f32>, Array4<f32>) {
        let logits = self.forward(x, Mode::Eval);
        let ce = cross_entropy(logits.view(), labels);
        let grad = self.backward_input(&ce.grad_sum(labels));
        (logits, grad)
    }

    /// Learnable parameters by full name.
    pub fn params_mut(&mut self) -> Vec<(String, &mut Param)> {
        self.folded = None; // the caller may change any tensor
        let mut out = Vec::new();
        for (lname, layer) in self.layers.iter_mut() {
            for (pname, p) in layer.params_mut() {
                out.push((format!("{lname}.{pname}"), p));
            }
        }
        out
    }

    /// Every tensor (parameters and buffers) by full name, in layer order.
    pub fn state(&self) -> Vec<(String, &ArrayD<f32>)> {
        let mut out = Vec::new();
        for (lname, layer) in self.layers.iter() {
            for (tname, t) in layer.state() {
                out.push((format!("{lname}.{tname}"), t));
            }
        }
        out
    }

    /// Mutable access to every tensor by full name, for loading.
    pub fn state_mut(&mut self) -> Vec<(String, &mut ArrayD<f32>)> {
        self.folded = None; // the caller may change any tensor
        let mut out = Vec::new();
        for (lname, layer) in self.layers.iter_mut() {
            for (tname, t) in layer.state_mut() {
                out.push((format!("{lname}.{tname}"), t));
            }
        }
        out
    }

    /// Sets every parameter gradient to zero.
    pub fn zero_grad(&mut self) {
        for (_, layer) in self.layers.iter_mut() {
            layer.zero_grad();
        }
    }

    /// Forgets the pre-activations the activation layers kept from the last forward pass,
    /// as after loading: a check run on a model (weights::load's overflow probe) leaves no
    /// trace a caller could read as its own input's.
    pub fn forget_inputs(&mut self) {
        for (_, l) in &mut self.layers {
            if let Some(a) = as_activation_mut(l.as_mut()) {
                a.keep_first_input(None);
            }
        }
    }

    /// The activation layers with their names, in order.
    pub fn activation_layers(&self) -> Vec<(&str, &ActivationLayer)> {
        self.layers
            .iter()
            .filter_map(|(n, l)| as_activation(l.as_ref()).map(|a| (n.as_str(), a)))
            .collect()
    }

    /// Where each activation layer sits: the layers since the previous weight layer, such
    /// as `conv2 (16 channels, 5×5) → bn2 → act2`, one per activation layer, in order.
    pub fn activation_sites(&self) -> Vec<String> {
        let mut sites = Vec::new();
        let mut path: Vec<String> = Vec::new();
        for (name, layer) in &self.layers {
            let weight = layer
                .state()
                .into_iter()
                .find(|(n, _)| *n == "weight")
                .map(|(_, w)| w.shape().to_vec());
            match (layer.kind(), weight) {
                ("conv2d", Some(w)) => {
                    path = vec![format!("{name} ({} channels, {}×{})", w[0], w[2], w[3])];
                }
                ("linear", Some(w)) => path = vec![format!("{name} ({} units)", w[0])],
                _ => path.push(name.clone()),
            }
            if as_activation(layer.as_ref()).is_some() {
                sites.push(path.join(" → "));
            }
        }
        sites
    }

    /// Number of learnable scalars.
    pub fn parameter_count(&mut self) -> usize {
        self.params_mut().iter().map(|(_, p)| p.value.len()).sum()
    }

    /// Mutable layer by name (tests and tools).
    pub fn layer_mut(&mut self, name: &str) -> Option<&mut (dyn Layer + 'static)> {
        self.folded = None; // the caller may change any tensor
        self.layers
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, l)| l.as_mut())
    }

    /// The hinge locations of SPLASH layers (the same for every layer).
    pub fn hinges(&self) -> [f32; 4] {
        SPLASH_HINGES
    }
}
