//! The two architectures, LeNet5 and All-CNN-C (adapted to 28×28), built from blocks
//! (convolution or linear layer → BatchNorm → activation) and a few plain layers, each
//! named once, when it is built.

mod block;
mod spec;

pub use spec::{
    validate_images, validate_labels, Architecture, ModelError, ModelSpec, ALLCNN_DEFAULT_WIDTH,
    ALLCNN_MAX_WIDTH, CLASSES, IMAGE_SIDE, MAX_BENT_COEFFICIENT, MNIST_MEAN, MNIST_STD,
};

use crate::activation::{ActivationKind, ActivationLayer, SPLASH_HINGES};
use crate::loss::{cross_entropy, softmax};
use crate::nn::{
    BatchNorm, Conv2d, Flatten, GlobalAvgPool, Kernels, Layer, Linear, MaxPool2d, Mode, Need,
    Normalize, Param, Pass,
};
use block::{Block, Named, Weights};
use ndarray::{Array2, Array4, ArrayD, Axis, Ix2, Ix4};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::fmt;

/// Ok if `x` is (N, 1, 28, 28), any N.
fn check_shape(x: &Array4<f32>) -> Result<(), ModelError> {
    match x.shape() {
        [_, 1, IMAGE_SIDE, IMAGE_SIDE] => Ok(()),
        s => Err(ModelError::BadShape(s.to_vec())),
    }
}

/// One step of a network.
enum Stage {
    /// A layer without parameters: the input normalisation, pooling, flattening.
    Plain(Named<Box<dyn Layer>>),
    /// The classifier: a convolution or linear layer without BatchNorm or activation.
    Head(Named<Weights>),
    /// Convolution or linear layer → BatchNorm → activation.
    Block(Box<Block>),
}

/// A network: named layers applied in order to images (N, 1, 28, 28) in [0, 1], giving
/// logits (N, 10). Tensor names are `<layer>.<tensor>`, e.g. `conv1.weight`, `act1.a_plus`.
pub struct Model {
    spec: ModelSpec,
    stages: Vec<Stage>,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("spec", &self.spec)
            .field("layers", &self.layer_names())
            .finish()
    }
}

/// Builds a model's stages in order, naming each layer once: `conv<i>` / `fc<i>` by the
/// caller, `bn<j>` and `act<j>` counted over the blocks.
struct Builder {
    stages: Vec<Stage>,
    activation: ActivationKind,
    rng: ChaCha8Rng,
    blocks: usize,
}

impl Builder {
    fn plain(&mut self, name: impl Into<String>, layer: impl Layer + 'static) {
        self.stages
            .push(Stage::Plain(Named::new(name, Box::new(layer))));
    }

    fn head(&mut self, name: &str, weights: Weights) {
        self.stages.push(Stage::Head(Named::new(name, weights)));
    }

    fn block(&mut self, name: String, weights: Weights, channels: usize) {
        self.blocks += 1;
        let j = self.blocks;
        let act = ActivationLayer::new(self.activation.build(channels));
        self.stages.push(Stage::Block(Box::new(Block::new(
            Named::new(name, weights),
            Named::new(format!("bn{j}"), BatchNorm::new(channels)),
            Named::new(format!("act{j}"), act),
        ))));
    }

    fn conv(&mut self, cin: usize, cout: usize, k: usize, stride: usize, pad: usize) -> Conv2d {
        Conv2d::new(cin, cout, k, stride, pad, &mut self.rng)
    }

    /// conv<i> → bn → act.
    fn conv_block(
        &mut self,
        i: usize,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
    ) {
        let conv = self.conv(cin, cout, k, stride, pad);
        self.block(format!("conv{i}"), Weights::Conv(Box::new(conv)), cout);
    }

    /// fc<i> → bn → act.
    fn linear_block(&mut self, i: usize, fin: usize, fout: usize) {
        let fc = Linear::new(fin, fout, &mut self.rng);
        self.block(format!("fc{i}"), Weights::Linear(Box::new(fc)), fout);
    }
}

