//! Max pooling and global average pooling.

use super::{Layer, Mode};
use ndarray::{Array2, Array4, ArrayD, Ix2, Ix4};

/// Max pooling with a square window of `size` and stride `size` (no padding; a trailing
/// row or column that does not fill a window is dropped).
pub struct MaxPool2d {
    size: usize,
    input_shape: Option<(usize, usize, usize, usize)>,
    argmax: Vec<usize>,
}

impl MaxPool2d {
    /// Max pooling over non-overlapping `size`×`size` windows.
    pub fn new(size: usize) -> Self {
        MaxPool2d {
            size,
            input_shape: None,
            argmax: Vec::new(),
        }
    }
}

impl Layer for MaxPool2d {
    fn kind(&self) -> &'static str {
        "maxpool2d"
    }

    fn forward(&mut self, x: &ArrayD<f32>, _mode: Mode) -> ArrayD<f32> {
        let x = x
            .view()
            .into_dimensionality::<Ix4>()
            .expect("maxpool expects (N, C, H, W)");
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let (n, c, h, w) = x.dim();
        let s = self.size;
        let (oh, ow) = (h / s, w / s);
        let mut y = vec![0.0f32; n * c * oh * ow];
        self.argmax.clear();
        self.argmax.resize(y.len(), 0);
        for plane in 0..n * c {
            let base = plane * h * w;
            for r in 0..oh {
                for col in 0..ow {
                    let first = base + r * s * w + col * s;
                    let (mut best, mut arg) = (xs[first], first);
                    for di in 0..s {
                        for dj in 0..s {
                            let at = first + di * w + dj;
                            let v = xs[at];
                            // NaN propagates: once found, it is kept.
                            if v > best || (v.is_nan() && !best.is_nan()) {
                                best = v;
                                arg = at;
                            }
                        }
                    }
                    let out = (plane * oh + r) * ow + col;
                    y[out] = best;
                    self.argmax[out] = arg;
                }
            }
        }
        self.input_shape = Some((n, c, h, w));
        ArrayD::from_shape_vec(vec![n, c, oh, ow], y).expect("sized")
    }

    fn backward(&mut self, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        let (n, c, h, w) = self.input_shape.expect("maxpool: backward before forward");
        let mut dx = vec![0.0f32; n * c * h * w];
        let dy = grad_out.as_standard_layout();
        for (g, &arg) in dy.iter().zip(&self.argmax) {
            dx[arg] += g;
        }
        ArrayD::from_shape_vec(vec![n, c, h, w], dx).expect("sized")
    }
}

/// Global average pooling: (N, C, H, W) → (N, C), the mean over each channel's plane.
#[derive(Default)]
pub struct GlobalAvgPool {
    input_shape: Option<(usize, usize, usize, usize)>,
}

impl GlobalAvgPool {
    /// A global average pool.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Layer for GlobalAvgPool {
    fn kind(&self) -> &'static str {
        "global_avg_pool"
    }

    fn forward(&mut self, x: &ArrayD<f32>, _mode: Mode) -> ArrayD<f32> {
        let x = x
            .view()
            .into_dimensionality::<Ix4>()
            .expect("global average pool expects (N, C, H, W)");
        let (n, c, h, w) = x.dim();
        self.input_shape = Some((n, c, h, w));
        let area = (h * w) as f32;
        Array2::from_shape_fn((n, c), |(i, ch)| {
            x.slice(ndarray::s![i, ch, .., ..]).sum() / area
        })
        .into_dyn()
    }

    fn backward(&mut self, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        let (n, c, h, w) = self.input_shape.expect("gap: backward before forward");
        let dy = grad_out
            .view()
            .into_dimensionality::<Ix2>()
            .expect("gap grad (N, C)");
        let area = (h * w) as f32;
        Array4::from_shape_fn((n, c, h, w), |(i, ch, _, _)| dy[[i, ch]] / area).into_dyn()
    }
}
