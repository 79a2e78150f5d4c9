//! Activation functions behind one abstraction: ReLU and SPLASH.
//!
//! [`Activation`] is what a new activation implements; [`ActivationLayer`] turns any of them
//! into a [`Layer`] by caching the pre-activations. A pointwise activation without
//! parameters needs only its value and derivative (see [`Relu`]); one with learned
//! coefficients also accumulates their gradients (see [`Splash`]).

use crate::nn::{Layer, Mode, Param};
use ndarray::{ArrayD, Zip};
use serde::{Deserialize, Serialize};

/// Which activation function a model uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivationKind {
    /// max(0, x).
    Relu,
    /// SPLASH with hinges (0, 1, 2, 2.5), initialised as ReLU.
    Splash,
}

impl ActivationKind {
    /// Every kind, in the order the CLI and page list them.
    pub const ALL: [ActivationKind; 2] = [ActivationKind::Relu, ActivationKind::Splash];

    /// A fresh activation of this kind, at its initial parameters.
    pub fn build(self) -> Box<dyn Activation> {
        match self {
            ActivationKind::Relu => Box::new(Relu),
            ActivationKind::Splash => Box::new(Splash::new()),
        }
    }

    /// Lower-case name, as in file names and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            ActivationKind::Relu => "relu",
            ActivationKind::Splash => "splash",
        }
    }
}

impl std::str::FromStr for ActivationKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ActivationKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown activation '{s}' (expected relu or splash)"))
    }
}

/// An activation function applied elementwise, possibly with learned coefficients.
pub trait Activation: Send {
    /// Which kind this is.
    fn kind(&self) -> ActivationKind;
    /// h(x) for one scalar (used to draw the curve).
    fn value(&self, x: f32) -> f32;
    /// h applied to every element.
    fn forward(&self, x: &ArrayD<f32>) -> ArrayD<f32> {
        x.mapv(|v| self.value(v))
    }
    /// dL/dx from the pre-activations `x` and dL/dh; accumulates coefficient gradients.
    fn backward(&mut self, x: &ArrayD<f32>, grad_out: &ArrayD<f32>) -> ArrayD<f32>;
    /// Learned coefficients, by name.
    fn params_mut(&mut self) -> Vec<(&'static str, &mut Param)> {
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
}

/// Elementwise dL/dx = dL/dh · h'(x).
fn chain_pointwise(
    x: &ArrayD<f32>,
    grad_out: &ArrayD<f32>,
    derivative: impl Fn(f32) -> f32,
) -> ArrayD<f32> {
    let mut dx = ArrayD::zeros(x.raw_dim());
    Zip::from(&mut dx)
        .and(x)
        .and(grad_out)
        .for_each(|d, &v, &g| *d = g * derivative(v));
    dx
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
    fn backward(&mut self, x: &ArrayD<f32>, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        chain_pointwise(x, grad_out, |v| if v > 0.0 { 1.0 } else { 0.0 })
    }
}

/// Hinge locations b_s of SPLASH, as multiples of the pre-activations' spread (BatchNorm
/// before each unit makes that spread about 1). The hinge at 0 is shared by both sides, so
/// there are 2·4 − 1 = 7 hinges: ±2.5, ±2, ±1, 0.
pub const SPLASH_HINGES: [f32; 4] = [0.0, 1.0, 2.0, 2.5];

/// SPLASH: h(x) = Σₛ a⁺ₛ·max(0, x − bₛ) + a⁻ₛ·max(0, −x − bₛ), s = 0..3, with fixed hinges
/// b = [`SPLASH_HINGES`] and learned slopes a⁺, a⁻ shared by all units of the layer.
///
/// Initialised as ReLU: a⁺ = (1, 0, 0, 0), a⁻ = 0. h is continuous, piecewise linear and
/// grounded (h(0) = 0); on (b_s, b_{s+1}) its slope is Σ_{r ≤ s} a⁺_r, and on
/// (−b_{s+1}, −b_s) it is −Σ_{r ≤ s} a⁻_r.
#[derive(Clone, Debug)]
pub struct Splash {
    /// Hinge locations b (fixed).
    pub hinges: [f32; 4],
    /// Slopes a⁺ of the hinges on the positive side, shape (4).
    pub a_plus: Param,
    /// Slopes a⁻ of the hinges on the negative side, shape (4).
    pub a_minus: Param,
}

impl Default for Splash {
    fn default() -> Self {
        Self::new()
    }
}

impl Splash {
    /// SPLASH at its ReLU initialisation.
    pub fn new() -> Self {
        Self::with_coefficients([1.0, 0.0, 0.0, 0.0], [0.0; 4])
    }

    /// SPLASH with the given slopes and the standard hinges.
    pub fn with_coefficients(a_plus: [f32; 4], a_minus: [f32; 4]) -> Self {
        Splash {
            hinges: SPLASH_HINGES,
            a_plus: Param::new(
                ArrayD::from_shape_vec(vec![4], a_plus.to_vec()).expect("4"),
                false,
            ),
            a_minus: Param::new(
                ArrayD::from_shape_vec(vec![4], a_minus.to_vec()).expect("4"),
                false,
            ),
        }
    }

