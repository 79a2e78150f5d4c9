//! 2-D convolution as im2col + GEMM, batch-parallel over fixed chunks of samples; natively
//! on x86-64 with AVX2/FMA, stride-1 convolutions run as [`super::direct`]'s instead.

#[cfg(target_arch = "x86_64")]
use super::direct::{self, Direct, Packed};
use super::gemm::{
    matmul_acc, matmul_nt_acc, portable_kernels, small_gemm_offsets, Start, Strided,
};
use super::lanes::{copy_short, copy_short_map, deinterleave, load4};
use super::winograd::{Scratch, Winograd};
use super::{add_into, Epilogue, Layer, Mode, Param};
use crate::parallel::{chunk_len, chunk_slots, map_ordered};
use ndarray::{Array1, Array2, Array4, ArrayD, ArrayView2, ArrayViewMut2, Axis, Ix4};
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

/// Output rows (or columns) of a convolution over `input` rows with this kernel, stride and
/// zero padding on both sides; the padded input must be at least `kernel` long.
pub(crate) fn output_len(input: usize, kernel: usize, stride: usize, padding: usize) -> usize {
    (input + 2 * padding - kernel) / stride + 1
}

impl Geometry {
    fn rows(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }
    fn cols(&self) -> usize {
        self.out_h * self.out_w
    }
}

/// The output columns `lo..hi` whose input column `ow·stride + kj − padding` lies inside
/// the image, for kernel column `kj`; the others read zero padding.
fn valid_columns(g: &Geometry, kj: usize) -> (usize, usize) {
    let lo = g.padding.saturating_sub(kj).div_ceil(g.stride).min(g.out_w);
    let hi = if g.width + g.padding > kj {
        ((g.width - 1 + g.padding - kj) / g.stride + 1).min(g.out_w)
    } else {
        0
    };
    (lo, hi.max(lo))
}

/// The input row read by output row `oh` for kernel row `ki`, if it is inside the image.
fn input_row(g: &Geometry, oh: usize, ki: usize) -> Option<usize> {
    (oh * g.stride + ki)
        .checked_sub(g.padding)
        .filter(|&ih| ih < g.height)
}

