//! Batch normalisation over the channel axis of (N, C) or (N, C, H, W) inputs.

use super::{with_avx2, InputGradient, Layer, Mode, Need, Param, Pass, ShapeError};
use crate::parallel::{light_chunk_len, map_ordered};
use ndarray::ArrayD;

/// Batch normalisation, y = γ·(x − μ)/√(σ² + ε) + β, per channel (axis 1).
///
/// In [`Mode::Train`] μ and σ² are the batch statistics (biased variance) and the running
/// statistics move towards them with `momentum` (running variance unbiased, as PyTorch);
/// in [`Mode::Eval`] the running statistics are used.
pub struct BatchNorm {
    /// Scale γ, (C).
    pub gamma: Param,
    /// Shift β, (C).
    pub beta: Param,
    /// Running mean, (C).
    pub running_mean: ArrayD<f32>,
    /// Running variance, (C).
    pub running_var: ArrayD<f32>,
    /// Weight of the new batch in the running statistics.
    pub momentum: f32,
    /// Added to the variance.
    pub eps: f32,
    cache: Option<Cache>,
}

struct Cache {
    shape: Vec<usize>,
    xhat: Vec<f32>,
    inv_std: Vec<f32>,
    mode: Mode,
}

/// Adds per-piece vectors of `width` values, in order.
/// Σ term(a[i], b[i]) in eight interleaved f64 accumulators, added together at the end:
/// independent chains the CPU overlaps (and the compiler vectorises), where one running sum
/// waits for every add. The order is fixed, so the result is deterministic.
#[inline(always)]
fn lane_sum(a: &[f32], b: &[f32], term: impl Fn(f32, f32) -> f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let whole = a.len() / 8 * 8;
    for (a8, b8) in a[..whole].chunks_exact(8).zip(b[..whole].chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += term(a8[l], b8[l]);
        }
    }
    for (l, (&x, &y)) in a[whole..].iter().zip(&b[whole..]).enumerate() {
        acc[l] += term(x, y);
    }
    acc.iter().sum()
}

/// Σ term(channel, v) over each channel of `xs` (samples of `c` planes of `l` values), one
/// vector per piece of `block` values (in parallel), for [`sum_columns`] to add in order.
fn channel_sums(
    xs: &[f32],
    block: usize,
    (c, l): (usize, usize),
    term: impl Fn(usize, f32) -> f64 + Sync + Send,
) -> Vec<Vec<f64>> {
    map_ordered(xs.chunks(block).collect(), |_, piece| {
        with_avx2(
            #[inline(always)]
            || {
                let mut s = vec![0.0f64; c];
                for sample in piece.chunks(c * l) {
                    for (ch, plane) in sample.chunks(l).enumerate() {
                        s[ch] += lane_sum(plane, plane, |v, _| term(ch, v));
                    }
                }
                s
            },
        )
    })
}

