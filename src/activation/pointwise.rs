//! Parameter-free activations given by a value and a derivative.

use super::{chain_pointwise, Activation, ActivationKind};
use ndarray::ArrayD;

/// SELU's scale λ.
pub const SELU_LAMBDA: f32 = 1.050_701;
/// SELU's α.
pub const SELU_ALPHA: f32 = 1.673_263_2;

type ScalarFn = fn(f32) -> f32;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// An activation without parameters: h(x) and h'(x) as plain functions.
#[derive(Clone, Copy, Debug)]
pub struct Pointwise {
    kind: ActivationKind,
    value: ScalarFn,
    derivative: ScalarFn,
}

impl Pointwise {
    /// The parameter-free activation of `kind`, or `None` for a kind with parameters.
    ///
    /// - LReLU: x for x > 0, 0.01·x otherwise.
    /// - tanh, sigmoid σ(x) = 1/(1 + e⁻ˣ).
    /// - ELU (α = 1): x for x > 0, eˣ − 1 otherwise.
    /// - SELU: λ·x for x > 0, λ·α·(eˣ − 1) otherwise.
    /// - Swish (β = 1): x·σ(x).
    /// - ReLU: max(0, x).
    pub fn new(kind: ActivationKind) -> Option<Self> {
        let (value, derivative): (ScalarFn, ScalarFn) = match kind {
            ActivationKind::Relu => (|x| x.max(0.0), |x| if x > 0.0 { 1.0 } else { 0.0 }),
            ActivationKind::Lrelu => (
                |x| if x > 0.0 { x } else { 0.01 * x },
                |x| if x > 0.0 { 1.0 } else { 0.01 },
            ),
            ActivationKind::Tanh => (f32::tanh, |x| 1.0 - x.tanh().powi(2)),
            ActivationKind::Sigmoid => (sigmoid, |x| sigmoid(x) * (1.0 - sigmoid(x))),
            ActivationKind::Elu => (
                |x| if x > 0.0 { x } else { x.exp_m1() },
                |x| if x > 0.0 { 1.0 } else { x.exp() },
            ),
            ActivationKind::Selu => (
                |x| SELU_LAMBDA * if x > 0.0 { x } else { SELU_ALPHA * x.exp_m1() },
                |x| SELU_LAMBDA * if x > 0.0 { 1.0 } else { SELU_ALPHA * x.exp() },
            ),
            ActivationKind::Swish => (
                |x| x * sigmoid(x),
                |x| {
                    let s = sigmoid(x);
                    s + x * s * (1.0 - s)
                },
            ),
            _ => return None,
        };
        Some(Pointwise {
            kind,
            value,
            derivative,
        })
    }

    /// h'(x).
    pub fn derivative(&self, x: f32) -> f32 {
        (self.derivative)(x)
    }
}

impl Activation for Pointwise {
    fn kind(&self) -> ActivationKind {
        self.kind
    }
    fn value(&self, x: f32) -> f32 {
        (self.value)(x)
    }
    fn backward(&mut self, x: &ArrayD<f32>, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        chain_pointwise(x, grad_out, self.derivative)
    }
}
