//! Layers with forward and backward passes on `ndarray` (f32, batch first).
//!
//! A layer's [`Layer::forward`] keeps what its [`Pass`] says the backward pass will read, so
//! a [`Layer::backward`] must follow a forward pass that kept it (else it is a
//! [`ShapeError::NoForward`]). Parameter gradients are *accumulated* into [`Param::grad`];
//! call [`Layer::zero_grad`] between steps. Shapes that do not fit are [`ShapeError`]s;
//! the kernels below the layers assert their own invariants.

mod batchnorm;
mod conv;
#[cfg(target_arch = "x86_64")]
mod direct;
mod dropout;
pub mod gemm;
pub(crate) mod lanes;
mod linear;
mod pool;
mod reshape;
pub mod winograd;

pub use batchnorm::BatchNorm;
pub use conv::Conv2d;
pub use dropout::Dropout;
pub use linear::Linear;
pub use pool::{GlobalAvgPool, MaxPool2d};
pub use reshape::{Flatten, Normalize};

use ndarray::ArrayD;
use wide::f32x4;

/// What a convolution applies to its outputs as it writes them: nothing, or the ReLU that
/// follows it. A prediction with the BatchNorm in between folded in (see
/// [`crate::model::Model::predict`]) applies the ReLU there, while the outputs are still in
/// registers or cache, instead of in the activation layer's own pass over the batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Epilogue {
    /// The outputs as computed.
    #[default]
    Identity,
    /// max(0, output), as [`crate::activation::Relu`] computes it (the same bits).
    Relu,
}

impl Epilogue {
    /// Four outputs.
    #[inline(always)]
    pub(crate) fn vector(self, v: f32x4) -> f32x4 {
        match self {
            Epilogue::Identity => v,
            Epilogue::Relu => lanes::relu(v),
        }
    }

    /// One output (in a vector lane, so that it is the same operation as [`Epilogue::vector`]).
    #[inline(always)]
    pub(crate) fn scalar(self, v: f32) -> f32 {
        match self {
            Epilogue::Identity => v,
            Epilogue::Relu => lanes::relu(f32x4::splat(v)).to_array()[0],
        }
    }

    /// Outputs already written, in place.
    pub(crate) fn apply(self, values: &mut [f32]) {
        if self != Epilogue::Identity {
            lanes::map_x4(values, |v| self.vector(v));
        }
    }
}

/// The family of kernels a layer computes its products and convolutions with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernels {
    /// The WebAssembly build's own kernels ([`gemm::small_gemm`], Winograd's convolution,
    /// the shifted convolution), plain Rust on four-lane vectors: the only family in
    /// WebAssembly. Natively they repeat the page's computation bit for bit (slower: for
    /// tests that check exactly that).
    Portable,
    /// Natively: matrixmultiply's GEMM (AVX2/FMA kernels picked at run time) and, on x86-64
    /// with AVX2 and FMA, the direct convolution for stride 1.
    #[cfg(not(target_arch = "wasm32"))]
    Native,
}

impl Default for Kernels {
    /// [`Kernels::Native`] natively, [`Kernels::Portable`] in WebAssembly.
    fn default() -> Self {
        #[cfg(target_arch = "wasm32")]
        {
            Kernels::Portable
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            Kernels::Native
        }
    }
}

/// Whether a forward pass trains (batch statistics, dropout on) or evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// BatchNorm uses and updates batch statistics; Dropout drops.
    Train,
    /// BatchNorm uses its running statistics; Dropout is the identity.
    Eval,
}

/// What a layer's forward pass is for, and so what it must keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Training ([`Mode::Train`]): everything the backward pass reads is kept.
    Train,
    /// Evaluation ([`Mode::Eval`]) with a backward pass to follow (an attack's gradient):
    /// everything the backward pass reads is kept.
    Eval,
    /// A prediction ([`Mode::Eval`]) with no backward pass to follow: the same output, but
    /// a layer may skip what only the backward pass reads (a copy of the input, the
    /// max-pool's winners) and leave no cache for it, so a backward pass after it panics as
    /// one before any forward pass does. Activation layers keep the first image's
    /// pre-activations only (what the page shows).
    Predict,
}

impl Pass {
    /// The mode the layers compute in.
    pub fn mode(self) -> Mode {
        match self {
            Pass::Train => Mode::Train,
            Pass::Eval | Pass::Predict => Mode::Eval,
        }
    }

    /// Whether a backward pass may follow.
    pub fn keeps_for_backward(self) -> bool {
        self != Pass::Predict
    }
}

impl From<Mode> for Pass {
    /// A pass in `mode` with a backward pass to follow.
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Train => Pass::Train,
            Mode::Eval => Pass::Eval,
        }
    }
}

/// What a layer's backward pass must compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Parameter gradients (accumulated) and dL/d(input): training through a layer.
    All,
    /// Parameter gradients only: the first layer with parameters, in training, whose input
    /// gradient nobody reads.
    Params,
    /// dL/d(input) only: an attack's gradient. Parameter gradients may be left untouched.
    Input,
}

