//! Max pooling and global average pooling.

use super::lanes::{deinterleave, load4};
use super::{with_avx2, InputGradient, Layer, Need, Pass, ShapeError};
use crate::parallel::{light_chunk_len, map_ordered};
use ndarray::{Array2, Array4, ArrayD, Ix2, Ix4};
use wide::f32x4;

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

impl MaxPool2d {
    /// The pooled maxima; with `winners`, also where each came from (for `backward`).
    fn run(&mut self, x: &ArrayD<f32>, winners: bool) -> ArrayD<f32> {
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
        if winners {
            self.argmax.resize(y.len(), 0);
        }
        // Samples in fixed chunks, in parallel; each output depends on its window only.
        let chunk = light_chunk_len(n, c * h * w);
        let per_out = c * oh * ow;
        // (At least 1: an input smaller than one window pools to an empty output.)
        let piece = (chunk * per_out).max(1);
        let mut args = self.argmax.chunks_mut(piece);
        let work: Vec<_> = y.chunks_mut(piece).map(|ys| (ys, args.next())).collect();
        map_ordered(work, |ci, (ys, mut args)| {
            with_avx2(
                #[inline(always)]
                || {
                    let first_plane = ci * chunk * c;
                    for (p, ys) in ys.chunks_exact_mut(oh * ow).enumerate() {
                        let base = (first_plane + p) * h * w;
                        let plane = &xs[base..base + h * w];
                        // Inference's 2×2 pools take the values alone unless the plane has a NaN.
                        let rows = &plane[..oh * 2 * w];
                        if s == 2 && args.is_none() && max_rows_2x2(rows, w, ys, ow) {
                            continue;
                        }
                        for r in 0..oh {
                            let ys = &mut ys[r * ow..(r + 1) * ow];
                            let at = (p * oh + r) * ow;
                            let args = args.as_mut().map(|a| &mut a[at..at + ow]);
                            let top = r * s * w;
                            let rows = &plane[top..top + s * w];
                            if s == 2 {
                                pool_row_2x2(rows, w, ys, args, base + top);
                            } else {
                                pool_row(rows, w, s, ys, args, base + top);
                            }
                        }
                    }
                },
            )
        });
        self.input_shape = winners.then_some((n, c, h, w));
        ArrayD::from_shape_vec(vec![n, c, oh, ow], y).expect("sized")
    }
}

impl Layer for MaxPool2d {
    fn kind(&self) -> &'static str {
        "maxpool2d"
    }

    fn forward(&mut self, x: ArrayD<f32>, pass: Pass) -> Result<ArrayD<f32>, ShapeError> {
        if x.ndim() != 4 {
            return Err(ShapeError::input("maxpool2d", "(N, C, H, W)", x.shape()));
        }
        Ok(self.run(&x, pass.keeps_for_backward()))
    }

    fn backward(&mut self, grad_out: &ArrayD<f32>, need: Need) -> InputGradient {
        let Some((n, c, h, w)) = self.input_shape else {
            return Err(ShapeError::NoForward { layer: "maxpool2d" });
        };
        let s = self.size;
        ShapeError::check_gradient("maxpool2d", &[n, c, h / s, w / s], grad_out.shape())?;
        if !need.input() {
            return Ok(None);
        }
        let mut dx = vec![0.0f32; n * c * h * w];
        let dy = grad_out.as_standard_layout();
        for (g, &arg) in dy.iter().zip(&self.argmax) {
            dx[arg] += g;
        }
        Ok(Some(
            ArrayD::from_shape_vec(vec![n, c, h, w], dx).expect("sized"),
        ))
    }
}

/// The larger of `(x, i)` and `(y, j)`, keeping the first on a tie; NaN wins over a number,
/// and the first NaN is kept.
#[inline(always)]
fn pick(x: f32, i: usize, y: f32, j: usize) -> (f32, usize) {
    if (y > x) | (y.is_nan() & !x.is_nan()) {
        (y, j)
    } else {
        (x, i)
    }
}

/// [`pick`] on four lanes at once; `i` and `j` carry the window taps as floats.
#[inline(always)]
fn pick4(x: f32x4, i: f32x4, y: f32x4, j: f32x4) -> (f32x4, f32x4) {
    let take = y.simd_gt(x) | (y.is_nan() & x.simd_eq(x));
    (take.select(y, x), take.select(j, i))
}

/// One output row of a `size`×`size` pool: the first maximum of each window, scanned in
/// row-major order. `rows` holds the window's `size` input rows of width `w`, which start
/// at flat index `offset` of the input; `args`, if given, receives each winner's flat index.
fn pool_row(
    rows: &[f32],
    w: usize,
    size: usize,
    ys: &mut [f32],
    mut args: Option<&mut [usize]>,
    offset: usize,
) {
    for (col, y) in ys.iter_mut().enumerate() {
        let (mut best, mut arg) = (rows[col * size], col * size);
        for di in 0..size {
            for dj in 0..size {
                let at = di * w + col * size + dj;
                (best, arg) = pick(best, arg, rows[at], at);
            }
        }
        *y = best;
        if let Some(args) = args.as_mut() {
            args[col] = offset + arg;
        }
    }
}