    /// The learned a⁺ as an array.
    pub fn a_plus(&self) -> [f32; 4] {
        to4(&self.a_plus.value)
    }

    /// The learned a⁻ as an array.
    pub fn a_minus(&self) -> [f32; 4] {
        to4(&self.a_minus.value)
    }

    /// h'(x) (right-continuous convention away from hinges; 0 contributions at a hinge).
    pub fn derivative(&self, x: f32) -> f32 {
        let (ap, am) = (self.a_plus(), self.a_minus());
        let mut d = 0.0;
        for s in 0..4 {
            let b = self.hinges[s];
            if x > b {
                d += ap[s];
            }
            if -x > b {
                d -= am[s];
            }
        }
        d
    }
}

fn to4(a: &ArrayD<f32>) -> [f32; 4] {
    let mut out = [0.0; 4];
    for (o, v) in out.iter_mut().zip(a.iter()) {
        *o = *v;
    }
    out
}

impl Activation for Splash {
    fn kind(&self) -> ActivationKind {
        ActivationKind::Splash
    }

    fn value(&self, x: f32) -> f32 {
        let (ap, am) = (self.a_plus(), self.a_minus());
        let mut h = 0.0;
        for s in 0..4 {
            let b = self.hinges[s];
            h += ap[s] * (x - b).max(0.0) + am[s] * (-x - b).max(0.0);
        }
        h
    }

    fn forward(&self, x: &ArrayD<f32>) -> ArrayD<f32> {
        let (ap, am, b) = (self.a_plus(), self.a_minus(), self.hinges);
        x.mapv(|v| {
            let mut h = 0.0;
            for s in 0..4 {
                h += ap[s] * (v - b[s]).max(0.0) + am[s] * (-v - b[s]).max(0.0);
            }
            h
        })
    }

    fn backward(&mut self, x: &ArrayD<f32>, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        let (ap, am, b) = (self.a_plus(), self.a_minus(), self.hinges);
        let mut gp = [0.0f64; 4];
        let mut gm = [0.0f64; 4];
        let mut dx = ArrayD::zeros(x.raw_dim());
        Zip::from(&mut dx)
            .and(x)
            .and(grad_out)
            .for_each(|d, &v, &g| {
                let mut slope = 0.0;
                for s in 0..4 {
                    let pos = v - b[s];
                    if pos > 0.0 {
                        slope += ap[s];
                        gp[s] += (g * pos) as f64;
                    }
                    let neg = -v - b[s];
                    if neg > 0.0 {
                        slope -= am[s];
                        gm[s] += (g * neg) as f64;
                    }
                }
                *d = g * slope;
            });
        for s in 0..4 {
            self.a_plus.grad[s] += gp[s] as f32;
            self.a_minus.grad[s] += gm[s] as f32;
        }
        dx
    }

    fn params_mut(&mut self) -> Vec<(&'static str, &mut Param)> {
        vec![("a_plus", &mut self.a_plus), ("a_minus", &mut self.a_minus)]
    }

    fn state(&self) -> Vec<(&'static str, &ArrayD<f32>)> {
        vec![
            ("a_plus", &self.a_plus.value),
            ("a_minus", &self.a_minus.value),
        ]
    }

    fn state_mut(&mut self) -> Vec<(&'static str, &mut ArrayD<f32>)> {
        vec![
            ("a_plus", &mut self.a_plus.value),
            ("a_minus", &mut self.a_minus.value),
        ]
    }

    fn as_splash(&self) -> Option<&Splash> {
        Some(self)
    }
}

/// A layer that applies an [`Activation`] and keeps the last pre-activations (for the
/// backward pass and for showing where the data falls between the hinges).
pub struct ActivationLayer {
    activation: Box<dyn Activation>,
    input: Option<ArrayD<f32>>,
}

impl ActivationLayer {
    /// Wraps an activation as a layer.
    pub fn new(activation: Box<dyn Activation>) -> Self {
        ActivationLayer {
            activation,
            input: None,
        }
    }

    /// The wrapped activation.
    pub fn activation(&self) -> &dyn Activation {
        self.activation.as_ref()
    }

    /// Pre-activations of the last forward pass, if any.
    pub fn last_input(&self) -> Option<&ArrayD<f32>> {
        self.input.as_ref()
    }
}

impl Layer for ActivationLayer {
    fn kind(&self) -> &'static str {
        "activation"
    }

    fn forward(&mut self, x: &ArrayD<f32>, _mode: Mode) -> ArrayD<f32> {
        let y = self.activation.forward(x);
        self.input = Some(x.clone());
        y
    }

    fn backward(&mut self, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        let x = self
            .input
            .as_ref()
            .expect("activation: backward before forward");
        self.activation.backward(x, grad_out)
    }

    fn params_mut(&mut self) -> Vec<(&'static str, &mut Param)> {
        self.activation.params_mut()
    }

    fn state(&self) -> Vec<(&'static str, &ArrayD<f32>)> {
        self.activation.state()
    }

    fn state_mut(&mut self) -> Vec<(&'static str, &mut ArrayD<f32>)> {
        self.activation.state_mut()
    }

    fn as_activation(&self) -> Option<&ActivationLayer> {
        Some(self)
    }
}