impl Need {
    /// Whether dL/d(input) is asked for.
    pub fn input(self) -> bool {
        self != Need::Params
    }

    /// Whether parameter gradients are asked for.
    pub fn params(self) -> bool {
        self != Need::Input
    }
}

/// A learnable tensor and the gradient accumulated for it.
#[derive(Clone, Debug)]
pub struct Param {
    /// Current value.
    pub value: ArrayD<f32>,
    /// Accumulated gradient of the loss, same shape as `value`.
    pub grad: ArrayD<f32>,
    /// Whether weight decay applies (weights yes; biases, BatchNorm and activation
    /// coefficients no).
    pub decay: bool,
}

impl Param {
    /// A parameter with zero gradient.
    pub fn new(value: ArrayD<f32>, decay: bool) -> Self {
        let grad = ArrayD::zeros(value.raw_dim());
        Param { value, grad, decay }
    }
}

/// Adds `values` elementwise into a contiguous gradient. (A plain loop: ndarray's
/// dimension-generic `+=` on `ArrayD` compiles to 20 KB of WebAssembly.)
pub(crate) fn add_into(grad: &mut ArrayD<f32>, values: &[f32]) {
    let grad = grad.as_slice_mut().expect("contiguous gradient");
    assert_eq!(grad.len(), values.len(), "gradient size");
    for (g, v) in grad.iter_mut().zip(values) {
        *g += v;
    }
}

