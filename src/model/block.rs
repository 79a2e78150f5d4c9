//! The unit both architectures are built from: a convolution or linear layer, the BatchNorm
//! after it and the activation after that. A block knows how to fold its BatchNorm into its
//! weights for a prediction, and lets a convolution apply a ReLU as it writes its outputs.

use crate::activation::{ActivationKind, ActivationLayer};
use crate::nn::winograd::Winograd;
use crate::nn::{
    BatchNorm, Conv2d, Epilogue, InputGradient, Kernels, Layer, Linear, Need, Param, Pass,
    ShapeError,
};
use ndarray::ArrayD;

/// A layer with the name its tensors are saved under (`<name>.<tensor>`), given once, when
/// the model is built.
pub(crate) struct Named<L> {
    pub(crate) name: String,
    pub(crate) layer: L,
}

impl<L> Named<L> {
    pub(crate) fn new(name: impl Into<String>, layer: L) -> Self {
        Named {
            name: name.into(),
            layer,
        }
    }
}

/// The layer with weights that starts a block.
pub(crate) enum Weights {
    Conv(Box<Conv2d>),
    Linear(Box<Linear>),
}

impl Weights {
    pub(crate) fn layer(&self) -> &dyn Layer {
        match self {
            Weights::Conv(c) => c.as_ref(),
            Weights::Linear(l) => l.as_ref(),
        }
    }

    pub(crate) fn layer_mut(&mut self) -> &mut dyn Layer {
        match self {
            Weights::Conv(c) => c.as_mut(),
            Weights::Linear(l) => l.as_mut(),
        }
    }

    pub(crate) fn set_kernels(&mut self, kernels: Kernels) {
        match self {
            Weights::Conv(c) => c.set_kernels(kernels),
            Weights::Linear(l) => l.set_kernels(kernels),
        }
    }

    fn weight_and_bias(&self) -> (&Param, &Param) {
        match self {
            Weights::Conv(c) => (&c.weight, &c.bias),
            Weights::Linear(l) => (&l.weight, &l.bias),
        }
    }

    /// Swaps the folded weight and bias (and a convolution's Winograd transform) with the
    /// layer's own: no copies.
    fn swap(&mut self, folded: &mut Folded) {
        let (weight, bias) = match self {
            Weights::Conv(c) => {
                std::mem::swap(&mut c.prepared, &mut folded.winograd);
                (&mut c.weight, &mut c.bias)
            }
            Weights::Linear(l) => (&mut l.weight, &mut l.bias),
        };
        std::mem::swap(&mut weight.value, &mut folded.weight);
        std::mem::swap(&mut bias.value, &mut folded.bias);
    }
}

/// The weight and bias of a block's layer with its BatchNorm folded in:
/// W' = s·W and b' = s·(b − μ) + β per output channel, s = γ/√(σ² + ε) (running statistics).
struct Folded {
    weight: ArrayD<f32>,
    bias: ArrayD<f32>,
    /// The folded weight's Winograd transform, for a convolution that evaluates that way
    /// (see [`Conv2d::winograd`]).
    winograd: Option<Winograd>,
}

/// A convolution or linear layer → BatchNorm → activation.
pub(crate) struct Block {
    pub(crate) weights: Named<Weights>,
    pub(crate) norm: Named<BatchNorm>,
    pub(crate) act: Named<ActivationLayer>,
    /// The weights a prediction runs with (see [`Block::predict`]); made on first use and
    /// dropped by [`Block::unfold`] whenever a tensor may change.
    folded: Option<Folded>,
}

impl Block {
    pub(crate) fn new(
        weights: Named<Weights>,
        norm: Named<BatchNorm>,
        act: Named<ActivationLayer>,
    ) -> Self {
        Block {
            weights,
            norm,
            act,
            folded: None,
        }
    }

    /// The three layers in order, with their names.
    pub(crate) fn layers(&self) -> [(&str, &dyn Layer); 3] {
        [
            (&self.weights.name, self.weights.layer.layer()),
            (&self.norm.name, &self.norm.layer),
            (&self.act.name, &self.act.layer),
        ]
    }

