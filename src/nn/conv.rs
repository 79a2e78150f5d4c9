//! 2-D convolution as im2col + GEMM, batch-parallel over fixed chunks of samples.

use super::{Layer, Mode, Param};
use crate::parallel::{chunk_len, map_ordered};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, Array4, ArrayD, ArrayViewMut3, Axis, Ix4};
use rand::Rng;

/// Geometry of a square-kernel convolution over one sample.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    channels: usize,
    height: usize,
    width: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    out_h: usize,
    out_w: usize,
}

impl Geometry {
    fn rows(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }
    fn cols(&self) -> usize {
        self.out_h * self.out_w
    }
}

/// Unfolds one sample `x` (C, H, W) into `cols` (C·k·k rows, OH·OW columns), zero-padded.
fn im2col(x: &[f32], g: &Geometry, cols: &mut [f32]) {
    let ncols = g.cols();
    let mut row = 0;
    for c in 0..g.channels {
        let plane = &x[c * g.height * g.width..(c + 1) * g.height * g.width];
        for ki in 0..g.kernel {
            for kj in 0..g.kernel {
                let out = &mut cols[row * ncols..(row + 1) * ncols];
                for oh in 0..g.out_h {
                    let ih = (oh * g.stride + ki) as isize - g.padding as isize;
                    let seg = &mut out[oh * g.out_w..(oh + 1) * g.out_w];
                    if ih < 0 || ih >= g.height as isize {
                        seg.fill(0.0);
                        continue;
                    }
                    let src = &plane[ih as usize * g.width..(ih as usize + 1) * g.width];
                    for (ow, v) in seg.iter_mut().enumerate() {
                        let iw = (ow * g.stride + kj) as isize - g.padding as isize;
                        *v = if iw < 0 || iw >= g.width as isize {
                            0.0
                        } else {
                            src[iw as usize]
                        };
                    }
                }
                row += 1;
            }
        }
    }
}

/// Folds `cols` back into one sample's gradient `dx` (C, H, W), adding overlapping taps.
fn col2im(cols: &[f32], g: &Geometry, dx: &mut [f32]) {
    dx.fill(0.0);
    let ncols = g.cols();
    let mut row = 0;
    for c in 0..g.channels {
        let plane = &mut dx[c * g.height * g.width..(c + 1) * g.height * g.width];
        for ki in 0..g.kernel {
            for kj in 0..g.kernel {
                let src = &cols[row * ncols..(row + 1) * ncols];
                for oh in 0..g.out_h {
                    let ih = (oh * g.stride + ki) as isize - g.padding as isize;
                    if ih < 0 || ih >= g.height as isize {
                        continue;
                    }
                    let dst = &mut plane[ih as usize * g.width..(ih as usize + 1) * g.width];
                    for ow in 0..g.out_w {
                        let iw = (ow * g.stride + kj) as isize - g.padding as isize;
                        if iw >= 0 && iw < g.width as isize {
                            dst[iw as usize] += src[oh * g.out_w + ow];
                        }
                    }
                }
                row += 1;
            }
        }
    }
}

/// 2-D convolution, y = W ⋆ x + b, with a square kernel, stride and zero padding.
///
/// Input (N, C, H, W); output (N, O, OH, OW) with OH = (H + 2·padding − kernel)/stride + 1.
/// Weight shape (O, C, k, k), bias shape (O).
pub struct Conv2d {
    /// Kernel, (out_channels, in_channels, k, k).
    pub weight: Param,
    /// Bias, (out_channels).
    pub bias: Param,
    kernel: usize,
    stride: usize,
    padding: usize,
    input: Option<Array4<f32>>,
}

impl Conv2d {
    /// A convolution with He-uniform initial weights drawn from `rng` and zero bias.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        rng: &mut impl Rng,
    ) -> Self {
        let fan_in = (in_channels * kernel * kernel) as f32;
        let bound = (6.0 / fan_in).sqrt();
        let w = Array4::from_shape_fn((out_channels, in_channels, kernel, kernel), |_| {
            rng.gen_range(-bound..bound)
        });
        Conv2d {
            weight: Param::new(w.into_dyn(), true),
            bias: Param::new(ArrayD::zeros(vec![out_channels]), false),
            kernel,
            stride,
            padding,
            input: None,
        }
    }

    fn geometry(&self, c: usize, h: usize, w: usize) -> Geometry {
        assert!(
            h + 2 * self.padding >= self.kernel && w + 2 * self.padding >= self.kernel,
            "conv2d: input {h}x{w} smaller than kernel {}",
            self.kernel
        );
        Geometry {
            channels: c,
            height: h,
            width: w,
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
            out_h: (h + 2 * self.padding - self.kernel) / self.stride + 1,
            out_w: (w + 2 * self.padding - self.kernel) / self.stride + 1,
        }
    }

    /// The kernel as an (out_channels, C·k·k) matrix view.
    fn weight_matrix(&self, rows: usize) -> ndarray::ArrayView2<'_, f32> {
        self.weight
            .value
            .view()
            .into_shape_with_order((self.out_channels(), rows))
            .expect("contiguous weight")
    }

    fn out_channels(&self) -> usize {
        self.weight.value.shape()[0]
    }
}