/// Unfolds one sample `x` (C, H, W) into `cols` (C·k·k rows, OH·OW columns), zero-padded.
/// The bounds are worked out once per kernel tap, so the inner loop is a plain copy.
fn im2col(x: &[f32], g: &Geometry, cols: &mut [f32]) {
    if g.stride == 1 && g.out_h == g.height && g.out_w == g.width {
        return im2col_same(x, g, cols);
    }
    let ncols = g.cols();
    let plane_len = g.height * g.width;
    let mut rows = cols.chunks_exact_mut(ncols);
    for plane in x.chunks_exact(plane_len).take(g.channels) {
        for ki in 0..g.kernel {
            for kj in 0..g.kernel {
                let out = rows.next().expect("cols has C·k·k rows");
                let (lo, hi) = valid_columns(g, kj);
                // A tap that reads any padding has its whole row of columns cleared at once:
                // clearing each output row's one or two padding values was a call to the
                // engine's memory.fill each in WebAssembly, which cost more than the copy.
                if lo > 0 || hi < g.out_w || (0..g.out_h).any(|oh| input_row(g, oh, ki).is_none()) {
                    out.fill(0.0);
                }
                for (oh, seg) in out.chunks_exact_mut(g.out_w).enumerate() {
                    let Some(ih) = input_row(g, oh, ki) else {
                        continue;
                    };
                    let src = &plane[ih * g.width..(ih + 1) * g.width];
                    let first = lo * g.stride + kj - g.padding;
                    let seg = &mut seg[lo..hi];
                    match g.stride {
                        1 => copy_short(seg, &src[first..first + seg.len()]),
                        2 => unfold_stride2(&src[first..], seg),
                        _ => {
                            for (v, s) in seg.iter_mut().zip(src[first..].iter().step_by(g.stride))
                            {
                                *v = *s;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// out[t] = src[2·t] for every t: four at a time as the even lanes of two vector loads where
/// src has the eight values, the rest one by one. (One by one, the stride-2 unfold was a
/// tenth of All-CNN's batch-1 prediction in WebAssembly.)
fn unfold_stride2(src: &[f32], out: &mut [f32]) {
    let mut t = 0;
    while t + 4 <= out.len() && 2 * t + 8 <= src.len() {
        let (even, _) = deinterleave(load4(src, 2 * t), load4(src, 2 * t + 4));
        out[t..t + 4].copy_from_slice(&even.to_array());
        t += 4;
    }
    for (v, s) in out[t..].iter_mut().zip(src[2 * t..].iter().step_by(2)) {
        *v = *s;
    }
}

/// [`im2col`] for a stride-1 convolution whose output is as large as its input (kernel
/// twice the padding plus one). Then every column row is the input plane shifted by one flat offset: one bulk copy
/// per kernel tap, zero rows above or below, and one or two zeroed columns per row where
/// the shift wraps around a row's edge. (Short copies per output row cost a call each in
/// WebAssembly, which made this the second-largest cost of All-CNN's forward pass.)
fn im2col_same(x: &[f32], g: &Geometry, cols: &mut [f32]) {
    let (h, w, p) = (g.height, g.width, g.padding);
    let plane_len = h * w;
    let mut rows = cols.chunks_exact_mut(plane_len);
    for plane in x.chunks_exact(plane_len).take(g.channels) {
        for ki in 0..g.kernel {
            // Output rows whose input row ki + oh − p lies inside the image.
            let (top, bottom) = (p.saturating_sub(ki), (h + p - ki).min(h));
            for kj in 0..g.kernel {
                let out = rows.next().expect("cols has C·k·k rows");
                let (lo, hi) = valid_columns(g, kj);
                out[..top * w].fill(0.0);
                out[bottom * w..].fill(0.0);
                // out[j] = plane[j + shift] for the rows in range; the first and last
                // elements may fall outside the plane, but those are wrapped columns,
                // zeroed below.
                let shift = (ki * w + kj) as isize - (p * w + p) as isize;
                let first = (top * w).max((-shift).max(0) as usize);
                let last = (bottom * w).min((plane_len as isize - shift) as usize);
                if first < last {
                    let from = (first as isize + shift) as usize;
                    out[first..last].copy_from_slice(&plane[from..from + last - first]);
                }
                for oh in top..bottom {
                    let row = &mut out[oh * w..(oh + 1) * w];
                    for v in &mut row[..lo] {
                        *v = 0.0;
                    }
                    for v in &mut row[hi..] {
                        *v = 0.0;
                    }
                }
            }
        }
    }
}

/// A convolution of one sample without im2col, for evaluation with the WebAssembly kernels.
/// The zero-padded input (rows `W + 2p` wide) is split into stride² phase planes, phase
/// (a, b) holding the padded pixels (s·i + a, s·j + b) at (i, j); with stride 1 that is the
/// padded input itself. Every kernel tap (c, ki, kj) then reads phase (ki mod s, kj mod s)
/// shifted by (⌊ki/s⌋, ⌊kj/s⌋): one flat offset, which [`small_gemm_offsets`] reads as a
/// row of B in place. The product is computed for every column of a phase plane's width, so
/// each output row carries a few columns that wrap around the row's edge (k − 1 for stride
/// 1, ⌈(k − 1)/2⌉-ish for stride 2); they are dropped when the output is copied out. Same
/// products summed in the same order as im2col + GEMM, so the result is the same to the bit;
/// the cost is those extra columns instead of writing and reading C·k·k columns.
#[derive(Default)]
struct ShiftedConv {
    phases: Vec<f32>,
    offsets: Vec<usize>,
    out: Vec<f32>,
}

impl ShiftedConv {
    /// y (O, OH, OW) = `epilogue`(W (O × C·k·k) ⊛ x (C, H, W) + bias); `y` is overwritten.
    fn apply(
        &mut self,
        x: &[f32],
        g: &Geometry,
        (w, bias): (&[f32], &[f32]),
        y: &mut [f32],
        epilogue: Epilogue,
    ) {
        let (k, p, s) = (g.kernel, g.padding, g.stride);
        // Each phase plane is ph × pw; a channel's s² planes are consecutive.
        let (ph, pw) = (
            (g.height + 2 * p).div_ceil(s),
            (g.width + 2 * p).div_ceil(s),
        );
        let plane = ph * pw;
        // ⌊(k − 1)/s⌋ zeros after the last plane: the wrapped columns of the last output row
        // read up to there. The border stays zero from sample to sample; only the pixels are
        // overwritten.
        let len = g.channels * s * s * plane + (k - 1) / s;
        if self.phases.len() != len {
            self.phases.clear();
            self.phases.resize(len, 0.0);
            self.offsets = (0..g.channels)
                .flat_map(|c| (0..k).flat_map(move |ki| (0..k).map(move |kj| (c, ki, kj))))
                .map(|(c, ki, kj)| {
                    let phase = (ki % s) * s + kj % s;
                    (c * s * s + phase) * plane + (ki / s) * pw + kj / s
                })
                .collect();
        }
        // Phase b takes the input columns q with (q + p) mod s = b, from q0 on, to columns
        // j0, j0 + 1, … of its rows (worked out once, not per row: integer divisions).
        let columns: Vec<(usize, usize, usize, usize)> = (0..s)
            .map(|b| (b, (b + s - p % s) % s))
            .filter(|&(_, q0)| q0 < g.width)
            .map(|(b, q0)| (b, q0, (q0 + p) / s, (g.width - q0).div_ceil(s)))
            .collect();
        for (c, image) in x.chunks_exact(g.height * g.width).enumerate() {
            for (r, row) in image.chunks_exact(g.width).enumerate() {
                let (a, i) = ((r + p) % s, (r + p) / s);
                for &(b, q0, j0, count) in &columns {
                    let at = (c * s * s + a * s + b) * plane + i * pw + j0;
                    let dst = &mut self.phases[at..at + count];
                    match s {
                        1 => copy_short(dst, row),
                        2 => unfold_stride2(&row[q0..], dst),
                        _ => {
                            for (d, v) in dst.iter_mut().zip(row[q0..].iter().step_by(s)) {
                                *d = *v;
                            }
                        }
                    }
                }
            }
        }
        // Every sum starts at its channel's bias in the GEMM, which writes all of `out`.
        let n = g.out_h * pw;
        self.out.resize(bias.len() * n, 0.0);
        let a = Strided {
            data: w,
            row_stride: g.rows(),
            col_stride: 1,
        };
        small_gemm_offsets(
            bias.len(),
            n,
            a,
            &self.phases,
            &self.offsets,
            &mut self.out,
            n,
            Start::Bias(bias),
        );
        for (dst, src) in y.chunks_exact_mut(g.out_w).zip(self.out.chunks_exact(pw)) {
            copy_short_map(dst, &src[..g.out_w], |v| epilogue.vector(v));
        }
    }
}

/// Folds `cols` back into one sample's gradient `dx` (C, H, W), adding overlapping taps
/// to what `dx` holds (zeros, from the caller).
fn col2im(cols: &[f32], g: &Geometry, dx: &mut [f32]) {
    let ncols = g.cols();
    let plane_len = g.height * g.width;
    let mut rows = cols.chunks_exact(ncols);
    for plane in dx.chunks_exact_mut(plane_len).take(g.channels) {
        for ki in 0..g.kernel {
            for kj in 0..g.kernel {
                let src_row = rows.next().expect("cols has C·k·k rows");
                let (lo, hi) = valid_columns(g, kj);
                for (oh, seg) in src_row.chunks_exact(g.out_w).enumerate() {
                    let Some(ih) = input_row(g, oh, ki) else {
                        continue;
                    };
                    let dst = &mut plane[ih * g.width..(ih + 1) * g.width];
                    let first = lo * g.stride + kj - g.padding;
                    if g.stride == 1 {
                        for (d, s) in dst[first..first + hi - lo].iter_mut().zip(&seg[lo..hi]) {
                            *d += s;
                        }
                    } else {
                        for (d, s) in dst[first..].iter_mut().step_by(g.stride).zip(&seg[lo..hi]) {
                            *d += s;
                        }
                    }
                }
            }
        }
    }
}

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
    kernel: usize,
    stride: usize,
    padding: usize,
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
    #[cfg(target_arch = "x86_64")]
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
            kernel,
            stride,
            padding,
            cache: Cache::Empty,
            columns: Vec::new(),
            prepared: None,
            #[cfg(target_arch = "x86_64")]
            direct: true,
        }
    }

    /// The geometry of the direct convolution ([`super::direct`]) if this layer runs it for
    /// an input of `c` channels of h×w: natively on x86-64 with AVX2 and FMA, stride 1,
    /// padding less than the kernel, unless the WebAssembly build's kernels are in use.
    #[cfg(target_arch = "x86_64")]
    fn direct_geometry(&self, c: usize, h: usize, w: usize) -> Option<Direct> {
        let on = self.direct && self.stride == 1 && !portable_kernels() && direct::available();
        on.then(|| Direct::new(c, h, w, self.kernel, self.padding))
            .flatten()
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
            out_h: output_len(h, self.kernel, self.stride, self.padding),
            out_w: output_len(w, self.kernel, self.stride, self.padding),
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

    /// Whether an evaluation pass over `channels` input channels runs as Winograd's F(2×2, 3×3)
    /// ([`Winograd`]): 3×3, stride-1, padding-1 convolutions with the WebAssembly kernels only
    /// (wasm SIMD has no fused multiply-add, so the plain GEMM is bound by its multiplications;
    /// natively the direct convolution or matrixmultiply have AVX2/FMA). Not for one input channel: its 16 products
    /// would be GEMMs over k = 1, which load and store the output once per multiplication
    /// (All-CNN's conv1 is 0.94x the time without).
    fn uses_winograd(&self, channels: usize) -> bool {
        portable_kernels()
            && self.kernel == 3
            && self.stride == 1
            && self.padding == 1
            && channels > 1
    }

    /// A prediction's pass (as [`Layer::infer`]) with `epilogue` applied to the outputs as
    /// they are written; also returns the first image's outputs as they were before it, as a
    /// batch of one (what the activation layer that the epilogue stands in for keeps for the
    /// page; None with [`Epilogue::Identity`] or no images).
    pub(crate) fn infer_with(
        &mut self,
        x: &ArrayD<f32>,
        epilogue: Epilogue,
    ) -> (ArrayD<f32>, Option<ArrayD<f32>>) {
        let (y, first) = self.run(x, Mode::Eval, false, epilogue);
        let first = first.map(|values| {
            let mut shape = y.shape().to_vec();
            shape[0] = 1;
            ArrayD::from_shape_vec(shape, values).expect("one image's outputs")
        });
        (y, first)
    }

    /// The Winograd transform of `weight` (this layer's shape) if evaluation runs this layer
    /// as Winograd's convolution, for [`Conv2d::prepared`].
    pub(crate) fn winograd(&self, weight: &ArrayD<f32>) -> Option<Winograd> {
        let s = weight.shape();
        (s == self.weight.value.shape() && self.uses_winograd(s[1])).then(|| {
            let w = weight.as_slice().expect("contiguous weight");
            Winograd::new(w, s[0], s[1])
        })
    }

    fn out_channels(&self) -> usize {
        self.weight.value.shape()[0]
    }

    /// The forward pass; in evaluation, the input is cached for a backward pass only if
    /// `keep_input`, and `epilogue` is applied to the outputs, the first image's also
    /// returned as they were before it (None with [`Epilogue::Identity`] or no images).
    fn run(
        &mut self,
        x: &ArrayD<f32>,
        mode: Mode,
        keep_input: bool,
        epilogue: Epilogue,
    ) -> (ArrayD<f32>, Option<Vec<f32>>) {
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
        let g = self.geometry(c, h, w);
        #[cfg(target_arch = "x86_64")]
        if let Some(d) = self.direct_geometry(c, h, w) {
            let xs = x.as_slice().expect("standard layout");
            let mut y = self.run_direct(xs, n, d, mode == Mode::Train || keep_input);
            let ys = y.as_slice_mut().expect("standard layout");
            let first =
                (epilogue != Epilogue::Identity && n > 0).then(|| ys[..ys.len() / n].to_vec());
            epilogue.apply(ys);
            return (y, first);
        }
        let o = self.out_channels();
        let mut all_cols = std::mem::take(&mut self.columns);
        let w2 = self.weight_matrix(g.rows());
        let bias = self.bias.value.as_slice().expect("contiguous bias");
        let per_cols = g.rows() * g.cols();
        // Training keeps every sample's columns for the backward pass; evaluation unfolds
        // one sample at a time into a per-chunk scratch block.
        let keep = mode == Mode::Train;
        all_cols.resize(if keep { n * per_cols } else { 0 }, 0.0);
        let winograd = !keep && self.uses_winograd(c);
        let pointwise = g.kernel == 1 && g.stride == 1 && g.padding == 0;
        // Other convolutions in evaluation with the WebAssembly kernels: no im2col
        // ([`ShiftedConv`]).
        let shifted = !keep && portable_kernels() && !winograd && !pointwise;
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
                    matmul_acc(w2, cols, &mut ym);
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
            if keep_input {
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
            Cache::Empty => panic!("conv2d: backward before forward"),
            Cache::Input(x) => x.dim(),
            Cache::Columns(dim) => *dim,
            #[cfg(target_arch = "x86_64")]
            Cache::Padded(dim) => {
                let dim = *dim;
                return self.backward_direct(grad_out, dim, input_grad, param_grad);
            }
        };
        let g = self.geometry(c, h, w);
        let o = self.out_channels();
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
                    matmul_nt_acc(dyi, cols, &mut dw.view_mut());
                    for (b, row) in db.iter_mut().zip(dyi.outer_iter()) {
                        *b += row.sum();
                    }
                }
                if let Some(dxch) = dxch.as_mut() {
                    dcols.fill(0.0);
                    matmul_acc(w2.t(), dyi, &mut dcols.view_mut());
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

#[cfg(target_arch = "x86_64")]
impl Conv2d {
    /// The forward pass as the direct convolution, for `n` samples `x` (N, C, H, W) in
    /// standard layout; the padded samples are kept for a backward pass if `keep`.
    fn run_direct(&mut self, x: &[f32], n: usize, d: Direct, keep: bool) -> ArrayD<f32> {
        let o = self.out_channels();
        let (oh, ow) = (d.out_h(), d.out_w());
        let (per_in, per_pad, per_out) =
            (d.channels * d.height * d.width, d.padded_len(), o * oh * ow);
        let weight = self.weight.value.as_slice().expect("contiguous weight");
        let packed = Packed::new(weight, o, d.taps());
        let offsets = d.offsets();
        let bias = self.bias.value.as_slice().expect("contiguous bias");
        let mut padded = std::mem::take(&mut self.columns);
        padded.resize(if keep { n * per_pad } else { 0 }, 0.0);
        let mut y = vec![0.0f32; n * per_out];
        let chunk = chunk_len(n);
        let kept = chunk_slots(keep.then(|| padded.chunks_mut(chunk * per_pad)), n);
        // (At least 1: a convolution with no output channels has an empty output.)
        let work: Vec<_> = y.chunks_mut((chunk * per_out).max(1)).zip(kept).collect();
        map_ordered(work, |ci, (ych, mut kept)| {
            let mut scratch = if kept.is_some() {
                Vec::new()
            } else {
                vec![0.0f32; per_pad]
            };
            for (j, yi) in ych.chunks_exact_mut(per_out.max(1)).enumerate() {
                let i = ci * chunk + j;
                let xpad = match kept.as_mut() {
                    Some(block) => &mut block[j * per_pad..(j + 1) * per_pad],
                    None => &mut scratch[..],
                };
                d.pad(&x[i * per_in..(i + 1) * per_in], xpad);
                d.forward(xpad, &packed, &offsets, Some(bias), yi);
            }
        });
        self.columns = padded;
        self.cache = if keep {
            Cache::Padded((n, d.channels, d.height, d.width))
        } else {
            Cache::Empty
        };
        Array4::from_shape_vec((n, o, oh, ow), y)
            .expect("sized")
            .into_dyn()
    }

    /// [`Conv2d::backward_inner`] after [`Conv2d::run_direct`]: the weight gradient as dot
    /// products over each padded sample, the input gradient as the direct convolution of
    /// the padded output gradient with the kernel transposed and flipped.
    fn backward_direct(
        &mut self,
        grad_out: &ArrayD<f32>,
        (n, c, h, w): (usize, usize, usize, usize),
        input_grad: bool,
        param_grad: bool,
    ) -> Option<Array4<f32>> {
        let d = Direct::new(c, h, w, self.kernel, self.padding).expect("as in the forward pass");
        let o = self.out_channels();
        let (oh, ow) = (d.out_h(), d.out_w());
        let dy = grad_out
            .view()
            .into_dimensionality::<Ix4>()
            .expect("conv2d grad (N, O, OH, OW)");
        assert_eq!(dy.dim(), (n, o, oh, ow), "conv2d: grad shape");
        let dy = dy.as_standard_layout();
        let dys = dy.as_slice().expect("standard layout");
        let (per_in, per_pad, per_out) = (c * h * w, d.padded_len(), o * oh * ow);
        let taps = d.taps();
        let weight = self.weight.value.as_slice().expect("contiguous weight");
        let flipped = input_grad.then(|| Packed::transposed_flipped(weight, o, c, self.kernel));
        let (rows, transposed) = (d.grad_rows(o), d.transposed(o));
        let (offsets, transposed_offsets) = (d.offsets(), transposed.offsets());
        let mut dx = vec![0.0f32; if input_grad { n * per_in } else { 0 }];
        let chunk = chunk_len(n);
        let dx_chunks = chunk_slots(input_grad.then(|| dx.chunks_mut(chunk * per_in)), n);
        let padded = &self.columns;
        let partials = map_ordered(dx_chunks, |ci, mut dxch| {
            let mut dw = vec![0.0f32; if param_grad { o * taps } else { 0 }];
            let mut db = vec![0.0f32; o];
            let mut dy_rows = vec![0.0f32; if param_grad { rows.padded_len() } else { 0 }];
            let mut dy_padded = vec![
                0.0f32;
                if input_grad {
                    transposed.padded_len()
                } else {
                    0
                }
            ];
            let samples = (ci * chunk)..((ci + 1) * chunk).min(n);
            for (j, i) in samples.enumerate() {
                let dyi = &dys[i * per_out..(i + 1) * per_out];
                if param_grad {
                    rows.pad(dyi, &mut dy_rows);
                    d.weight_grad(
                        &padded[i * per_pad..(i + 1) * per_pad],
                        &dy_rows,
                        &offsets,
                        &mut dw,
                    );
                    for (b, plane) in db.iter_mut().zip(dyi.chunks_exact(oh * ow)) {
                        *b += plane.iter().sum::<f32>();
                    }
                }
                if let (Some(dxch), Some(flipped)) = (dxch.as_mut(), flipped.as_ref()) {
                    transposed.pad(dyi, &mut dy_padded);
                    let dxi = &mut dxch[j * per_in..(j + 1) * per_in];
                    transposed.forward(&dy_padded, flipped, &transposed_offsets, None, dxi);
                }
            }
            (dw, db)
        });
        if param_grad {
            for (dw, db) in partials {
                add_into(&mut self.weight.grad, &dw);
                add_into(&mut self.bias.grad, &db);
            }
        }
        input_grad.then(|| Array4::from_shape_vec((n, c, h, w), dx).expect("sized"))
    }
}

impl Layer for Conv2d {
    fn kind(&self) -> &'static str {
        "conv2d"
    }

    fn forward(&mut self, x: &ArrayD<f32>, mode: Mode) -> ArrayD<f32> {
        self.run(x, mode, true, Epilogue::Identity).0
    }

    fn infer(&mut self, x: &ArrayD<f32>) -> ArrayD<f32> {
        self.run(x, Mode::Eval, false, Epilogue::Identity).0
    }

    fn backward(&mut self, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        self.backward_inner(grad_out, true, true)
            .expect("input gradient asked for")
            .into_dyn()
    }

    fn backward_params(&mut self, grad_out: &ArrayD<f32>) {
        self.backward_inner(grad_out, false, true);
    }

    fn backward_input(&mut self, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        self.backward_inner(grad_out, true, false)
            .expect("input gradient asked for")
            .into_dyn()
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
        if !direct::available() {
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
                let y = fast.forward(&x, mode);
                assert!(
                    matches!(fast.cache, Cache::Padded(_)),
                    "{what}: the direct path ran"
                );
                close(&y, &slow.forward(&x, mode), &format!("{what}: output"));
                close(
                    &fast.infer(&x),
                    &slow.infer(&x),
                    &format!("{what}: inferred output"),
                );
                fast.forward(&x, mode);
                slow.forward(&x, mode);
                let dy = random(y.shape(), 6);
                close(
                    &fast.backward(&dy),
                    &slow.backward(&dy),
                    &format!("{what}: input gradient"),
                );
                close(
                    &fast.backward_input(&dy),
                    &slow.backward_input(&dy),
                    &format!("{what}: input gradient only"),
                );
                fast.backward_params(&dy);
                slow.backward_params(&dy);
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