fn sum_columns(parts: Vec<Vec<f64>>, width: usize) -> Vec<f64> {
    let mut total = vec![0.0f64; width];
    for p in parts {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

impl BatchNorm {
    /// A BatchNorm over `channels` channels with γ = 1, β = 0, running mean 0, variance 1.
    pub fn new(channels: usize) -> Self {
        BatchNorm {
            gamma: Param::new(ArrayD::ones(vec![channels]), false),
            beta: Param::new(ArrayD::zeros(vec![channels]), false),
            running_mean: ArrayD::zeros(vec![channels]),
            running_var: ArrayD::ones(vec![channels]),
            momentum: 0.1,
            eps: 1e-5,
            cache: None,
        }
    }

    /// 1/√(σ² + ε) for a variance σ², as the normalisation uses it (computed in f64).
    pub fn inverse_std(&self, variance: f64) -> f32 {
        (1.0 / (variance + self.eps as f64).sqrt()) as f32
    }
}

impl Layer for BatchNorm {
    fn kind(&self) -> &'static str {
        "batchnorm"
    }

    fn forward(&mut self, x: ArrayD<f32>, pass: Pass) -> Result<ArrayD<f32>, ShapeError> {
        let mode = pass.mode();
        let shape = x.shape().to_vec();
        let channels = self.gamma.value.len();
        if shape.len() < 2 || shape[1] != channels {
            return Err(ShapeError::input(
                "batchnorm",
                format!("(N, {channels}, ...)"),
                &shape,
            ));
        }
        let (n, c) = (shape[0], shape[1]);
        let l: usize = shape[2..].iter().product();
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let per = c * l;
        let block = light_chunk_len(n, per) * per;
        let m = (n * l) as f64;
        let (mean, var): (Vec<f64>, Vec<f64>) = match mode {
            Mode::Train => {
                let sums = channel_sums(xs, block, (c, l), |_, v| v as f64);
                let mean = sum_columns(sums, c)
                    .into_iter()
                    .map(|v| v / m)
                    .collect::<Vec<_>>();
                let squares =
                    channel_sums(xs, block, (c, l), |ch, v| (v as f64 - mean[ch]).powi(2));
                let var: Vec<f64> = sum_columns(squares, c).into_iter().map(|v| v / m).collect();
                let unbiased = if m > 1.0 { m / (m - 1.0) } else { 1.0 };
                let mo = self.momentum;
                for ch in 0..c {
                    self.running_mean[ch] =
                        (1.0 - mo) * self.running_mean[ch] + mo * mean[ch] as f32;
                    self.running_var[ch] =
                        (1.0 - mo) * self.running_var[ch] + mo * (var[ch] * unbiased) as f32;
                }
                (mean, var)
            }
            Mode::Eval => (
                self.running_mean.iter().map(|&v| v as f64).collect(),
                self.running_var.iter().map(|&v| v as f64).collect(),
            ),
        };
        let inv_std: Vec<f32> = var.iter().map(|&v| self.inverse_std(v)).collect();
        let mean: Vec<f32> = mean.iter().map(|&v| v as f32).collect();
        let gamma: Vec<f32> = self.gamma.value.iter().copied().collect();
        let beta: Vec<f32> = self.beta.value.iter().copied().collect();
        let mut xhat = vec![0.0f32; xs.len()];
        let mut y = vec![0.0f32; xs.len()];
        let pieces: Vec<_> = xhat
            .chunks_mut(block)
            .zip(y.chunks_mut(block))
            .zip(xs.chunks(block))
            .collect();
        map_ordered(pieces, |_, ((hc, yc), xc)| {
            with_avx2(
                #[inline(always)]
                || {
                    for ((hs, ys), xsample) in hc
                        .chunks_mut(per)
                        .zip(yc.chunks_mut(per))
                        .zip(xc.chunks(per))
                    {
                        for ch in 0..c {
                            let r = ch * l..(ch + 1) * l;
                            let (mu, is, g, b) = (mean[ch], inv_std[ch], gamma[ch], beta[ch]);
                            for ((h, o), &v) in hs[r.clone()]
                                .iter_mut()
                                .zip(&mut ys[r.clone()])
                                .zip(&xsample[r])
                            {
                                *h = (v - mu) * is;
                                *o = g * *h + b;
                            }
                        }
                    }
                },
            )
        });
        // A prediction keeps nothing for a backward pass.
        self.cache = pass.keeps_for_backward().then(|| Cache {
            shape: shape.clone(),
            xhat,
            inv_std,
            mode,
        });
        Ok(ArrayD::from_shape_vec(shape, y).expect("same size"))
    }

    /// The parameter gradients are computed whatever `need` says (they are a by-product of
    /// the input gradient's sums).
    fn backward(&mut self, grad_out: &ArrayD<f32>, need: Need) -> InputGradient {
        let Some(cache) = self.cache.as_ref() else {
            return Err(ShapeError::NoForward { layer: "batchnorm" });
        };
        ShapeError::check_gradient("batchnorm", &cache.shape, grad_out.shape())?;
        let (n, c) = (cache.shape[0], cache.shape[1]);
        let l: usize = cache.shape[2..].iter().product();
        let per = c * l;
        let block = light_chunk_len(n, per) * per;
        let m = (n * l) as f32;
        let dy = grad_out.as_standard_layout();
        let dys = dy.as_slice().expect("standard layout");
        let xhat = &cache.xhat;
        // Σ dy and Σ dy·x̂ per channel, in fixed pieces added in order.
        let partials = map_ordered(
            dys.chunks(block).zip(xhat.chunks(block)).collect(),
            |_, (dc, hc)| {
                with_avx2(
                    #[inline(always)]
                    || {
                        let mut s = vec![0.0f64; 2 * c];
                        for (ds, hs) in dc.chunks(per).zip(hc.chunks(per)) {
                            for ch in 0..c {
                                let r = ch * l..(ch + 1) * l;
                                let (d, h) = (&ds[r.clone()], &hs[r]);
                                s[ch] += lane_sum(d, d, |g, _| g as f64);
                                s[c + ch] += lane_sum(d, h, |g, h| (g * h) as f64);
                            }
                        }
                        s
                    },
                )
            },
        );
        let sums = sum_columns(partials, 2 * c);
        let dbeta: Vec<f32> = sums[..c].iter().map(|&v| v as f32).collect();
        let dgamma: Vec<f32> = sums[c..].iter().map(|&v| v as f32).collect();
        let gamma: Vec<f32> = self.gamma.value.iter().copied().collect();
        let inv_std = &cache.inv_std;
        let train = cache.mode == Mode::Train;
        let mut dx = vec![0.0f32; dys.len()];
        let pieces: Vec<_> = dx
            .chunks_mut(block)
            .zip(dys.chunks(block).zip(xhat.chunks(block)))
            .collect();
        map_ordered(pieces, |_, (xc, (dc, hc))| {
            with_avx2(
                #[inline(always)]
                || {
                    for ((xs, ds), hs) in xc.chunks_mut(per).zip(dc.chunks(per)).zip(hc.chunks(per))
                    {
                        for ch in 0..c {
                            let r = ch * l..(ch + 1) * l;
                            let k = gamma[ch] * inv_std[ch];
                            let (sdy, sdyx) = (dbeta[ch], dgamma[ch]);
                            for ((d, &g), &h) in
                                xs[r.clone()].iter_mut().zip(&ds[r.clone()]).zip(&hs[r])
                            {
                                // Training: dx = γ/(σ·M)·(M·dy − Σdy − x̂·Σ(dy·x̂)); evaluation: γ/σ·dy.
                                *d = if train {
                                    k / m * (m * g - sdy - h * sdyx)
                                } else {
                                    k * g
                                };
                            }
                        }
                    }
                },
            )
        });
        for ch in 0..c {
            self.gamma.grad[ch] += dgamma[ch];
            self.beta.grad[ch] += dbeta[ch];
        }
        Ok(need
            .input()
            .then(|| ArrayD::from_shape_vec(cache.shape.clone(), dx).expect("same size")))
    }

    crate::nn::tensors! {
        "weight" => param gamma,
        "bias" => param beta,
        "running_mean" => buffer running_mean,
        "running_var" => buffer running_var,
    }
}
