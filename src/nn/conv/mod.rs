//! 2-D convolution, batch-parallel over fixed chunks of samples. The algorithm for an input
//! is chosen once per geometry, mode and kernel family ([`plan::ConvPlan`]): im2col + GEMM,
//! natively on x86-64 with AVX2/FMA the direct convolution for stride 1, and with the
//! WebAssembly kernels Winograd's or the shifted convolution in evaluation.

#[cfg(target_arch = "x86_64")]
mod direct_pass;
mod im2col;
mod plan;
mod shifted;

use super::gemm::{matmul_acc, matmul_nt_acc};
use super::winograd::{Scratch, Winograd};
use super::{
    add_into, Epilogue, InputGradient, Kernels, Layer, Mode, Need, Param, Pass, ShapeError,
};
use crate::parallel::{chunk_len, chunk_slots, map_ordered};
use im2col::{col2im, im2col};
use ndarray::{Array1, Array2, Array4, ArrayD, ArrayView2, ArrayViewMut2, Axis, Ix4};
#[cfg(target_arch = "x86_64")]
pub(crate) use plan::output_len;
use plan::{Algorithm, ConvPlan, Geometry, Shape};
use rand::Rng;
use shifted::ShiftedConv;

/// What a convolution keeps from its forward pass for the backward pass.
enum Cache {
    /// Nothing yet.
    Empty,
    /// The input, (N, C, H, W); the columns are unfolded again in the backward pass.
    /// Evaluation mode keeps this, since an input gradient is often not asked for.
    Input(Array4<f32>),
    /// Every sample's unfolded columns are in [`Conv2d::columns`], one (C·k·k, OH·OW) block
    /// per sample, for an input of this shape. Training keeps these, so that the columns are
    /// unfolded once per step.
    Columns((usize, usize, usize, usize)),
    /// Every sample's zero-padded copy is in [`Conv2d::columns`], as [`Direct::pad`] writes
    /// it, for an input of this shape: the direct convolution's forward pass, in training or
    /// in evaluation with a backward pass to follow.
    #[cfg(target_arch = "x86_64")]
    Padded((usize, usize, usize, usize)),
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
    shape: Shape,
    /// The kernel family it computes with.
    kernels: Kernels,
    /// The algorithm for the last input's geometry and mode.
    plan: Option<ConvPlan>,
    cache: Cache,
    /// The unfolded columns of the last training batch, or with the direct convolution its
    /// padded samples; the buffer is reused from step to step (im2col and the padding write
    /// every element, so it is never cleared).
    columns: Vec<f32>,
    /// The Winograd transform of the weights in `weight`, made by the caller that put them
    /// there, so that an evaluation-mode 3×3 convolution does not transform them again on
    /// every call. Only [`crate::model::Model`]'s folded prediction sets it, for the span of
    /// one pass with its folded weights in place (see [`Conv2d::winograd`]); otherwise None.
    pub(crate) prepared: Option<Winograd>,
    /// Whether the direct convolution runs where it can (tests turn it off to compare it
    /// with im2col + GEMM).
    direct: bool,
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
            shape: Shape {
                kernel,
                stride,
                padding,
            },
            kernels: Kernels::default(),
            plan: None,
            cache: Cache::Empty,
            columns: Vec::new(),
            prepared: None,
            direct: true,
        }
    }

    /// Computes with `kernels` from now on.
    pub fn set_kernels(&mut self, kernels: Kernels) {
        self.kernels = kernels;
    }

    /// The plan for an input of `c` channels of h×w in `mode`: the last one if it fits.
    fn plan(&mut self, chw: (usize, usize, usize), mode: Mode) -> ConvPlan {
        match self.plan {
            Some(plan) if plan.fits(chw, mode, self.kernels) => plan,
            _ => {
                let plan = ConvPlan::new(self.shape, chw, mode, self.kernels, self.direct);
                self.plan = Some(plan);
                plan
            }
        }
    }

    /// The kernel as an (out_channels, C·k·k) matrix view.
    fn weight_matrix(&self, rows: usize) -> ArrayView2<'_, f32> {
        self.weight
            .value
            .view()
            .into_shape_with_order((self.out_channels(), rows))
            .expect("contiguous weight")
    }

    /// A prediction's pass ([`Pass::Predict`]) with `epilogue` applied to the outputs as
    /// they are written; also returns the first image's outputs as they were before it, as a
    /// batch of one (what the activation layer that the epilogue stands in for keeps for the
    /// page; None with [`Epilogue::Identity`] or no images).
    pub(crate) fn infer_with(
        &mut self,
        x: &ArrayD<f32>,
        epilogue: Epilogue,
    ) -> Result<(ArrayD<f32>, Option<ArrayD<f32>>), ShapeError> {
        self.check_input(x.shape())?;
        let (y, first) = self.run(x, Pass::Predict, epilogue);
        let first = first.map(|values| {
            let mut shape = y.shape().to_vec();
            shape[0] = 1;
            ArrayD::from_shape_vec(shape, values).expect("one image's outputs")
        });
        Ok((y, first))
    }

    /// The Winograd transform of `weight` (this layer's shape) if evaluation runs this layer
    /// as Winograd's convolution, for [`Conv2d::prepared`].
    pub(crate) fn winograd(&self, weight: &ArrayD<f32>) -> Option<Winograd> {
        let s = weight.shape();
        let winograd = self.shape.winograd(s[1], self.kernels);
        (s == self.weight.value.shape() && winograd).then(|| {
            let w = weight.as_slice().expect("contiguous weight");
            Winograd::new(w, s[0], s[1])
        })
    }

    /// Ok if `shape` is (N, C, H, W) with this layer's C and H, W at least the kernel once
    /// padded.
    fn check_input(&self, shape: &[usize]) -> Result<(), ShapeError> {
        let c = self.weight.value.shape()[1];
        let Shape {
            kernel, padding, ..
        } = self.shape;
        let fits = shape.len() == 4
            && shape[1] == c
            && shape[2] + 2 * padding >= kernel
            && shape[3] + 2 * padding >= kernel;
        if fits {
            return Ok(());
        }
        let least = kernel.saturating_sub(2 * padding);
        Err(ShapeError::input(
            "conv2d",
            format!("(N, {c}, H, W) with H, W ≥ {least}"),
            shape,
        ))
    }

    fn out_channels(&self) -> usize {
        self.weight.value.shape()[0]
    }

    /// The forward pass, keeping what `pass` says, with `epilogue` applied to the outputs
    /// (evaluation only), the first image's also returned as they were before it (None with
    /// [`Epilogue::Identity`] or no images).
    fn run(
        &mut self,
        x: &ArrayD<f32>,
        pass: Pass,
        epilogue: Epilogue,
    ) -> (ArrayD<f32>, Option<Vec<f32>>) {
        let mode = pass.mode();
        assert!(
            mode == Mode::Eval || epilogue == Epilogue::Identity,
            "conv2d: an epilogue in training"
        );
        let x = x
            .view()
            .into_dimensionality::<Ix4>()
            .expect("conv2d expects (N, C, H, W)");
        let x = x.as_standard_layout();
        let (n, c, h, w) = x.dim();
        assert_eq!(c, self.weight.value.shape()[1], "conv2d: channel mismatch");
        let plan = self.plan((c, h, w), mode);
        let g = plan.geometry;
        #[cfg(target_arch = "x86_64")]
        if let Algorithm::Direct(d) = plan.algorithm {
            let xs = x.as_slice().expect("standard layout");
            let mut y = self.run_direct(xs, n, d, pass.keeps_for_backward());
            let ys = y.as_slice_mut().expect("standard layout");
            let first =
                (epilogue != Epilogue::Identity && n > 0).then(|| ys[..ys.len() / n].to_vec());
            epilogue.apply(ys);
            return (y, first);
        }
        let o = self.out_channels();
        let kernels = self.kernels;
        let mut all_cols = std::mem::take(&mut self.columns);
        let w2 = self.weight_matrix(g.rows());
        let bias = self.bias.value.as_slice().expect("contiguous bias");
        let per_cols = g.rows() * g.cols();
        // Training keeps every sample's columns for the backward pass; evaluation unfolds
        // one sample at a time into a per-chunk scratch block.
        let keep = mode == Mode::Train;
        all_cols.resize(if keep { n * per_cols } else { 0 }, 0.0);
        let winograd = matches!(plan.algorithm, Algorithm::Winograd);
        let pointwise = matches!(plan.algorithm, Algorithm::Pointwise);
        let shifted = matches!(plan.algorithm, Algorithm::Shifted);
        // The output starts as the bias, and the GEMM adds W·cols to it (Winograd and the
        // shifted convolution write every output themselves, bias included).
        let mut y = Vec::with_capacity(n * o * g.cols());
        if winograd || shifted {
            y.resize(n * o * g.cols(), 0.0);
        } else {
            for _ in 0..n {
                for &b in bias {
                    y.extend(std::iter::repeat_n(b, g.cols()));
                }
            }
        }
        let mut y = Array4::from_shape_vec((n, o, g.out_h, g.out_w), y).expect("sized");
        let chunk = chunk_len(n);
        let col_chunks = chunk_slots(keep.then(|| all_cols.chunks_mut(chunk * per_cols)), n);
        let work: Vec<_> = y
            .axis_chunks_iter_mut(Axis(0), chunk)
            .zip(col_chunks)
            .collect();
        let xs = x.as_slice().expect("standard layout");
        let per = c * h * w;
        // The weights' transform: the one prepared with them, or made now.
        let fresh;
        let winograd = match (winograd, &self.prepared) {
            (false, _) => None,
            (true, Some(prepared)) if prepared.shape() == (o, c) => Some(prepared),
            (true, _) => {
                fresh = Winograd::new(w2.as_slice().expect("contiguous weight"), o, c);
                Some(&fresh)
            }
        };
        let firsts = map_ordered(work, |ci, (mut ych, mut kept)| {
            let mut scratch = if kept.is_some() || winograd.is_some() || pointwise || shifted {
                Vec::new()
            } else {
                vec![0.0f32; per_cols]
            };
            let mut winograd_scratch = Scratch::default();
            let mut shifted_conv = ShiftedConv::default();
            let mut first = None;
            for (j, yi) in ych.outer_iter_mut().enumerate() {
                let i = ci * chunk + j;
                let yi = yi.into_slice().expect("contiguous output");
                let xi = &xs[i * per..(i + 1) * per];
                // The first image's outputs are also kept as they were before the epilogue,
                // so it is applied afterwards there.
                let keep_first = i == 0 && epilogue != Epilogue::Identity;
                let fused = if keep_first {
                    Epilogue::Identity
                } else {
                    epilogue
                };
                if let Some(winograd) = &winograd {
                    winograd.apply(xi, (h, w), bias, yi, fused, &mut winograd_scratch);
                } else if shifted {
                    let w2 = w2.as_slice().expect("contiguous weight");
                    shifted_conv.apply(xi, &g, (w2, bias), yi, fused);
                } else {
                    let cols: &[f32] = match kept.as_mut() {
                        Some(block) => {
                            let cols = &mut block[j * per_cols..(j + 1) * per_cols];
                            im2col(xi, &g, cols);
                            cols
                        }
                        // A 1×1 convolution's columns are its input.
                        None if pointwise => xi,
                        None => {
                            im2col(xi, &g, &mut scratch);
                            &scratch
                        }
                    };
                    let cols = ArrayView2::from_shape((g.rows(), g.cols()), cols).expect("sized");
                    let mut ym = ArrayViewMut2::from_shape((o, g.cols()), &mut *yi)
                        .expect("contiguous output");
                    matmul_acc(kernels, w2, cols, &mut ym);
                    // The sample's outputs, just written, are still in cache.
                    fused.apply(yi);
                }
                if keep_first {
                    first = Some(yi.to_vec());
                    epilogue.apply(yi);
                }
            }
            first
        });
        self.columns = all_cols;
        self.cache = if keep {
            Cache::Columns((n, c, h, w))
        } else {
            // Only a backward pass reads the input (an attack's gradient); a prediction keeps
            // no copy of it.
            if pass.keeps_for_backward() {
                Cache::Input(x.into_owned())
            } else {
                Cache::Empty
            }
        };
        (y.into_dyn(), firsts.into_iter().flatten().next())
    }

    /// The backward pass; dL/dx only if `input_grad` (the first layer of a network being
    /// trained needs none, and it is the costliest part for a one-channel input), and the
    /// parameter gradients only if `param_grad` (an attack needs none).
    fn backward_inner(
        &mut self,
        grad_out: &ArrayD<f32>,
        input_grad: bool,
        param_grad: bool,
    ) -> Option<Array4<f32>> {
        let (n, c, h, w) = match &self.cache {
            Cache::Empty => unreachable!("Layer::backward checks for a forward pass"),
            Cache::Input(x) => x.dim(),
            Cache::Columns(dim) => *dim,
            #[cfg(target_arch = "x86_64")]
            Cache::Padded(dim) => {
                let dim = *dim;
                return self.backward_direct(grad_out, dim, input_grad, param_grad);
            }
        };
        let g = Geometry::new(self.shape, (c, h, w));
        let o = self.out_channels();
        let kernels = self.kernels;
        let dy = grad_out
            .view()
            .into_dimensionality::<Ix4>()
            .expect("conv2d grad (N, O, OH, OW)");
        assert_eq!(dy.dim(), (n, o, g.out_h, g.out_w), "conv2d: grad shape");
        let dy = dy.as_standard_layout();
        let dys = dy.as_slice().expect("standard layout");
        let w2 = self.weight_matrix(g.rows());
        let mut dx = if input_grad {
            Array4::<f32>::zeros((n, c, h, w))
        } else {
            Array4::<f32>::zeros((0, c, h, w))
        };
        let chunk = chunk_len(n);
        let dx_chunks = chunk_slots(
            input_grad.then(|| dx.axis_chunks_iter_mut(Axis(0), chunk)),
            n,
        );
        let per_out = o * g.cols();
        let per_cols = g.rows() * g.cols();
        let (cache, columns) = (&self.cache, &self.columns);
        let partials = map_ordered(dx_chunks, |ci, mut dxch| {
            let mut scratch = Array2::<f32>::zeros((g.rows(), g.cols()));
            let mut dcols = Array2::<f32>::zeros((g.rows(), g.cols()));
            let mut dw = Array2::<f32>::zeros((o, g.rows()));
            let mut db = Array1::<f32>::zeros(o);
            let samples = (ci * chunk)..((ci + 1) * chunk).min(n);
            for (j, i) in samples.enumerate() {
                let cols = match cache {
                    Cache::Columns(_) => ArrayView2::from_shape(
                        (g.rows(), g.cols()),
                        &columns[i * per_cols..][..per_cols],
                    )
                    .expect("sized"),
                    Cache::Input(x) => {
                        let xs = x.as_slice().expect("standard layout");
                        let per = c * h * w;
                        im2col(
                            &xs[i * per..(i + 1) * per],
                            &g,
                            scratch.as_slice_mut().expect("contiguous"),
                        );
                        scratch.view()
                    }
                    Cache::Empty => unreachable!("checked above"),
                    #[cfg(target_arch = "x86_64")]
                    Cache::Padded(_) => unreachable!("the direct convolution's backward pass"),
                };
                let dyi = ArrayView2::from_shape((o, g.cols()), &dys[i * per_out..][..per_out])
                    .expect("sized");
                if param_grad {
                    matmul_nt_acc(kernels, dyi, cols, &mut dw.view_mut());
                    for (b, row) in db.iter_mut().zip(dyi.outer_iter()) {
                        *b += row.sum();
                    }
                }
                if let Some(dxch) = dxch.as_mut() {
                    dcols.fill(0.0);
                    matmul_acc(kernels, w2.t(), dyi, &mut dcols.view_mut());
                    col2im(
                        dcols.as_slice().expect("contiguous"),
                        &g,
                        dxch.index_axis_mut(Axis(0), j)
                            .as_slice_mut()
                            .expect("contiguous"),
                    );
                }
            }
            (dw, db)
        });
        if param_grad {
            for (dw, db) in partials {
                add_into(&mut self.weight.grad, dw.as_slice().expect("contiguous"));
                add_into(&mut self.bias.grad, db.as_slice().expect("contiguous"));
            }
        }
        input_grad.then_some(dx)
    }
}

