//! Batch normalisation over the channel axis of (N, C) or (N, C, H, W) inputs.

use super::{Layer, Mode, Param};
use ndarray::{Array1, Array3, ArrayD, Axis, Ix1};

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
    xhat: Array3<f32>,
    inv_std: Array1<f32>,
    mode: Mode,
}

fn as_ncl(x: &ArrayD<f32>) -> Array3<f32> {
    let shape = x.shape();
    assert!(shape.len() >= 2, "batchnorm expects (N, C, ...)");
    let l: usize = shape[2..].iter().product();
    x.as_standard_layout()
        .into_owned()
        .into_shape_with_order((shape[0], shape[1], l))
        .expect("contiguous")
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

    fn vec1(a: &ArrayD<f32>) -> ndarray::ArrayView1<'_, f32> {
        a.view().into_dimensionality::<Ix1>().expect("1-D")
    }
}

impl Layer for BatchNorm {
    fn kind(&self) -> &'static str {
        "batchnorm"
    }

    fn forward(&mut self, x: &ArrayD<f32>, mode: Mode) -> ArrayD<f32> {
        let shape = x.shape().to_vec();
        let x3 = as_ncl(x);
        let (n, c, l) = x3.dim();
        assert_eq!(c, self.gamma.value.len(), "batchnorm: channel mismatch");
        let m = (n * l) as f32;
        let (mean, var) = match mode {
            Mode::Train => {
                let mean = x3.sum_axis(Axis(2)).sum_axis(Axis(0)) / m;
                let centred = &x3 - &mean.view().insert_axis(Axis(1));
                let var = centred.mapv(|v| v * v).sum_axis(Axis(2)).sum_axis(Axis(0)) / m;
                let unbiased = if m > 1.0 { m / (m - 1.0) } else { 1.0 };
                let mo = self.momentum;
                self.running_mean
                    .zip_mut_with(&mean.view().into_dyn(), |r, &b| {
                        *r = (1.0 - mo) * *r + mo * b
                    });
                self.running_var
                    .zip_mut_with(&var.view().into_dyn(), |r, &b| {
                        *r = (1.0 - mo) * *r + mo * b * unbiased
                    });
                (mean, var)
            }
            Mode::Eval => (
                Self::vec1(&self.running_mean).to_owned(),
                Self::vec1(&self.running_var).to_owned(),
            ),
        };
        let inv_std = var.mapv(|v| 1.0 / (v + self.eps).sqrt());
        let mut xhat = x3;
        for (mut ch, (&mu, &is)) in xhat
            .axis_iter_mut(Axis(1))
            .zip(mean.iter().zip(inv_std.iter()))
        {
            ch.mapv_inplace(|v| (v - mu) * is);
        }
        let gamma = Self::vec1(&self.gamma.value);
        let beta = Self::vec1(&self.beta.value);
        let mut y = xhat.clone();
        for (mut ch, (&g, &b)) in y.axis_iter_mut(Axis(1)).zip(gamma.iter().zip(beta.iter())) {
            ch.mapv_inplace(|v| g * v + b);
        }
        self.cache = Some(Cache {
            shape: shape.clone(),
            xhat,
            inv_std,
            mode,
        });
        y.into_shape_with_order(shape).expect("same size")
    }

    fn backward(&mut self, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        let cache = self
            .cache
            .as_ref()
            .expect("batchnorm: backward before forward");
        let dy = as_ncl(grad_out);
        let (n, c, l) = dy.dim();
        let m = (n * l) as f32;
        let dbeta = dy.sum_axis(Axis(2)).sum_axis(Axis(0));
        let dgamma = (&dy * &cache.xhat).sum_axis(Axis(2)).sum_axis(Axis(0));
        let gamma = Self::vec1(&self.gamma.value).to_owned();
        let mut dx = Array3::<f32>::zeros((n, c, l));
        for ch in 0..c {
            let g = gamma[ch];
            let is = cache.inv_std[ch];
            let dyc = dy.index_axis(Axis(1), ch);
            let xh = cache.xhat.index_axis(Axis(1), ch);
            let mut dxc = dx.index_axis_mut(Axis(1), ch);
            match cache.mode {
                Mode::Train => {
                    // dx = γ/(σ·M) · (M·dy − Σdy − x̂·Σ(dy·x̂))
                    let sdy = dbeta[ch];
                    let sdyx = dgamma[ch];
                    ndarray::Zip::from(&mut dxc)
                        .and(&dyc)
                        .and(&xh)
                        .for_each(|d, &gy, &x| *d = g * is / m * (m * gy - sdy - x * sdyx));
                }
                Mode::Eval => {
                    ndarray::Zip::from(&mut dxc)
                        .and(&dyc)
                        .for_each(|d, &gy| *d = g * is * gy);
                }
            }
        }
        self.gamma.grad += &dgamma.into_dyn();
        self.beta.grad += &dbeta.into_dyn();
        dx.into_shape_with_order(cache.shape.clone())
            .expect("same size")
    }

    fn params_mut(&mut self) -> Vec<(&'static str, &mut Param)> {
        vec![("weight", &mut self.gamma), ("bias", &mut self.beta)]
    }

    fn state(&self) -> Vec<(&'static str, &ArrayD<f32>)> {
        vec![
            ("weight", &self.gamma.value),
            ("bias", &self.beta.value),
            ("running_mean", &self.running_mean),
            ("running_var", &self.running_var),
        ]
    }

    fn state_mut(&mut self) -> Vec<(&'static str, &mut ArrayD<f32>)> {
        vec![
            ("weight", &mut self.gamma.value),
            ("bias", &mut self.beta.value),
            ("running_mean", &mut self.running_mean),
            ("running_var", &mut self.running_var),
        ]
    }
}
