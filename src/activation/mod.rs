//! Activation functions behind one abstraction: SPLASH, ReLU and the paper's other eight
//! (LReLU, PReLU, tanh, sigmoid, ELU, SELU, Swish, APL).
//!
//! [`Activation`] is what a new activation implements; [`ActivationLayer`] turns any of them
//! into a [`Layer`] by caching the pre-activations. A pointwise activation without
//! parameters needs only its value and derivative (see [`Pointwise`]); one with learned
//! coefficients also accumulates their gradients (see [`Splash`], [`Prelu`], [`Apl`]).

mod learned;
mod pointwise;
mod splash;

pub use learned::{Apl, Prelu, APL_HINGES};
pub use pointwise::Pointwise;
pub use splash::{Splash, SPLASH_HINGES};

use crate::nn::{InputGradient, Layer, Need, Param, Pass, ShapeError};
use crate::parallel::{light_chunk_len, map_ordered};
use ndarray::{ArrayD, Axis, Slice};
use serde::{Deserialize, Serialize};

/// Which activation function a model uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivationKind {
    /// max(0, x).
    Relu,
    /// SPLASH with hinges (0, 1, 2, 2.5), initialised as ReLU.
    Splash,
    /// Leaky ReLU, slope 0.01 for x < 0.
    Lrelu,
    /// Parametric ReLU, a learned slope per channel for x < 0 (initially 0.25).
    Prelu,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// Exponential linear unit, α = 1.
    Elu,
    /// Scaled ELU (λ ≈ 1.0507, α ≈ 1.6733).
    Selu,
    /// Swish, x·σ(βx) with β = 1.
    Swish,
    /// Adaptive piecewise linear unit (Agostinelli et al. 2014), S = 5 learned hinges per
    /// channel.
    Apl,
}

impl ActivationKind {
    /// Every kind, in the order the CLI and reports list them.
    pub const ALL: [ActivationKind; 10] = [
        ActivationKind::Relu,
        ActivationKind::Splash,
        ActivationKind::Lrelu,
        ActivationKind::Prelu,
        ActivationKind::Tanh,
        ActivationKind::Sigmoid,
        ActivationKind::Elu,
        ActivationKind::Selu,
        ActivationKind::Swish,
        ActivationKind::Apl,
    ];

    /// The two kinds the demo page compares.
    pub const DEMO: [ActivationKind; 2] = [ActivationKind::Relu, ActivationKind::Splash];

    /// A fresh activation of this kind at its initial parameters, for a layer whose input
    /// has `channels` channels (axis 1; per-channel parameters need it).
    pub fn build(self, channels: usize) -> Box<dyn Activation> {
        match self {
            ActivationKind::Relu => Box::new(Relu),
            ActivationKind::Splash => Box::new(Splash::new()),
            ActivationKind::Prelu => Box::new(Prelu::new(channels)),
            ActivationKind::Apl => Box::new(Apl::new(channels)),
            other => Box::new(Pointwise::new(other).expect("parameter-free kind")),
        }
    }

    /// Lower-case name, as in file names and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            ActivationKind::Relu => "relu",
            ActivationKind::Splash => "splash",
            ActivationKind::Lrelu => "lrelu",
            ActivationKind::Prelu => "prelu",
            ActivationKind::Tanh => "tanh",
            ActivationKind::Sigmoid => "sigmoid",
            ActivationKind::Elu => "elu",
            ActivationKind::Selu => "selu",
            ActivationKind::Swish => "swish",
            ActivationKind::Apl => "apl",
        }
    }
}