impl Model {
    /// A freshly initialised model; weights are drawn from a generator seeded by `seed`.
    pub fn new(spec: ModelSpec, seed: u64) -> Self {
        let mut b = Builder {
            stages: Vec::new(),
            activation: spec.activation,
            rng: ChaCha8Rng::seed_from_u64(seed),
            blocks: 0,
        };
        b.plain(
            "input",
            Normalize {
                mean: MNIST_MEAN,
                std: MNIST_STD,
            },
        );
        match spec.architecture {
            Architecture::Lenet5 => {
                b.conv_block(1, 1, 6, 5, 1, 2);
                b.plain("pool1", MaxPool2d::new(2));
                b.conv_block(2, 6, 16, 5, 1, 0);
                b.plain("pool2", MaxPool2d::new(2));
                b.plain("flatten", Flatten::new());
                b.linear_block(1, 400, 120);
                b.linear_block(2, 120, 84);
                let fc3 = Linear::new(84, CLASSES, &mut b.rng);
                b.head("fc3", Weights::Linear(Box::new(fc3)));
            }
            Architecture::Allcnn { width } => {
                let (w1, w2) = (width, 2 * width);
                b.conv_block(1, 1, w1, 3, 1, 1);
                b.conv_block(2, w1, w1, 3, 1, 1);
                b.conv_block(3, w1, w1, 3, 2, 1); // 28 → 14, in place of pooling
                b.conv_block(4, w1, w2, 3, 1, 1);
                b.conv_block(5, w2, w2, 3, 1, 1);
                b.conv_block(6, w2, w2, 3, 2, 1); // 14 → 7
                b.conv_block(7, w2, w2, 3, 1, 0); // 7 → 5
                b.conv_block(8, w2, w2, 1, 1, 0);
                let conv9 = b.conv(w2, CLASSES, 1, 1, 0);
                b.head("conv9", Weights::Conv(Box::new(conv9)));
                b.plain("gap", GlobalAvgPool::new());
            }
        }
        Model {
            spec,
            stages: b.stages,
        }
    }

    /// Architecture, width and activation.
    pub fn spec(&self) -> ModelSpec {
        self.spec
    }

    /// Every layer with its name, in order.
    fn layers(&self) -> Vec<(&str, &dyn Layer)> {
        let mut out = Vec::new();
        for stage in &self.stages {
            match stage {
                Stage::Plain(p) => out.push((p.name.as_str(), p.layer.as_ref())),
                Stage::Head(w) => out.push((w.name.as_str(), w.layer.layer())),
                Stage::Block(b) => out.extend(b.layers()),
            }
        }
        out
    }

    /// Every layer with its name, in order, to change or run. Forgets the folded weights,
    /// since the caller may change any tensor.
    fn layers_mut(&mut self) -> Vec<(&str, &mut dyn Layer)> {
        let mut out: Vec<(&str, &mut dyn Layer)> = Vec::new();
        for stage in &mut self.stages {
            match stage {
                Stage::Plain(p) => out.push((p.name.as_str(), p.layer.as_mut())),
                Stage::Head(w) => out.push((w.name.as_str(), w.layer.layer_mut())),
                Stage::Block(b) => {
                    b.unfold();
                    out.extend(b.layers_mut());
                }
            }
        }
        out
    }

    /// The blocks, in order.
    fn blocks(&self) -> impl Iterator<Item = &Block> {
        self.stages.iter().filter_map(|s| match s {
            Stage::Block(b) => Some(b.as_ref()),
            Stage::Plain(_) | Stage::Head(_) => None,
        })
    }

    /// The blocks, in order, to change.
    fn blocks_mut(&mut self) -> impl Iterator<Item = &mut Block> {
        self.stages.iter_mut().filter_map(|s| match s {
            Stage::Block(b) => Some(b.as_mut()),
            Stage::Plain(_) | Stage::Head(_) => None,
        })
    }

    /// Makes every convolution and linear layer compute with `kernels` (natively,
    /// [`Kernels::Portable`] repeats the page's computation bit for bit).
    pub fn set_kernels(&mut self, kernels: Kernels) {
        for stage in &mut self.stages {
            match stage {
                Stage::Plain(_) => {}
                Stage::Head(w) => w.layer.set_kernels(kernels),
                Stage::Block(b) => {
                    b.unfold(); // a Winograd transform is made for one family
                    b.weights.layer.set_kernels(kernels);
                }
            }
        }
    }

    /// Layer names in order.
    pub fn layer_names(&self) -> Vec<&str> {
        self.layers().into_iter().map(|(n, _)| n).collect()
    }

    /// Logits (N, 10) for images (N, 1, 28, 28), keeping what a backward pass reads.
    /// Errors if the images are not (N, 1, 28, 28); their values are not checked (see
    /// [`Model::predict`], [`validate_images`]).
    pub fn forward(&mut self, x: &Array4<f32>, mode: Mode) -> Result<Array2<f32>, ModelError> {
        check_shape(x)?;
        let pass = Pass::from(mode);
        let mut h = x.clone().into_dyn();
        for stage in &mut self.stages {
            h = match stage {
                Stage::Plain(p) => p.layer.forward(h, pass)?,
                Stage::Head(w) => w.layer.layer_mut().forward(h, pass)?,
                Stage::Block(b) => b.forward(h, pass)?,
            };
        }
        Ok(h.into_dimensionality::<Ix2>().expect("logits are 2-D"))
    }