impl Layer for Conv2d {
    fn kind(&self) -> &'static str {
        "conv2d"
    }

    fn forward(&mut self, x: &ArrayD<f32>, _mode: Mode) -> ArrayD<f32> {
        let x = x
            .view()
            .into_dimensionality::<Ix4>()
            .expect("conv2d expects (N, C, H, W)")
            .as_standard_layout()
            .into_owned();
        let (n, c, h, w) = x.dim();
        assert_eq!(c, self.weight.value.shape()[1], "conv2d: channel mismatch");
        let g = self.geometry(c, h, w);
        let o = self.out_channels();
        let w2 = self.weight_matrix(g.rows());
        let bias = self.bias.value.as_slice().expect("contiguous bias");
        let mut y = Array4::<f32>::zeros((n, o, g.out_h, g.out_w));
        let chunk = chunk_len(n);
        let chunks: Vec<_> = y.axis_chunks_iter_mut(Axis(0), chunk).collect();
        let xs = x.as_slice().expect("standard layout");
        let per = c * h * w;
        map_ordered(chunks, |ci, mut ych| {
            let mut cols = Array2::<f32>::zeros((g.rows(), g.cols()));
            for (j, yi) in ych.outer_iter_mut().enumerate() {
                let i = ci * chunk + j;
                im2col(
                    &xs[i * per..(i + 1) * per],
                    &g,
                    cols.as_slice_mut().expect("contiguous"),
                );
                let mut yi = yi
                    .into_shape_with_order((o, g.cols()))
                    .expect("contiguous output");
                general_mat_mul(1.0, &w2, &cols, 0.0, &mut yi);
                for (row, b) in yi.outer_iter_mut().zip(bias) {
                    let mut row = row;
                    row += *b;
                }
            }
        });
        self.input = Some(x);
        y.into_dyn()
    }

    fn backward(&mut self, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        let x = self
            .input
            .as_ref()
            .expect("conv2d: backward before forward");
        let (n, c, h, w) = x.dim();
        let g = self.geometry(c, h, w);
        let o = self.out_channels();
        let dy = grad_out
            .view()
            .into_dimensionality::<Ix4>()
            .expect("conv2d grad (N, O, OH, OW)")
            .as_standard_layout()
            .into_owned();
        assert_eq!(dy.dim(), (n, o, g.out_h, g.out_w), "conv2d: grad shape");
        let w2 = self.weight_matrix(g.rows());
        let mut dx = Array4::<f32>::zeros((n, c, h, w));
        let chunk = chunk_len(n);
        let chunks: Vec<_> = dx.axis_chunks_iter_mut(Axis(0), chunk).collect();
        let xs = x.as_slice().expect("standard layout");
        let per = c * h * w;
        let partials = map_ordered(chunks, |ci, mut dxch| {
            let mut cols = Array2::<f32>::zeros((g.rows(), g.cols()));
            let mut dcols = Array2::<f32>::zeros((g.rows(), g.cols()));
            let mut dw = Array2::<f32>::zeros((o, g.rows()));
            let mut db = Array1::<f32>::zeros(o);
            for (j, dxi) in dxch.outer_iter_mut().enumerate() {
                let i = ci * chunk + j;
                im2col(
                    &xs[i * per..(i + 1) * per],
                    &g,
                    cols.as_slice_mut().expect("contiguous"),
                );
                let dyi = dy
                    .index_axis(Axis(0), i)
                    .into_shape_with_order((o, g.cols()))
                    .expect("contiguous grad");
                general_mat_mul(1.0, &dyi, &cols.t(), 1.0, &mut dw);
                db += &dyi.sum_axis(Axis(1));
                general_mat_mul(1.0, &w2.t(), &dyi, 0.0, &mut dcols);
                write_col2im(&dcols, &g, dxi);
            }
            (dw, db)
        });
        let mut dw_total = self
            .weight
            .grad
            .view_mut()
            .into_shape_with_order((o, g.rows()))
            .expect("contiguous grad");
        for (dw, db) in partials {
            dw_total += &dw;
            let mut bg = self.bias.grad.view_mut();
            bg += &db.into_dyn();
        }
        dx.into_dyn()
    }

    fn params_mut(&mut self) -> Vec<(&'static str, &mut Param)> {
        vec![("weight", &mut self.weight), ("bias", &mut self.bias)]
    }

    fn state(&self) -> Vec<(&'static str, &ArrayD<f32>)> {
        vec![("weight", &self.weight.value), ("bias", &self.bias.value)]
    }

    fn state_mut(&mut self) -> Vec<(&'static str, &mut ArrayD<f32>)> {
        vec![
            ("weight", &mut self.weight.value),
            ("bias", &mut self.bias.value),
        ]
    }
}

fn write_col2im(dcols: &Array2<f32>, g: &Geometry, mut dxi: ArrayViewMut3<f32>) {
    col2im(
        dcols.as_slice().expect("contiguous"),
        g,
        dxi.as_slice_mut().expect("contiguous"),
    );
}