impl std::str::FromStr for ActivationKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ActivationKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = ActivationKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown activation '{s}' (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

/// An activation function applied elementwise, possibly with learned coefficients.
pub trait Activation: Send + Sync {
    /// Which kind this is.
    fn kind(&self) -> ActivationKind;
    /// The channels it has parameters for (inputs must be (N, C, ...) with this C), or
    /// None if it takes any shape.
    fn channels(&self) -> Option<usize> {
        None
    }
    /// h(x) for one scalar (used to draw the curve).
    fn value(&self, x: f32) -> f32;
    /// h applied to every element.
    fn forward(&self, x: &ArrayD<f32>) -> ArrayD<f32> {
        map_elementwise(x, |v| self.value(v))
    }
    /// h applied to every element of `x`, in place (a prediction's activations, which nothing
    /// else reads: no fresh array to clear, fill and free).
    fn forward_in_place(&self, x: &mut ArrayD<f32>) {
        *x = self.forward(x);
    }
    /// dL/dx from the pre-activations `x` and dL/dh; accumulates coefficient gradients.
    fn backward(&mut self, x: &ArrayD<f32>, grad_out: &ArrayD<f32>) -> ArrayD<f32>;
    /// Learned coefficients, by name.
    fn params_mut(&mut self) -> Vec<(&'static str, &mut Param)> {
        Vec::new()
    }
    /// Learned coefficients, by name, to read.
    fn params(&self) -> Vec<(&'static str, &Param)> {
        Vec::new()
    }
    /// Learned coefficients' values, by name.
    fn state(&self) -> Vec<(&'static str, &ArrayD<f32>)> {
        Vec::new()
    }
    /// Mutable learned coefficients' values, by name.
    fn state_mut(&mut self) -> Vec<(&'static str, &mut ArrayD<f32>)> {
        Vec::new()
    }
    /// The activation as SPLASH, if it is.
    fn as_splash(&self) -> Option<&Splash> {
        None
    }
    /// The activation as SPLASH, if it is, to change its coefficients.
    fn as_splash_mut(&mut self) -> Option<&mut Splash> {
        None
    }
}

/// Runs `body(out_piece, x_piece)` over fixed pieces of `x` and a fresh output of its shape
/// (in parallel for large arrays), and returns the output.
fn map_pieces(x: &ArrayD<f32>, body: impl Fn(&mut [f32], &[f32]) + Sync + Send) -> ArrayD<f32> {
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let mut out = vec![0.0f32; xs.len()];
    let len = light_chunk_len(xs.len(), 1);
    let pieces: Vec<_> = out.chunks_mut(len).zip(xs.chunks(len)).collect();
    map_ordered(pieces, |_, (o, i)| body(o, i));
    ArrayD::from_shape_vec(x.shape(), out).expect("same size")
}

/// h applied to every element of `x` (in parallel for large arrays).
pub(crate) fn map_elementwise(
    x: &ArrayD<f32>,
    f: impl Fn(f32) -> f32 + Sync + Send,
) -> ArrayD<f32> {
    map_pieces(x, |o, i| {
        for (o, &v) in o.iter_mut().zip(i) {
            *o = f(v);
        }
    })
}

/// h applied four elements at a time with explicit vectors (SSE2 natively, simd128 in
/// wasm), in parallel for large arrays; `f` must act on each lane independently. A copy of
/// `x` mapped in place ([`map_in_place_x4`]).
pub(crate) fn map_elementwise_x4(
    x: &ArrayD<f32>,
    f: impl Fn(wide::f32x4) -> wide::f32x4 + Sync + Send,
) -> ArrayD<f32> {
    let mut y = x.as_standard_layout().into_owned();
    map_in_place_x4(&mut y, f);
    y
}

/// [`map_elementwise_x4`] on `x` itself, piece by piece (in parallel for large arrays); an
/// `x` not in standard layout is first copied into it.
pub(crate) fn map_in_place_x4(
    x: &mut ArrayD<f32>,
    f: impl Fn(wide::f32x4) -> wide::f32x4 + Sync + Send,
) {
    if !x.is_standard_layout() {
        *x = x.as_standard_layout().into_owned();
    }
    let xs = x.as_slice_mut().expect("standard layout");
    let len = light_chunk_len(xs.len(), 1);
    map_ordered(xs.chunks_mut(len).collect(), |_, piece: &mut [f32]| {
        crate::nn::lanes::map_x4(piece, &f)
    });
}

/// Runs `f(dx_piece, x_piece, grad_piece)` over the same fixed pieces of the pre-activations
/// `x`, the incoming gradient and a fresh dL/dx, in parallel for large arrays; returns dL/dx
/// and each piece's result in order (for deterministic reductions).
pub(crate) fn backward_pieces<R: Send>(
    x: &ArrayD<f32>,
    grad_out: &ArrayD<f32>,
    f: impl Fn(&mut [f32], &[f32], &[f32]) -> R + Sync + Send,
) -> (ArrayD<f32>, Vec<R>) {
    let x = x.as_standard_layout();
    let g = grad_out.as_standard_layout();
    let (xs, gs) = (
        x.as_slice().expect("standard layout"),
        g.as_slice().expect("standard layout"),
    );
    let mut dx = vec![0.0f32; xs.len()];
    let len = light_chunk_len(xs.len(), 1);
    let pieces: Vec<_> = dx
        .chunks_mut(len)
        .zip(xs.chunks(len).zip(gs.chunks(len)))
        .collect();
    let results = map_ordered(pieces, |_, (d, (xc, gc))| f(d, xc, gc));
    (
        ArrayD::from_shape_vec(x.shape(), dx).expect("same size"),
        results,
    )
}

/// Elementwise dL/dx = dL/dh · h'(x) (in parallel for large arrays).
pub(crate) fn chain_pointwise(
    x: &ArrayD<f32>,
    grad_out: &ArrayD<f32>,
    derivative: impl Fn(f32) -> f32 + Sync + Send,
) -> ArrayD<f32> {
    backward_pieces(x, grad_out, |d, xc, gc| {
        for ((d, &v), &gv) in d.iter_mut().zip(xc).zip(gc) {
            *d = gv * derivative(v);
        }
    })
    .0
}

/// Rectified linear unit, h(x) = max(0, x); h'(0) is taken as 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct Relu;

impl Activation for Relu {
    fn kind(&self) -> ActivationKind {
        ActivationKind::Relu
    }
    fn value(&self, x: f32) -> f32 {
        x.max(0.0)
    }
    /// In explicit vectors: scalar `f32::max` is a call to `fmaxf` in WebAssembly.
    fn forward(&self, x: &ArrayD<f32>) -> ArrayD<f32> {
        map_elementwise_x4(x, crate::nn::lanes::relu)
    }
    fn forward_in_place(&self, x: &mut ArrayD<f32>) {
        map_in_place_x4(x, crate::nn::lanes::relu)
    }
    fn backward(&mut self, x: &ArrayD<f32>, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        chain_pointwise(x, grad_out, |v| if v > 0.0 { 1.0 } else { 0.0 })
    }
}

/// A layer that applies an [`Activation`] and keeps the last pre-activations (for the
/// backward pass and for showing where the data falls between the hinges).
pub struct ActivationLayer {
    activation: Box<dyn Activation>,
    input: Option<ArrayD<f32>>,
    /// Whether `input` is the whole batch of a pass a backward pass may follow (not a
    /// prediction's first image).
    for_backward: bool,
}

impl ActivationLayer {
    /// Wraps an activation as a layer.
    pub fn new(activation: Box<dyn Activation>) -> Self {
        ActivationLayer {
            activation,
            input: None,
            for_backward: false,
        }
    }

    /// The wrapped activation.
    pub fn activation(&self) -> &dyn Activation {
        self.activation.as_ref()
    }

    /// The wrapped activation, to change (e.g. SPLASH's coefficients).
    pub(crate) fn activation_mut(&mut self) -> &mut dyn Activation {
        self.activation.as_mut()
    }

    /// Pre-activations of the last forward pass, if any: the whole batch after
    /// [`Layer::forward`] with a backward pass to follow, the first image's (a batch of one)
    /// after a prediction ([`Pass::Predict`]).
    pub fn last_input(&self) -> Option<&ArrayD<f32>> {
        self.input.as_ref()
    }

    /// Records `first` (the first image's pre-activations, as a batch of one) as
    /// [`ActivationLayer::last_input`], for a prediction in which the layer before applied
    /// this activation itself ([`crate::nn::Epilogue`]), as [`Pass::Predict`] would have.
    pub(crate) fn keep_first_input(&mut self, first: Option<ArrayD<f32>>) {
        self.input = first;
        self.for_backward = false;
    }
}

impl Layer for ActivationLayer {
    fn kind(&self) -> &'static str {
        "activation"
    }

    /// With a backward pass to follow, the pre-activations it is given are kept for it as
    /// they are (no copy). A prediction keeps the first image's only (what the page shows),
    /// as a batch of one (copying a whole batch's was 4–5 % of a batch-64 prediction), and
    /// works in place on the rest.
    fn forward(&mut self, mut x: ArrayD<f32>, pass: Pass) -> Result<ArrayD<f32>, ShapeError> {
        if let Some(c) = self.activation.channels() {
            if x.ndim() < 2 || x.shape()[1] != c {
                return Err(ShapeError::input(
                    "activation",
                    format!("(N, {c}, ...)"),
                    x.shape(),
                ));
            }
        }
        self.for_backward = pass.keeps_for_backward();
        if self.for_backward {
            let y = self.activation.forward(&x);
            self.input = Some(x);
            return Ok(y);
        }
        self.input = (x.shape().first() > Some(&0))
            .then(|| x.slice_axis(Axis(0), Slice::from(0..1)).to_owned());
        self.activation.forward_in_place(&mut x);
        Ok(x)
    }

    /// The coefficient gradients are computed whatever `need` says (they come from the same
    /// pass as the input gradient).
    fn backward(&mut self, grad_out: &ArrayD<f32>, need: Need) -> InputGradient {
        let Some(x) = self.input.as_ref().filter(|_| self.for_backward) else {
            return Err(ShapeError::NoForward {
                layer: "activation",
            });
        };
        ShapeError::check_gradient("activation", x.shape(), grad_out.shape())?;
        let dx = self.activation.backward(x, grad_out);
        Ok(need.input().then_some(dx))
    }

    fn params_mut(&mut self) -> Vec<(&'static str, &mut Param)> {
        self.activation.params_mut()
    }

    fn params(&self) -> Vec<(&'static str, &Param)> {
        self.activation.params()
    }

    fn state(&self) -> Vec<(&'static str, &ArrayD<f32>)> {
        self.activation.state()
    }

    fn state_mut(&mut self) -> Vec<(&'static str, &mut ArrayD<f32>)> {
        self.activation.state_mut()
    }
}