/// Names a layer's (or an activation's) tensors once and writes from that one list the three
/// views the rest of the crate reads: `params_mut` (the optimiser: learnable parameters) and
/// `params` (counting them),
/// `state` (saving) and `state_mut` (loading). Each entry is `"name" => param field` for a
/// [`Param`] or `"name" => buffer field` for a plain tensor (e.g. running statistics).
///
/// ```ignore
/// tensors! { "weight" => param weight, "bias" => param bias, "running_mean" => buffer running_mean }
/// ```
macro_rules! tensors {
    ($($name:literal => $kind:ident $field:ident),* $(,)?) => {
        fn params_mut(&mut self) -> Vec<(&'static str, &mut $crate::nn::Param)> {
            let all: Vec<Option<(&'static str, &mut $crate::nn::Param)>> =
                vec![$( $crate::nn::tensors!(@param $kind, $name, self.$field) ),*];
            all.into_iter().flatten().collect()
        }
        fn params(&self) -> Vec<(&'static str, &$crate::nn::Param)> {
            let all: Vec<Option<(&'static str, &$crate::nn::Param)>> =
                vec![$( $crate::nn::tensors!(@param_ref $kind, $name, self.$field) ),*];
            all.into_iter().flatten().collect()
        }
        fn state(&self) -> Vec<(&'static str, &ndarray::ArrayD<f32>)> {
            vec![$( ($name, $crate::nn::tensors!(@value $kind, &self.$field)) ),*]
        }
        fn state_mut(&mut self) -> Vec<(&'static str, &mut ndarray::ArrayD<f32>)> {
            vec![$( ($name, $crate::nn::tensors!(@value_mut $kind, &mut self.$field)) ),*]
        }
    };
    (@param param, $name:literal, $e:expr) => { Some(($name, &mut $e)) };
    (@param buffer, $name:literal, $e:expr) => { None };
    (@param_ref param, $name:literal, $e:expr) => { Some(($name, &$e)) };
    (@param_ref buffer, $name:literal, $e:expr) => { None };
    (@value param, &$e:expr) => { &$e.value };
    (@value buffer, &$e:expr) => { &$e };
    (@value_mut param, &mut $e:expr) => { &mut $e.value };
    (@value_mut buffer, &mut $e:expr) => { &mut $e };
}
pub(crate) use tensors;

/// What a layer refuses: an input of the wrong shape, a gradient that does not match the
/// last output, or a backward pass with no forward pass that kept what it reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// The input's shape does not fit the layer.
    #[error("{layer}: expected an input of shape {expected}, got {got:?}")]
    Input {
        /// The layer's kind.
        layer: &'static str,
        /// What it takes, in words, e.g. `(N, 6, H, W) with H, W ≥ 5`.
        expected: String,
        /// The shape given.
        got: Vec<usize>,
    },
    /// The gradient's shape is not the last output's.
    #[error("{layer}: expected a gradient of shape {expected:?} (the last output's), got {got:?}")]
    Gradient {
        /// The layer's kind.
        layer: &'static str,
        /// The last output's shape.
        expected: Vec<usize>,
        /// The shape given.
        got: Vec<usize>,
    },
    /// A backward pass before any forward pass, or after a prediction ([`Pass::Predict`]).
    #[error("{layer}: a backward pass needs a forward pass before it that kept what it reads (a training or evaluation pass, not a prediction)")]
    NoForward {
        /// The layer's kind.
        layer: &'static str,
    },
}

impl ShapeError {
    /// An input of shape `got` where the layer takes `expected`.
    pub(crate) fn input(layer: &'static str, expected: impl Into<String>, got: &[usize]) -> Self {
        ShapeError::Input {
            layer,
            expected: expected.into(),
            got: got.to_vec(),
        }
    }

    /// Ok if the gradient's shape `got` is the last output's, `expected`.
    pub(crate) fn check_gradient(
        layer: &'static str,
        expected: &[usize],
        got: &[usize],
    ) -> Result<(), Self> {
        if expected == got {
            return Ok(());
        }
        Err(ShapeError::Gradient {
            layer,
            expected: expected.to_vec(),
            got: got.to_vec(),
        })
    }
}

/// What a backward pass returns: dL/d(input) if it was asked for, or why the pass is
/// refused.
pub type InputGradient = Result<Option<ArrayD<f32>>, ShapeError>;

/// A differentiable layer.
pub trait Layer: Send {
    /// The layer's kind, e.g. `"conv2d"`.
    fn kind(&self) -> &'static str;
    /// Computes the output of `x` and keeps what `pass` says. The input is given to keep: a
    /// layer may work in place on it, or keep it for the backward pass without a copy.
    /// Errors if its shape does not fit the layer.
    fn forward(&mut self, x: ArrayD<f32>, pass: Pass) -> Result<ArrayD<f32>, ShapeError>;
    /// Given dL/d(output) of the last forward pass (one that kept for a backward pass),
    /// computes what `need` says: parameter gradients are *accumulated*; dL/d(input) is
    /// returned (None exactly when `need` is [`Need::Params`]). Errors if there is no such
    /// forward pass or the gradient's shape is not its output's.
    fn backward(&mut self, grad_out: &ArrayD<f32>, need: Need) -> InputGradient;
    /// Learnable parameters with their names inside the layer.
    fn params_mut(&mut self) -> Vec<(&'static str, &mut Param)> {
        Vec::new()
    }
    /// The same parameters as [`Layer::params_mut`], to read.
    fn params(&self) -> Vec<(&'static str, &Param)> {
        Vec::new()
    }
    /// Every tensor that defines the layer (parameters and buffers such as running
    /// statistics), by name, for saving.
    fn state(&self) -> Vec<(&'static str, &ArrayD<f32>)> {
        Vec::new()
    }
    /// Mutable access to the same tensors as [`Layer::state`], for loading.
    fn state_mut(&mut self) -> Vec<(&'static str, &mut ArrayD<f32>)> {
        Vec::new()
    }
    /// Sets all parameter gradients to zero.
    fn zero_grad(&mut self) {
        for (_, p) in self.params_mut() {
            p.grad.fill(0.0);
        }
    }
}

/// Runs `f` compiled for AVX2 where the processor has it (natively on x86-64; detected once):
/// BatchNorm's passes and sums and the max pool vectorise eight lanes wide instead of SSE2's
/// four. The same operations in the same order, so the results are the same to the bit.
/// Mark the closure `#[inline(always)]`: otherwise LLVM may keep it a function of its own,
/// compiled for the baseline (it did for BatchNorm's). Call it inside each parallel piece,
/// since a closure handed on to the thread pool is compiled on its own.
#[inline(always)]
pub(crate) fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn run<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if direct::available() {
            // SAFETY: the processor has AVX2 (`direct::available` checked it).
            return unsafe { run(f) };
        }
    }
    f()
}

#[cfg(test)]
mod tests {
    use super::lanes::copy_short_map;
    use super::Epilogue;
    use crate::activation::{Activation, Relu};
    use ndarray::ArrayD;

    /// The epilogue's ReLU, in place and on a copy, over whole vectors and a tail, gives the
    /// bits of the activation layer's (negative zero and NaN included); the identity
    /// changes nothing.
    #[test]
    fn epilogue_relu_is_the_activations_relu() {
        let values = [
            -1.5,
            -0.0,
            0.0,
            2.25,
            f32::NAN,
            -f32::INFINITY,
            1e-30,
            -7.0,
            f32::INFINITY,
            -1e-30,
        ];
        for len in 0..=values.len() {
            let x = &values[..len];
            let want = Relu.forward(&ArrayD::from_shape_vec(vec![len], x.to_vec()).unwrap());
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            let mut got = x.to_vec();
            Epilogue::Relu.apply(&mut got);
            assert_eq!(
                bits(&got),
                bits(want.as_slice().unwrap()),
                "in place, {len}"
            );
            let mut copied = vec![1.0; len];
            copy_short_map(&mut copied, x, |v| Epilogue::Relu.vector(v));
            assert_eq!(bits(&copied), bits(&got), "copied, {len}");
            let mut same = x.to_vec();
            Epilogue::Identity.apply(&mut same);
            assert_eq!(bits(&same), bits(x), "identity, {len}");
        }
    }
}