    /// The three layers in order, with their names, to change or run.
    pub(crate) fn layers_mut(&mut self) -> [(&str, &mut dyn Layer); 3] {
        [
            (&self.weights.name, self.weights.layer.layer_mut()),
            (&self.norm.name, &mut self.norm.layer),
            (&self.act.name, &mut self.act.layer),
        ]
    }

    /// Forgets the folded weights: a tensor may change.
    pub(crate) fn unfold(&mut self) {
        self.folded = None;
    }

    /// What comes before the activation, e.g. `conv2 (16 channels, 5×5) → bn2 → act2`.
    pub(crate) fn site(&self) -> String {
        let w = self.weights.layer.weight_and_bias().0.value.shape();
        let name = &self.weights.name;
        let weights = match self.weights.layer {
            Weights::Conv(_) => format!("{name} ({} channels, {}×{})", w[0], w[2], w[3]),
            Weights::Linear(_) => format!("{name} ({} units)", w[0]),
        };
        format!("{weights} → {} → {}", self.norm.name, self.act.name)
    }

    /// The BatchNorm folded into the weights (see [`Folded`]), or None if its statistics
    /// do not match the layer's outputs.
    fn fold(&self) -> Option<Folded> {
        let (weight, bias) = self.weights.layer.weight_and_bias();
        let bn = &self.norm.layer;
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
        let winograd = match &self.weights.layer {
            Weights::Conv(conv) => conv.winograd(&w),
            Weights::Linear(_) => None,
        };
        Some(Folded {
            weight: w,
            bias: ArrayD::from_shape_vec(vec![channels], b).expect("sized"),
            winograd,
        })
    }

    /// A pass with a backward pass to follow (or a training one): the three layers in turn.
    pub(crate) fn forward(
        &mut self,
        mut h: ArrayD<f32>,
        pass: Pass,
    ) -> Result<ArrayD<f32>, ShapeError> {
        if pass == Pass::Train {
            self.unfold(); // the running statistics move
        }
        for (_, layer) in self.layers_mut() {
            h = layer.forward(h, pass)?;
        }
        Ok(h)
    }

    /// The backward pass through the activation, the BatchNorm and the weights, computing
    /// what `need` says at the weights (the layers after them always pass dL/d(input) on).
    pub(crate) fn backward(&mut self, g: &ArrayD<f32>, need: Need) -> InputGradient {
        let inner = if need == Need::Params {
            Need::All
        } else {
            need
        };
        let g = self.act.layer.backward(g, inner)?.expect("asked for");
        let g = self.norm.layer.backward(&g, inner)?.expect("asked for");
        self.weights.layer.layer_mut().backward(&g, need)
    }

    /// A prediction ([`Pass::Predict`]) with the BatchNorm folded into the weights: one pass
    /// over the data fewer; the outputs agree with [`Block::forward`] in evaluation to
    /// rounding (about 1e-7). A ReLU after a convolution is applied by the convolution as it
    /// writes its outputs ([`Epilogue::Relu`], the same bits), which hands the activation
    /// layer the first image's pre-activations that it would have kept.
    pub(crate) fn predict(&mut self, h: ArrayD<f32>) -> Result<ArrayD<f32>, ShapeError> {
        if self.folded.is_none() {
            self.folded = self.fold();
        }
        let Some(mut folded) = self.folded.take() else {
            let mut h = h;
            for (_, layer) in self.layers_mut() {
                h = layer.forward(h, Pass::Predict)?;
            }
            return Ok(h);
        };
        // Runs the layer with the folded tensors in place of its own, then puts its own
        // back (swaps, no copies).
        self.weights.layer.swap(&mut folded);
        let relu = self.act.layer.activation().kind() == ActivationKind::Relu;
        let out = match &mut self.weights.layer {
            Weights::Conv(conv) if relu => conv.infer_with(&h, Epilogue::Relu).map(|(y, first)| {
                self.act.layer.keep_first_input(first);
                (y, true)
            }),
            weights => weights
                .layer_mut()
                .forward(h, Pass::Predict)
                .map(|y| (y, false)),
        };
        // The layer's own tensors go back whatever happened.
        self.weights.layer.swap(&mut folded);
        self.folded = Some(folded);
        let (h, activated) = out?;
        if activated {
            Ok(h)
        } else {
            self.act.layer.forward(h, Pass::Predict)
        }
    }
}