    /// Back-propagates dL/dlogits through the last forward pass, computing what `need` says:
    /// parameter gradients (accumulated) and dL/dx (N, 1, 28, 28). With [`Need::Params`] the
    /// pass stops at the first layer with parameters (dL/dx is None); with [`Need::Input`]
    /// parameter gradients may be left untouched (those that are computed accumulate as
    /// with [`Need::All`]: call [`Model::zero_grad`] before training on them).
    fn backward_with(
        &mut self,
        grad_logits: &Array2<f32>,
        need: Need,
    ) -> Result<Option<Array4<f32>>, ModelError> {
        let mut g: ArrayD<f32> = grad_logits.clone().into_dyn();
        // With Need::Params, the stages before the first one with parameters are not run.
        let first = match need {
            Need::Params => self
                .stages
                .iter()
                .position(|s| !matches!(s, Stage::Plain(_)))
                .unwrap_or(0),
            Need::All | Need::Input => 0,
        };
        for (i, stage) in self.stages.iter_mut().enumerate().skip(first).rev() {
            // The stages after the first one run on: they pass dL/d(input) back.
            let here = match need {
                Need::Params if i != first => Need::All,
                need => need,
            };
            let next = match stage {
                Stage::Plain(p) => p.layer.backward(&g, here)?,
                Stage::Head(w) => w.layer.layer_mut().backward(&g, here)?,
                Stage::Block(b) => b.backward(&g, here)?,
            };
            match next {
                Some(next) => g = next,
                None => return Ok(None),
            }
        }
        Ok(Some(
            g.into_dimensionality::<Ix4>()
                .expect("input gradient is 4-D"),
        ))
    }

    /// Back-propagates dL/dlogits through the last forward pass; accumulates parameter
    /// gradients and returns dL/dx (N, 1, 28, 28). Errors if there was no forward pass
    /// ([`Model::predict`] keeps nothing for one) or the gradient is not (N, 10) for its N.
    pub fn backward(&mut self, grad_logits: &Array2<f32>) -> Result<Array4<f32>, ModelError> {
        Ok(self
            .backward_with(grad_logits, Need::All)?
            .expect("input gradient asked for"))
    }

    /// dL/dx (N, 1, 28, 28) of the last forward pass for dL/dlogits, for attacks: parameter
    /// gradients are not computed (those that are accumulate as in [`Model::backward`];
    /// call [`Model::zero_grad`] before training on them). Errors as [`Model::backward`].
    pub fn backward_input(&mut self, grad_logits: &Array2<f32>) -> Result<Array4<f32>, ModelError> {
        Ok(self
            .backward_with(grad_logits, Need::Input)?
            .expect("input gradient asked for"))
    }

    /// Back-propagates dL/dlogits through the last forward pass for training: accumulates
    /// the same parameter gradients as [`Model::backward`], but stops at the first layer
    /// with parameters instead of computing dL/dx, which training does not use. Errors as
    /// [`Model::backward`].
    pub fn backward_params(&mut self, grad_logits: &Array2<f32>) -> Result<(), ModelError> {
        self.backward_with(grad_logits, Need::Params).map(|_| ())
    }

