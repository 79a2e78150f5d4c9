//! SPLASH: symmetric piecewise-linear hinges with learned slopes.

use super::{backward_pieces, map_elementwise_x4, map_in_place_x4, Activation, ActivationKind};
use crate::nn::Param;
use ndarray::ArrayD;
use wide::f32x4;

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

    /// Replaces the coefficients a⁺ and a⁻ (the hinges stay).
    pub fn set_coefficients(&mut self, a_plus: [f32; 4], a_minus: [f32; 4]) {
        for (param, values) in [(&mut self.a_plus, a_plus), (&mut self.a_minus, a_minus)] {
            param
                .value
                .iter_mut()
                .zip(values)
                .for_each(|(v, new)| *v = new);
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

impl Splash {
    /// h on four values at once, for the forward passes.
    fn lanes(&self) -> impl Fn(f32x4) -> f32x4 + Sync + Send {
        let zero = f32x4::ZERO;
        let bs = self.hinges.map(f32x4::splat);
        let (aps, ams) = (
            self.a_plus().map(f32x4::splat),
            self.a_minus().map(f32x4::splat),
        );
        move |v| {
            let mut h = zero;
            for s in 0..4 {
                h += aps[s] * (v - bs[s]).max(zero) + ams[s] * (-v - bs[s]).max(zero);
            }
            h
        }
    }
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
        map_elementwise_x4(x, self.lanes())
    }

    fn forward_in_place(&self, x: &mut ArrayD<f32>) {
        map_in_place_x4(x, self.lanes())
    }

    fn backward(&mut self, x: &ArrayD<f32>, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        let (ap, am, b) = (self.a_plus(), self.a_minus(), self.hinges);
        // Four elements at a time in explicit vectors (SSE2 natively, simd128 in wasm): the
        // coefficient gradients are summed per lane in f32 over blocks of 256 elements and in
        // f64 across blocks, and the pieces are then added in order (deterministic).
        let (dx, partials) = backward_pieces(x, grad_out, |d, xc, gc| {
            let zero = f32x4::ZERO;
            let bs = b.map(f32x4::splat);
            let (aps, ams) = (ap.map(f32x4::splat), am.map(f32x4::splat));
            let mut total = [0.0f64; 8];
            for ((db, xb), gb) in d.chunks_mut(256).zip(xc.chunks(256)).zip(gc.chunks(256)) {
                let mut acc = [zero; 8];
                let mut quad = |x: [f32; 4], g: [f32; 4]| -> [f32; 4] {
                    let (x, g) = (f32x4::new(x), f32x4::new(g));
                    let mut slope = zero;
                    for s in 0..4 {
                        let (up, down) = (x - bs[s], -x - bs[s]);
                        let (on_up, on_down) = (up.simd_gt(zero), down.simd_gt(zero));
                        slope += aps[s] & on_up;
                        slope -= ams[s] & on_down;
                        acc[s] += (g * up) & on_up;
                        acc[4 + s] += (g * down) & on_down;
                    }
                    (g * slope).to_array()
                };
                let whole = xb.len() / 4 * 4;
                for ((d4, x4), g4) in db[..whole]
                    .chunks_exact_mut(4)
                    .zip(xb[..whole].chunks_exact(4))
                    .zip(gb[..whole].chunks_exact(4))
                {
                    let out = quad(x4.try_into().expect("4"), g4.try_into().expect("4"));
                    d4.copy_from_slice(&out);
                }
                // The tail, padded with x = 0 and dL/dh = 0, which add nothing to any sum.
                let tail = xb.len() - whole;
                if tail > 0 {
                    let (mut x4, mut g4) = ([0.0; 4], [0.0; 4]);
                    x4[..tail].copy_from_slice(&xb[whole..]);
                    g4[..tail].copy_from_slice(&gb[whole..]);
                    db[whole..].copy_from_slice(&quad(x4, g4)[..tail]);
                }
                for (t, lanes) in total.iter_mut().zip(acc) {
                    *t += lanes.to_array().iter().map(|&a| a as f64).sum::<f64>();
                }
            }
            total
        });
        for p in partials {
            for s in 0..4 {
                self.a_plus.grad[s] += p[s] as f32;
                self.a_minus.grad[s] += p[4 + s] as f32;
            }
        }
        dx
    }

    crate::nn::tensors! { "a_plus" => param a_plus, "a_minus" => param a_minus }

    fn as_splash(&self) -> Option<&Splash> {
        Some(self)
    }

    fn as_splash_mut(&mut self) -> Option<&mut Splash> {
        Some(self)
    }
}
