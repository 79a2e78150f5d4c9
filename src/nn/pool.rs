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
        for (plane, (ys, args)) in y
            .chunks_exact_mut(oh * ow)
            .zip(self.argmax.chunks_exact_mut(oh * ow))
            .enumerate()
        {
            let base = plane * h * w;
            for r in 0..oh {
                let top = base + r * s * w;
                let rows = &xs[top..top + s * w];
                let ys = &mut ys[r * ow..(r + 1) * ow];
                let args = &mut args[r * ow..(r + 1) * ow];
                if s == 2 {
                    // Two pairs, then the pair winners: the same first maximum (or first
                    // NaN) as scanning the window in row-major order.
                    let (upper, lower) = rows.split_at(w);
                    for (col, (y, a)) in ys.iter_mut().zip(args.iter_mut()).enumerate() {
                        let j = 2 * col;
                        let (v0, i0) = pick(upper[j], j, upper[j + 1], j + 1);
                        let (v1, i1) = pick(lower[j], w + j, lower[j + 1], w + j + 1);
                        let (v, i) = pick(v0, i0, v1, i1);
                        *y = v;
                        *a = top + i;
                    }
                    continue;
                }
                for (col, (y, a)) in ys.iter_mut().zip(args.iter_mut()).enumerate() {
                    let (mut best, mut arg) = (rows[col * s], col * s);
                    for di in 0..s {
                        for dj in 0..s {
                            let at = di * w + col * s + dj;
                            (best, arg) = pick(best, arg, rows[at], at);
                        }
                    }
                    *y = best;
                    *a = top + arg;
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

/// The larger of `(x, i)` and `(y, j)`, keeping the first on a tie; NaN wins over a number,
/// and the first NaN is kept. Selected with masks, not branches: which tap wins is
/// unpredictable, and a mispredicted branch costs more than the whole comparison.
#[inline(always)]
fn pick(x: f32, i: usize, y: f32, j: usize) -> (f32, usize) {
    let take = (y > x) | (y.is_nan() & !x.is_nan());
    let wide = (take as usize).wrapping_neg();
    let narrow = (take as u32).wrapping_neg();
    let v = f32::from_bits((x.to_bits() & !narrow) | (y.to_bits() & narrow));
    (v, (i & !wide) | (j & wide))
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