impl Layer for Conv2d {
    fn kind(&self) -> &'static str {
        "conv2d"
    }

    fn forward(&mut self, x: ArrayD<f32>, pass: Pass) -> Result<ArrayD<f32>, ShapeError> {
        self.check_input(x.shape())?;
        Ok(self.run(&x, pass, Epilogue::Identity).0)
    }

    fn backward(&mut self, grad_out: &ArrayD<f32>, need: Need) -> InputGradient {
        let (n, c, h, w) = match &self.cache {
            Cache::Empty => return Err(ShapeError::NoForward { layer: "conv2d" }),
            Cache::Input(x) => x.dim(),
            Cache::Columns(dim) => *dim,
            #[cfg(target_arch = "x86_64")]
            Cache::Padded(dim) => *dim,
        };
        let g = Geometry::new(self.shape, (c, h, w));
        let out = [n, self.out_channels(), g.out_h, g.out_w];
        ShapeError::check_gradient("conv2d", &out, grad_out.shape())?;
        Ok(self
            .backward_inner(grad_out, need.input(), need.params())
            .map(|dx| dx.into_dyn()))
    }

    crate::nn::tensors! { "weight" => param weight, "bias" => param bias }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn random(shape: &[usize], seed: u64) -> ArrayD<f32> {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        ArrayD::from_shape_fn(shape.to_vec(), |_| r.gen_range(-1.0f32..1.0))
    }

    /// Equal to 1e-5 of the largest value (an element that cancels to near zero carries the
    /// rounding of its larger terms).
    fn close(got: &ArrayD<f32>, want: &ArrayD<f32>, what: &str) {
        assert_eq!(got.shape(), want.shape(), "{what}: shape");
        let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-5 * scale,
                "{what}: element {i} is {g}, expected {w}"
            );
        }
    }

    /// The direct convolution gives im2col + GEMM's outputs and gradients (to 1e-5) in
    /// training and in evaluation, and its backward pass leaves the layer as that one does.
    #[test]
    fn direct_convolution_matches_im2col() {
        if !super::super::direct::available() {
            eprintln!("skipped: this processor has no AVX2/FMA, so the direct path is never used");
            return;
        }
        // (C, H, W, O, k, padding): LeNet5's and All-CNN's stride-1 shapes and odd ones.
        for (c, h, w, o, k, p) in [
            (1, 28, 28, 6, 5, 2),
            (6, 14, 14, 16, 5, 0),
            (16, 14, 14, 32, 3, 1),
            (3, 9, 7, 10, 1, 0),
            (2, 11, 13, 7, 3, 2),
        ] {
            let make = || Conv2d::new(c, o, k, 1, p, &mut ChaCha8Rng::seed_from_u64(3));
            let (mut fast, mut slow) = (make(), make());
            slow.direct = false;
            let mut r = ChaCha8Rng::seed_from_u64(4);
            fast.bias.value.mapv_inplace(|_| r.gen_range(-1.0..1.0));
            slow.bias.value.assign(&fast.bias.value);
            let x = random(&[5, c, h, w], 5);
            for mode in [Mode::Train, Mode::Eval] {
                let what = format!("{:?} {mode:?}", (c, h, w, o, k, p));
                let y = fast.forward(x.clone(), mode.into()).unwrap();
                assert!(
                    matches!(fast.cache, Cache::Padded(_)),
                    "{what}: the direct path ran"
                );
                close(
                    &y,
                    &slow.forward(x.clone(), mode.into()).unwrap(),
                    &format!("{what}: output"),
                );
                close(
                    &fast.forward(x.clone(), Pass::Predict).unwrap(),
                    &slow.forward(x.clone(), Pass::Predict).unwrap(),
                    &format!("{what}: inferred output"),
                );
                fast.forward(x.clone(), mode.into()).unwrap();
                slow.forward(x.clone(), mode.into()).unwrap();
                let dy = random(y.shape(), 6);
                close(
                    &fast.backward(&dy, Need::All).unwrap().unwrap(),
                    &slow.backward(&dy, Need::All).unwrap().unwrap(),
                    &format!("{what}: input gradient"),
                );
                close(
                    &fast.backward(&dy, Need::Input).unwrap().unwrap(),
                    &slow.backward(&dy, Need::Input).unwrap().unwrap(),
                    &format!("{what}: input gradient only"),
                );
                fast.backward(&dy, Need::Params).unwrap();
                slow.backward(&dy, Need::Params).unwrap();
                close(
                    &fast.weight.grad,
                    &slow.weight.grad,
                    &format!("{what}: weight gradient"),
                );
                close(
                    &fast.bias.grad,
                    &slow.bias.grad,
                    &format!("{what}: bias gradient"),
                );
            }
        }
    }
}
