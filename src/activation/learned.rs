//! Activations with per-channel learned parameters: PReLU and APL.

use super::{Activation, ActivationKind};
use crate::nn::Param;
use ndarray::{Array2, ArrayD, Axis, Ix2};

/// Initial hinge locations of APL, the same for every channel.
pub const APL_HINGES: [f32; 5] = [-1.0, -0.5, 0.0, 0.5, 1.0];

/// Calls `f(channel, flat_index)` for every element of an (N, C, ...) array in standard
/// layout order.
fn for_each_channel(shape: &[usize], mut f: impl FnMut(usize, usize)) {
    let (n, c) = (shape[0], shape[1]);
    let inner: usize = shape[2..].iter().product();
    let mut i = 0;
    for _ in 0..n {
        for ch in 0..c {
            for _ in 0..inner {
                f(ch, i);
                i += 1;
            }
        }
    }
}

/// PReLU: h(x) = x for x > 0, aᶜ·x otherwise, with a slope aᶜ learned per channel c
/// (initially 0.25).
#[derive(Clone, Debug)]
pub struct Prelu {
    /// Slopes for x ≤ 0, shape (C).
    pub slope: Param,
}

impl Prelu {
    /// PReLU for `channels` channels with every slope 0.25.
    pub fn new(channels: usize) -> Self {
        Prelu {
            slope: Param::new(ArrayD::from_elem(vec![channels], 0.25), false),
        }
    }
}

impl Activation for Prelu {
    fn kind(&self) -> ActivationKind {
        ActivationKind::Prelu
    }

    fn channels(&self) -> Option<usize> {
        Some(self.slope.value.len())
    }

    /// h(x) with the mean slope over channels.
    fn value(&self, x: f32) -> f32 {
        let a = self.slope.value.mean().unwrap_or(0.25);
        if x > 0.0 {
            x
        } else {
            a * x
        }
    }

    fn forward(&self, x: &ArrayD<f32>) -> ArrayD<f32> {
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let a = &self.slope.value;
        let mut out = vec![0.0; xs.len()];
        for_each_channel(x.shape(), |c, i| {
            let v = xs[i];
            out[i] = if v > 0.0 { v } else { a[c] * v };
        });
        ArrayD::from_shape_vec(x.shape(), out).expect("same size")
    }

    fn backward(&mut self, x: &ArrayD<f32>, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        let x = x.as_standard_layout();
        let g = grad_out.as_standard_layout();
        let (xs, gs) = (x.as_slice().expect("std"), g.as_slice().expect("std"));
        let a = self.slope.value.clone();
        let mut da = vec![0.0f64; a.len()];
        let mut dx = vec![0.0; xs.len()];
        for_each_channel(x.shape(), |c, i| {
            if xs[i] > 0.0 {
                dx[i] = gs[i];
            } else {
                dx[i] = gs[i] * a[c];
                da[c] += (gs[i] * xs[i]) as f64;
            }
        });
        for (c, d) in da.into_iter().enumerate() {
            self.slope.grad[c] += d as f32;
        }
        ArrayD::from_shape_vec(x.shape(), dx).expect("same size")
    }

    crate::nn::tensors! { "slope" => param slope }
}

/// APL (Agostinelli et al. 2014): h(x) = max(0, x) + Σₛ aₛᶜ·max(0, −x + bₛᶜ), s = 1..5, with
/// slopes a and hinge locations b both learned per channel c. Starts as ReLU (a = 0) with
/// hinges at [`APL_HINGES`].
#[derive(Clone, Debug)]
pub struct Apl {
    /// Slopes, shape (C, 5).
    pub a: Param,
    /// Hinge locations, shape (C, 5).
    pub b: Param,
}

impl Apl {
    /// APL for `channels` channels at its initialisation.
    pub fn new(channels: usize) -> Self {
        let b = Array2::from_shape_fn((channels, APL_HINGES.len()), |(_, s)| APL_HINGES[s]);
        Apl {
            a: Param::new(ArrayD::zeros(vec![channels, APL_HINGES.len()]), false),
            b: Param::new(b.into_dyn(), false),
        }
    }