/// [`pool_row`] for 2×2 windows, four windows at a time in explicit vectors: the two
/// pairs, then the pair winners, which gives the same first maximum (or first NaN) as the
/// row-major scan. Which tap wins is unpredictable, so nothing branches on it.
fn pool_row_2x2(
    rows: &[f32],
    w: usize,
    ys: &mut [f32],
    mut args: Option<&mut [usize]>,
    offset: usize,
) {
    let (upper, lower) = rows.split_at(w);
    let whole = ys.len() / 4 * 4;
    // The taps' flat offsets within the two rows, for windows q..q + 4 (exact in f32: they
    // are below 2·w), picked with the values and turned into indices four at a time.
    let first = f32x4::new([0.0, 2.0, 4.0, 6.0]);
    let tap_offsets = [0.0, 1.0, w as f32, w as f32 + 1.0].map(|d| first + f32x4::splat(d));
    for q in (0..whole).step_by(4) {
        // Columns 2·(q + l) and 2·(q + l) + 1 of a row, l = 0..4: the even and odd lanes of
        // two vector loads (shuffles, not one load per lane).
        let pairs = |row: &[f32]| deinterleave(load4(row, 2 * q), load4(row, 2 * q + 4));
        let ((u0, u1), (l0, l1)) = (pairs(upper), pairs(lower));
        let shift = f32x4::splat((2 * q) as f32);
        let tap = |t: usize| tap_offsets[t] + shift;
        let (v0, t0) = pick4(u0, tap(0), u1, tap(1));
        let (v1, t1) = pick4(l0, tap(2), l1, tap(3));
        let (v, t) = pick4(v0, t0, v1, t1);
        ys[q..q + 4].copy_from_slice(&v.to_array());
        if let Some(args) = args.as_mut() {
            for (arg, at) in args[q..q + 4].iter_mut().zip(t.trunc_int().to_array()) {
                *arg = offset + at as usize;
            }
        }
    }
    for col in whole..ys.len() {
        let (left, below) = (2 * col, w + 2 * col);
        let (v0, i0) = pick(rows[left], left, rows[left + 1], left + 1);
        let (v1, i1) = pick(rows[below], below, rows[below + 1], below + 1);
        let (v, i) = pick(v0, i0, v1, i1);
        ys[col] = v;
        if let Some(args) = args.as_mut() {
            args[col] = offset + i;
        }
    }
}

/// The values of [`pool_row_2x2`] without the winners, for inference, where the input has
/// no NaN: then the first maximum is the running `y > x ? y : x` of the row-major scan, two
/// operations per pair of taps where `pick4` with its NaN rule and the winners' taps takes
/// six. `x` holds pairs of input rows `w` wide, one after another (a plane without its
/// odd last row), `ys` an output row `ow` wide for each pair. Returns false, with `ys` partly
/// written, if a NaN may be among the inputs (a sum of some window's taps is NaN; also for
/// inf − inf, which costs only the exact pass): the caller then pools them with
/// [`pool_row_2x2`]. One call per plane, not per row: the max pool was 11 % of LeNet5's
/// batch-64 prediction in Chromium, most of it per-row overhead.
fn max_rows_2x2(x: &[f32], w: usize, ys: &mut [f32], ow: usize) -> bool {
    let first_max = |x: f32x4, y: f32x4| y.simd_gt(x).select(y, x);
    let mut sums = f32x4::ZERO;
    for (rows, ys) in x.chunks_exact(2 * w).zip(ys.chunks_exact_mut(ow)) {
        let (upper, lower) = rows.split_at(w);
        let mut group = |q: usize| {
            let pairs = |row: &[f32]| deinterleave(load4(row, 2 * q), load4(row, 2 * q + 4));
            let ((u0, u1), (l0, l1)) = (pairs(upper), pairs(lower));
            sums += (u0 + u1) + (l0 + l1);
            let v = first_max(first_max(u0, u1), first_max(l0, l1));
            ys[q..q + 4].copy_from_slice(&v.to_array());
        };
        if ow >= 4 {
            // Groups of four windows; the last one overlaps the one before instead of a
            // scalar tail.
            let mut q = 0;
            while q + 4 <= ow {
                group(q);
                q += 4;
            }
            if q < ow {
                group(ow - 4);
            }
            continue;
        }
        for (col, y) in ys.iter_mut().enumerate() {
            let taps = [
                upper[2 * col],
                upper[2 * col + 1],
                lower[2 * col],
                lower[2 * col + 1],
            ];
            if taps.iter().any(|t| t.is_nan()) {
                return false;
            }
            let first_max = |x: f32, y: f32| if y > x { y } else { x };
            *y = first_max(first_max(taps[0], taps[1]), first_max(taps[2], taps[3]));
        }
    }
    !sums.to_array().iter().any(|s| s.is_nan())
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

    fn forward(&mut self, x: ArrayD<f32>, _pass: Pass) -> Result<ArrayD<f32>, ShapeError> {
        if x.ndim() != 4 {
            return Err(ShapeError::input(
                "global_avg_pool",
                "(N, C, H, W)",
                x.shape(),
            ));
        }
        let x = x.into_dimensionality::<Ix4>().expect("checked: 4-D");
        let (n, c, h, w) = x.dim();
        self.input_shape = Some((n, c, h, w));
        let area = (h * w) as f32;
        Ok(Array2::from_shape_fn((n, c), |(i, ch)| {
            x.slice(ndarray::s![i, ch, .., ..]).sum() / area
        })
        .into_dyn())
    }

    fn backward(&mut self, grad_out: &ArrayD<f32>, need: Need) -> InputGradient {
        let Some((n, c, h, w)) = self.input_shape else {
            return Err(ShapeError::NoForward {
                layer: "global_avg_pool",
            });
        };
        ShapeError::check_gradient("global_avg_pool", &[n, c], grad_out.shape())?;
        if !need.input() {
            return Ok(None);
        }
        let dy = grad_out
            .view()
            .into_dimensionality::<Ix2>()
            .expect("gap grad (N, C)");
        let area = (h * w) as f32;
        Ok(Some(
            Array4::from_shape_fn((n, c, h, w), |(i, ch, _, _)| dy[[i, ch]] / area).into_dyn(),
        ))
    }
}