    /// Class probabilities (N, 10) in evaluation mode, after validating the images.
    ///
    /// It runs the network with each BatchNorm folded into the layer before it (one pass
    /// over the data fewer per BatchNorm); the probabilities agree with those of
    /// [`Model::forward`] in [`Mode::Eval`] to rounding (about 1e-7). The layers keep nothing
    /// for a backward pass ([`Pass::Predict`]), but the activation layers still record the
    /// first image's inputs ([`ActivationLayer::last_input`]). A ReLU after a convolution is
    /// applied by the convolution as it writes its outputs (the same bits). Attacks and the
    /// backward passes use [`Model::forward`], unfolded.
    pub fn predict(&mut self, x: &Array4<f32>) -> Result<Array2<f32>, ModelError> {
        validate_images(x)?;
        let mut h = x.clone().into_dyn();
        for stage in &mut self.stages {
            h = match stage {
                Stage::Plain(p) => p.layer.forward(h, Pass::Predict)?,
                Stage::Head(w) => w.layer.layer_mut().forward(h, Pass::Predict)?,
                Stage::Block(b) => b.predict(h)?,
            };
        }
        let logits = h.into_dimensionality::<Ix2>().expect("logits are 2-D");
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

    /// Replaces the SPLASH coefficients a⁺ and a⁻ of activation layer `layer` (0-based), for
    /// exploring what a curve does ("bend the curve"). Errors if the layer is not SPLASH or
    /// a coefficient is not a finite number within ±[`MAX_BENT_COEFFICIENT`].
    pub fn set_splash_coefficients(
        &mut self,
        layer: usize,
        a_plus: [f32; 4],
        a_minus: [f32; 4],
    ) -> Result<(), String> {
        let count = self.blocks().count();
        let block = self
            .blocks_mut()
            .nth(layer)
            .ok_or_else(|| format!("no activation layer {layer} (there are {count})"))?;
        if let Some(v) = a_plus
            .iter()
            .chain(&a_minus)
            .find(|v| !(v.is_finite() && v.abs() <= MAX_BENT_COEFFICIENT))
        {
            return Err(format!(
                "a coefficient must be a number within ±{MAX_BENT_COEFFICIENT}, got {v}"
            ));
        }
        let name = &block.act.name;
        let splash = block
            .act
            .layer
            .activation_mut()
            .as_splash_mut()
            .ok_or_else(|| format!("{name} is not a SPLASH layer"))?;
        splash.set_coefficients(a_plus, a_minus);
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
        let logits = self.forward(&both, Mode::Eval)?.into_dyn();
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
    /// Errors if the images are not (N, 1, 28, 28) or the labels not N classes.
    pub fn input_gradient(
        &mut self,
        x: &Array4<f32>,
        labels: &[usize],
    ) -> Result<(Array2<f32>, Array4<f32>), ModelError> {
        validate_labels(x.shape()[0], labels)?;
        let logits = self.forward(x, Mode::Eval)?;
        let ce = cross_entropy(logits.view(), labels);
        let grad = self.backward_input(&ce.grad_sum(labels))?;
        Ok((logits, grad))
    }

    /// Learnable parameters by full name.
    pub fn params_mut(&mut self) -> Vec<(String, &mut Param)> {
        let mut out = Vec::new();
        for (lname, layer) in self.layers_mut() {
            for (pname, p) in layer.params_mut() {
                out.push((format!("{lname}.{pname}"), p));
            }
        }
        out
    }

    /// Every tensor (parameters and buffers) by full name, in layer order.
    pub fn state(&self) -> Vec<(String, &ArrayD<f32>)> {
        let mut out = Vec::new();
        for (lname, layer) in self.layers() {
            for (tname, t) in layer.state() {
                out.push((format!("{lname}.{tname}"), t));
            }
        }
        out
    }

    /// Mutable access to every tensor by full name, for loading.
    pub fn state_mut(&mut self) -> Vec<(String, &mut ArrayD<f32>)> {
        let mut out = Vec::new();
        for (lname, layer) in self.layers_mut() {
            for (tname, t) in layer.state_mut() {
                out.push((format!("{lname}.{tname}"), t));
            }
        }
        out
    }

    /// Sets every parameter gradient to zero.
    pub fn zero_grad(&mut self) {
        for stage in &mut self.stages {
            match stage {
                Stage::Plain(p) => p.layer.zero_grad(),
                Stage::Head(w) => w.layer.layer_mut().zero_grad(),
                Stage::Block(b) => b.layers_mut().into_iter().for_each(|(_, l)| l.zero_grad()),
            }
        }
    }

    /// Forgets the pre-activations the activation layers kept from the last forward pass,
    /// as after loading: a check run on a model (weights::load's overflow probe) leaves no
    /// trace a caller could read as its own input's.
    pub fn forget_inputs(&mut self) {
        for block in self.blocks_mut() {
            block.act.layer.keep_first_input(None);
        }
    }

    /// The activation layers with their names, in order.
    pub fn activation_layers(&self) -> Vec<(&str, &ActivationLayer)> {
        self.blocks()
            .map(|b| (b.act.name.as_str(), &b.act.layer))
            .collect()
    }

    /// Where each activation layer sits: the layers since the previous weight layer, such
    /// as `conv2 (16 channels, 5×5) → bn2 → act2`, one per activation layer, in order.
    pub fn activation_sites(&self) -> Vec<String> {
        self.blocks().map(Block::site).collect()
    }

    /// Number of learnable scalars.
    pub fn parameter_count(&self) -> usize {
        self.layers()
            .iter()
            .flat_map(|(_, l)| l.params())
            .map(|(_, p)| p.value.len())
            .sum()
    }

    /// The hinge locations of SPLASH layers (the same for every layer).
    pub fn hinges(&self) -> [f32; 4] {
        SPLASH_HINGES
    }
}