    fn ab(&self) -> (Array2<f32>, Array2<f32>) {
        let two = |p: &Param| {
            p.value
                .view()
                .into_dimensionality::<Ix2>()
                .expect("2-D")
                .to_owned()
        };
        (two(&self.a), two(&self.b))
    }
}

impl Activation for Apl {
    fn kind(&self) -> ActivationKind {
        ActivationKind::Apl
    }

    fn channels(&self) -> Option<usize> {
        self.a.value.shape().first().copied()
    }

    /// h(x) with the parameters averaged over channels.
    fn value(&self, x: f32) -> f32 {
        let (a, b) = self.ab();
        let (am, bm) = (a.mean_axis(Axis(0)), b.mean_axis(Axis(0)));
        let (am, bm) = (am.expect("channels"), bm.expect("channels"));
        x.max(0.0)
            + am.iter()
                .zip(bm.iter())
                .map(|(&a, &b)| a * (b - x).max(0.0))
                .sum::<f32>()
    }

    fn forward(&self, x: &ArrayD<f32>) -> ArrayD<f32> {
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let (a, b) = self.ab();
        let mut out = vec![0.0; xs.len()];
        for_each_channel(x.shape(), |c, i| {
            let v = xs[i];
            let mut h = v.max(0.0);
            for s in 0..a.ncols() {
                h += a[[c, s]] * (b[[c, s]] - v).max(0.0);
            }
            out[i] = h;
        });
        ArrayD::from_shape_vec(x.shape(), out).expect("same size")
    }

    fn backward(&mut self, x: &ArrayD<f32>, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        let x = x.as_standard_layout();
        let g = grad_out.as_standard_layout();
        let (xs, gs) = (x.as_slice().expect("std"), g.as_slice().expect("std"));
        let (a, b) = self.ab();
        let (channels, k) = a.dim();
        let (a, b) = (a.as_slice().expect("std"), b.as_slice().expect("std"));
        let mut da = Array2::<f64>::zeros((channels, k));
        let mut db = Array2::<f64>::zeros((channels, k));
        let mut dx = vec![0.0; xs.len()];
        let inner: usize = x.shape()[2..].iter().product();
        let (das, dbs) = (
            da.as_slice_mut().expect("std"),
            db.as_slice_mut().expect("std"),
        );
        // Plane by plane, with each channel's hinges as plain slices.
        let planes = dx
            .chunks_mut(inner)
            .zip(xs.chunks(inner).zip(gs.chunks(inner)));
        for (p, (dplane, (xplane, gplane))) in planes.enumerate() {
            let c = p % channels;
            let (ar, br) = (&a[c * k..(c + 1) * k], &b[c * k..(c + 1) * k]);
            let (dar, dbr) = (&mut das[c * k..(c + 1) * k], &mut dbs[c * k..(c + 1) * k]);
            for ((d, &v), &gi) in dplane.iter_mut().zip(xplane).zip(gplane) {
                let mut slope = if v > 0.0 { 1.0 } else { 0.0 };
                for s in 0..k {
                    let t = br[s] - v;
                    if t > 0.0 {
                        slope -= ar[s];
                        dar[s] += (gi * t) as f64;
                        dbr[s] += (gi * ar[s]) as f64;
                    }
                }
                *d = gi * slope;
            }
        }
        // Plain slices: ndarray's dimension-generic zip inlined here was 40 KB of wasm.
        for (p, d) in [(&mut self.a, das), (&mut self.b, dbs)] {
            let grad = p.grad.as_slice_mut().expect("std");
            for (g, &d) in grad.iter_mut().zip(d.iter()) {
                *g += d as f32;
            }
        }
        ArrayD::from_shape_vec(x.shape(), dx).expect("same size")
    }

    crate::nn::tensors! { "a" => param a, "b" => param b }
}
