//! Stride-1 convolutions summed in AVX2 registers straight from a zero-padded copy of each
//! sample: the native path of training and evaluation on x86-64 processors with AVX2 and FMA
//! (detected at run time).
//!
//! im2col + matrixmultiply wrote C·k·k shifted copies of every sample, which matrixmultiply
//! then packed again; the two convolutions were half of a LeNet5 training step that way.
//! Here a block of up to six output channels × sixteen output columns stays in registers
//! while every kernel tap adds its six broadcast weights times one or two unaligned loads
//! of a padded row. The input gradient is the same convolution of the padded output
//! gradient with the kernel transposed and flipped ([`Packed::transposed_flipped`]); the
//! weight gradient is one dot product per (output channel, tap) over the sample, six
//! channels × two taps at a time.
//!
//! Every sum runs in a fixed order, so results do not depend on the number of threads; they
//! differ from im2col + GEMM in the last bits (the same products in another order, with
//! fused multiply-adds). A convolution computing with [`super::Kernels::Portable`] keeps the
//! WebAssembly build's path, as the page computes it.

use super::conv::output_len;
use std::arch::x86_64::{
    __m256, __m256i, _mm256_broadcast_ss, _mm256_castps256_ps128, _mm256_cmpgt_epi32,
    _mm256_extractf128_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_maskstore_ps,
    _mm256_set1_epi32, _mm256_set1_ps, _mm256_setr_epi32, _mm256_setzero_ps, _mm256_storeu_ps,
    _mm_add_ps, _mm_add_ss, _mm_cvtss_f32, _mm_movehl_ps, _mm_shuffle_ps,
};
use std::sync::OnceLock;

/// f32 values in one AVX register.
const LANES: usize = 8;
/// Output channels summed together in one register block.
const ROWS: usize = 6;

/// Whether this processor has AVX2 and FMA (checked once).
pub(crate) fn available() -> bool {
    static DETECTED: OnceLock<bool> = OnceLock::new();
    *DETECTED.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

/// A stride-1 convolution of one sample (C, H, W) with a k×k kernel and zero padding p, and
/// the layout of its padded copy: C planes of H + 2p rows, each row the image row between p
/// zeros on the left and zeros on the right up to [`Direct::row`] values, so that a block of
/// whole vectors of output columns never reads past its row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Direct {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub padding: usize,
}

impl Direct {
    /// The geometry, if the input is not empty, the kernel fits the padded input and the
    /// padding is less than the kernel (the input gradient's convolution pads by k − 1 − p).
    pub fn new(
        channels: usize,
        height: usize,
        width: usize,
        kernel: usize,
        padding: usize,
    ) -> Option<Self> {
        let fits = kernel >= 1
            && height >= 1
            && width >= 1
            && padding < kernel
            && height + 2 * padding >= kernel
            && width + 2 * padding >= kernel
            && channels >= 1;
        fits.then_some(Direct {
            channels,
            height,
            width,
            kernel,
            padding,
        })
    }

    pub fn out_h(&self) -> usize {
        output_len(self.height, self.kernel, 1, self.padding)
    }

    pub fn out_w(&self) -> usize {
        output_len(self.width, self.kernel, 1, self.padding)
    }

    /// Output columns rounded up to whole vectors: what one output row's blocks compute.
    fn out_w_vectors(&self) -> usize {
        self.out_w().next_multiple_of(LANES)
    }

    /// Values per padded row.
    fn row(&self) -> usize {
        self.out_w_vectors() + self.kernel - 1
    }

    fn plane(&self) -> usize {
        (self.height + 2 * self.padding) * self.row()
    }

    /// Values in one padded sample.
    pub fn padded_len(&self) -> usize {
        self.channels * self.plane()
    }

    /// Kernel taps (c, ki, kj): the columns of the (O × C·k·k) weight matrix.
    pub fn taps(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// Where each tap (c, ki, kj), in weight-matrix order, starts reading a padded sample
    /// of this geometry.
    pub fn offsets(&self) -> Offsets {
        let k = self.kernel;
        let at = (0..self.taps())
            .map(|t| {
                let (c, ki, kj) = (t / (k * k), t / k % k, t % k);
                c * self.plane() + ki * self.row() + kj
            })
            .collect();
        Offsets {
            geometry: *self,
            at,
        }
    }

    /// Writes the padded copy of `x` (C, H, W) into `out` (every value, zeros included).
    pub fn pad(&self, x: &[f32], out: &mut [f32]) {
        let (h, w, p, row) = (self.height, self.width, self.padding, self.row());
        assert_eq!(x.len(), self.channels * h * w, "direct conv: input size");
        assert_eq!(out.len(), self.padded_len(), "direct conv: padded size");
        for (image, plane) in x
            .chunks_exact(h * w)
            .zip(out.chunks_exact_mut(self.plane()))
        {
            let (top, rest) = plane.split_at_mut(p * row);
            let (middle, bottom) = rest.split_at_mut(h * row);
            top.fill(0.0);
            bottom.fill(0.0);
            for (src, dst) in image.chunks_exact(w).zip(middle.chunks_exact_mut(row)) {
                dst[..p].fill(0.0);
                dst[p..p + w].copy_from_slice(src);
                dst[p + w..].fill(0.0);
            }
        }
    }

    /// The output gradient's rows (O, OH, OW) laid out as [`Direct::weight_grad`] reads them:
    /// each row zero-filled up to whole vectors.
    pub fn grad_rows(&self, out_channels: usize) -> Direct {
        Direct {
            channels: out_channels,
            height: self.out_h(),
            width: self.out_w(),
            kernel: 1,
            padding: 0,
        }
    }

    /// The convolution whose output is the input gradient: over the output gradient
    /// (O, OH, OW) padded by k − 1 − p, giving (C, H, W).
    pub fn transposed(&self, out_channels: usize) -> Direct {
        Direct {
            channels: out_channels,
            height: self.out_h(),
            width: self.out_w(),
            kernel: self.kernel,
            padding: self.kernel - 1 - self.padding,
        }
    }

    /// y (O, OH, OW) = `w` ⋆ (the padded sample `x`) + `bias` (zero if None); every value
    /// of `y` is written. `offsets` are this geometry's [`Direct::offsets`].
    pub fn forward(
        &self,
        x: &[f32],
        w: &Packed,
        offsets: &Offsets,
        bias: Option<&[f32]>,
        y: &mut [f32],
    ) {
        let o = w.out_channels;
        assert_eq!(
            offsets.geometry, *self,
            "direct conv: another geometry's offsets"
        );
        assert!(available(), "direct conv: needs AVX2 and FMA");
        assert_eq!(x.len(), self.padded_len(), "direct conv: padded size");
        assert_eq!(w.taps, self.taps(), "direct conv: taps");
        assert_eq!(
            y.len(),
            o * self.out_h() * self.out_w(),
            "direct conv: output size"
        );
        assert!(bias.is_none_or(|b| b.len() == o), "direct conv: bias size");
        // SAFETY: AVX2 and FMA are present (checked above); the sizes checked above bound
        // every read (see `forward_avx2`).
        unsafe { self.forward_avx2(x, w, &offsets.at, bias, y) }
    }

    /// The reads: tap offset ≤ (C − 1)·plane + (k − 1)·row + k − 1, plus (OH − 1)·row for the
    /// output row and up to OW rounded up to vectors for the columns: at most C·plane, the
    /// padded size, since OH + k − 1 = H + 2p rows and OW(vectors) + k − 1 = row.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn forward_avx2(
        &self,
        x: &[f32],
        w: &Packed,
        offsets: &[usize],
        bias: Option<&[f32]>,
        y: &mut [f32],
    ) {
        let (oh, ow, row) = (self.out_h(), self.out_w(), self.row());
        let vectors = self.out_w_vectors();
        for (block, weights) in w.blocks().enumerate() {
            let rows = weights.len() / w.taps;
            let first = block * ROWS;
            let mut start = [0.0f32; ROWS];
            if let Some(b) = bias {
                start[..rows].copy_from_slice(&b[first..first + rows]);
            }
            for i in 0..oh {
                // Kernel rows ki whose padded row i + ki lies in the image: p ≤ i + ki < p + H.
                let (p, k) = (self.padding, self.kernel);
                let rows_read = p.saturating_sub(i)..(p + self.height).saturating_sub(i).min(k);
                let mut j = 0;
                while j < vectors {
                    let wide = vectors - j >= 2 * LANES;
                    let tile = Tile {
                        x: x.as_ptr().add(i * row + j),
                        offsets,
                        weights,
                        channels: self.channels,
                        taps: rows_read.start * k..rows_read.end.max(rows_read.start) * k,
                        start: &start,
                        y: y.as_mut_ptr().add(first * oh * ow + i * ow + j),
                        channel_stride: oh * ow,
                        columns: (ow - j).min(if wide { 2 * LANES } else { LANES }),
                    };
                    macro_rules! dispatch {
                        ($($m:literal),*) => {
                            match (rows, wide) {
                                $( ($m, true) => tile.run::<$m, 2>(), ($m, false) => tile.run::<$m, 1>(), )*
                                _ => unreachable!("a block has 1 to {ROWS} rows"),
                            }
                        };
                    }
                    dispatch!(1, 2, 3, 4, 5, 6);
                    j += if wide { 2 * LANES } else { LANES };
                }
            }
        }
    }

    /// dw (O × taps, row-major) += Σ over the sample of the output gradient `dy` (laid out
    /// by [`Direct::grad_rows`] and [`Direct::pad`]) times the padded input `x` at each tap.
    pub fn weight_grad(&self, x: &[f32], dy: &[f32], offsets: &Offsets, dw: &mut [f32]) {
        let taps = self.taps();
        assert_eq!(
            offsets.geometry, *self,
            "direct conv: another geometry's offsets"
        );
        assert!(available(), "direct conv: needs AVX2 and FMA");
        assert_eq!(x.len(), self.padded_len(), "direct conv: padded size");
        let per_channel = self.out_h() * self.out_w_vectors();
        assert!(
            dw.len().is_multiple_of(taps) && dw.len() / taps * per_channel == dy.len(),
            "direct conv: gradient sizes"
        );
        // SAFETY: as in `forward_avx2`, the padded sample bounds every read of `x`; `dy` has
        // (O, OH, OW in vectors) values, checked above.
        unsafe { self.weight_grad_avx2(x, dy, &offsets.at, dw) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn weight_grad_avx2(&self, x: &[f32], dy: &[f32], offsets: &[usize], dw: &mut [f32]) {
        let taps = self.taps();
        let o = dw.len() / taps;
        let dots = Dots {
            x: x.as_ptr(),
            dy: dy.as_ptr(),
            rows: self.out_h(),
            row: self.row(),
            vectors: self.out_w_vectors(),
        };
        for first in (0..o).step_by(ROWS) {
            let rows = (o - first).min(ROWS);
            for t in (0..taps).step_by(2) {
                let pair = (taps - t).min(2);
                let at = &offsets[t..t + pair];
                macro_rules! dispatch {
                    ($($m:literal),*) => {
                        match (rows, pair) {
                            $( ($m, 2) => dots.run::<$m, 2>(first, at, t, taps, dw),
                               ($m, _) => dots.run::<$m, 1>(first, at, t, taps, dw), )*
                            _ => unreachable!("a block has 1 to {ROWS} rows"),
                        }
                    };
                }
                dispatch!(1, 2, 3, 4, 5, 6);
            }
        }
    }
}

/// [`Direct::offsets`]: each tap's offset in a padded sample, with the geometry they were
/// worked out for (the kernels read at them unchecked, so they check the geometry).
pub(crate) struct Offsets {
    geometry: Direct,
    at: Vec<usize>,
}

/// One register block of the forward pass: M output channels × NB vectors of columns of one
/// output row.
struct Tile<'a> {
    /// The padded sample at this output row and first column.
    x: *const f32,
    offsets: &'a [usize],
    /// The block's weights, tap by tap (M per tap).
    weights: &'a [f32],
    channels: usize,
    /// Within each channel's k·k taps, those of the kernel rows that read image rows: the
    /// others read the zero rows above and below it (the input gradient's convolution pads
    /// by k − 1 − p, so a third of its taps were such zeros for LeNet5's second convolution).
    taps: std::ops::Range<usize>,
    start: &'a [f32; ROWS],
    /// The output at the block's first channel, this row and first column.
    y: *mut f32,
    channel_stride: usize,
    /// Output columns to store (the rest of the last vector lies past the row).
    columns: usize,
}

impl Tile<'_> {
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run<const M: usize, const NB: usize>(&self) {
        let mut acc = [[_mm256_setzero_ps(); NB]; M];
        for (r, lanes) in acc.iter_mut().enumerate() {
            *lanes = [_mm256_set1_ps(self.start[r]); NB];
        }
        // Per channel, the taps of the kernel rows that read image rows.
        let per_channel = self.offsets.len() / self.channels;
        for c in 0..self.channels {
            let taps = c * per_channel + self.taps.start..c * per_channel + self.taps.end;
            let weights = &self.weights[taps.start * M..taps.end * M];
            for (&offset, w) in self.offsets[taps].iter().zip(weights.chunks_exact(M)) {
                let p = self.x.add(offset);
                let xv: [__m256; NB] = std::array::from_fn(|v| _mm256_loadu_ps(p.add(v * LANES)));
                for (lanes, weight) in acc.iter_mut().zip(w) {
                    let wv = _mm256_broadcast_ss(weight);
                    for (a, &xv) in lanes.iter_mut().zip(&xv) {
                        *a = _mm256_fmadd_ps(wv, xv, *a);
                    }
                }
            }
        }
        // The last vector of a row may reach past it: stored under a mask of its columns
        // (a copy through memory was a call to memcpy, 3.5 % of a training step).
        let valid = |v: usize| self.columns.saturating_sub(v * LANES).min(LANES) as i32;
        let masks: [__m256i; NB] = std::array::from_fn(|v| {
            _mm256_cmpgt_epi32(
                _mm256_set1_epi32(valid(v)),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            )
        });
        for (r, lanes) in acc.iter().enumerate() {
            let out = self.y.add(r * self.channel_stride);
            for (v, (a, mask)) in lanes.iter().zip(&masks).enumerate() {
                if valid(v) == LANES as i32 {
                    _mm256_storeu_ps(out.add(v * LANES), *a);
                } else {
                    _mm256_maskstore_ps(out.add(v * LANES), *mask, *a);
                }
            }
        }
    }
}

/// The weight gradient's dot products over one sample.
struct Dots {
    x: *const f32,
    dy: *const f32,
    /// Output rows, padded-row length, and output columns in whole vectors.
    rows: usize,
    row: usize,
    vectors: usize,
}

impl Dots {
    /// dw[first + r][t + q] += Σ dy[first + r] · x at tap `offsets[q]`, for r < M, q < T.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run<const M: usize, const T: usize>(
        &self,
        first: usize,
        offsets: &[usize],
        t: usize,
        taps: usize,
        dw: &mut [f32],
    ) {
        let mut acc = [[_mm256_setzero_ps(); T]; M];
        let per_channel = self.rows * self.vectors;
        let dy = self.dy.add(first * per_channel);
        for i in 0..self.rows {
            for j in (0..self.vectors).step_by(LANES) {
                let xv: [__m256; T] = std::array::from_fn(|q| {
                    _mm256_loadu_ps(self.x.add(offsets[q] + i * self.row + j))
                });
                for (r, lanes) in acc.iter_mut().enumerate() {
                    let d = _mm256_loadu_ps(dy.add(r * per_channel + i * self.vectors + j));
                    for (a, &xv) in lanes.iter_mut().zip(&xv) {
                        *a = _mm256_fmadd_ps(d, xv, *a);
                    }
                }
            }
        }
        for (r, lanes) in acc.iter().enumerate() {
            for (q, a) in lanes.iter().enumerate() {
                dw[(first + r) * taps + t + q] += sum_lanes(*a);
            }
        }
    }
}

/// The eight lanes of `v` added: halves, then pairs, then the last two.
#[target_feature(enable = "avx2,fma")]
fn sum_lanes(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<1>(s, s)))
}

/// A kernel (O × taps, row-major) in blocks of up to [`ROWS`] output channels, each block
/// tap by tap: the order in which a register block reads its weights.
pub(crate) struct Packed {
    out_channels: usize,
    taps: usize,
    data: Vec<f32>,
}

impl Packed {
    pub fn new(w: &[f32], out_channels: usize, taps: usize) -> Self {
        assert_eq!(w.len(), out_channels * taps, "direct conv: weight size");
        let mut data = Vec::with_capacity(w.len());
        for first in (0..out_channels).step_by(ROWS) {
            let rows = (out_channels - first).min(ROWS);
            for t in 0..taps {
                data.extend((first..first + rows).map(|o| w[o * taps + t]));
            }
        }
        Packed {
            out_channels,
            taps,
            data,
        }
    }

    /// For the input gradient of a convolution with kernel `w` (O, C, k, k): the kernel
    /// W′(c; o, i, j) = W(o; c, k − 1 − i, k − 1 − j), C × O·k·k, packed.
    pub fn transposed_flipped(
        w: &[f32],
        out_channels: usize,
        channels: usize,
        kernel: usize,
    ) -> Self {
        let kk = kernel * kernel;
        assert_eq!(
            w.len(),
            out_channels * channels * kk,
            "direct conv: weight size"
        );
        let mut t = vec![0.0f32; w.len()];
        for o in 0..out_channels {
            for c in 0..channels {
                for tap in 0..kk {
                    t[(c * out_channels + o) * kk + tap] =
                        w[(o * channels + c) * kk + kk - 1 - tap];
                }
            }
        }
        Packed::new(&t, channels, out_channels * kk)
    }

    /// Each block's weights.
    fn blocks(&self) -> impl Iterator<Item = &[f32]> {
        let mut rest = &self.data[..];
        (0..self.out_channels).step_by(ROWS).map(move |first| {
            let rows = (self.out_channels - first).min(ROWS);
            let (block, tail) = rest.split_at(rows * self.taps);
            rest = tail;
            block
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Every product of the convolution with `o` output channels: f(weight index, input
    /// index, output index) for each output (oc, i, j) and tap (c, ki, kj) that reads an
    /// image pixel, x[c][i + ki − p][j + kj − p] (the others read zero padding).
    fn each_product(d: &Direct, o: usize, mut f: impl FnMut(usize, usize, usize)) {
        let (c, h, w, k, p) = (d.channels, d.height, d.width, d.kernel, d.padding);
        let (oh, ow) = (d.out_h(), d.out_w());
        for oc in 0..o {
            for tap in 0..c * k * k {
                let (ci, ki, kj) = (tap / (k * k), tap / k % k, tap % k);
                for i in 0..oh {
                    for j in 0..ow {
                        let (r, q) = ((i + ki).checked_sub(p), (j + kj).checked_sub(p));
                        if let (Some(r), Some(q)) = (r.filter(|&r| r < h), q.filter(|&q| q < w)) {
                            f(
                                oc * c * k * k + tap,
                                (ci * h + r) * w + q,
                                (oc * oh + i) * ow + j,
                            );
                        }
                    }
                }
            }
        }
    }

    fn close(got: &[f32], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()),
                "{what}: element {i} is {g}, expected {w}"
            );
        }
    }

    /// Forward, weight gradient and input gradient against f64 sums, over shapes that
    /// leave partial vectors, partial channel blocks and odd tap counts.
    #[test]
    fn matches_the_definition() {
        if !available() {
            eprintln!("skipped: this processor has no AVX2/FMA, so the direct path is never used");
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let shapes = [
            // (C, H, W, k, p, O)
            (1, 28, 28, 5, 2, 6),
            (6, 14, 14, 5, 0, 16),
            (3, 7, 9, 3, 1, 13),
            (2, 5, 30, 3, 2, 1),
            (4, 6, 6, 1, 0, 7),
            (1, 3, 17, 3, 0, 2),
            (5, 9, 11, 4, 3, 8),
        ];
        for (c, h, w, k, p, o) in shapes {
            let d = Direct::new(c, h, w, k, p).expect("valid shape");
            let x: Vec<f32> = (0..c * h * w).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let wt: Vec<f32> = (0..o * d.taps())
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect();
            let b: Vec<f32> = (0..o).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let (oh, ow) = (d.out_h(), d.out_w());
            let mut padded = vec![f32::NAN; d.padded_len()];
            d.pad(&x, &mut padded);
            let offsets = d.offsets();
            let mut y = vec![f32::NAN; o * oh * ow];
            d.forward(
                &padded,
                &Packed::new(&wt, o, d.taps()),
                &offsets,
                Some(&b),
                &mut y,
            );
            let mut want: Vec<f64> = b.iter().flat_map(|&v| vec![v as f64; oh * ow]).collect();
            each_product(&d, o, |wi, xi, yi| want[yi] += wt[wi] as f64 * x[xi] as f64);
            close(&y, &want, &format!("forward {:?} O={o}", (c, h, w, k, p)));

            // The weight gradient of L = Σ dy·y is Σ dy[o][i][j]·x at each tap: the same
            // sum as a convolution of x with dy as the kernel, checked element by element.
            let dy: Vec<f32> = (0..o * oh * ow).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let rows = d.grad_rows(o);
            let mut dy_rows = vec![f32::NAN; rows.padded_len()];
            rows.pad(&dy, &mut dy_rows);
            let mut dw = vec![0.5f32; o * d.taps()];
            d.weight_grad(&padded, &dy_rows, &offsets, &mut dw);
            let mut want = vec![0.5f64; dw.len()];
            each_product(&d, o, |wi, xi, yi| want[wi] += dy[yi] as f64 * x[xi] as f64);
            close(
                &dw,
                &want,
                &format!("weight gradient {:?} O={o}", (c, h, w, k, p)),
            );

            // The input gradient: dx[c][r][q] = Σ w[o][c][ki][kj]·dy[o][r − ki + p][q − kj + p].
            let t = d.transposed(o);
            assert_eq!((t.out_h(), t.out_w()), (h, w));
            let mut dy_padded = vec![f32::NAN; t.padded_len()];
            t.pad(&dy, &mut dy_padded);
            let mut dx = vec![f32::NAN; c * h * w];
            let flipped = Packed::transposed_flipped(&wt, o, c, k);
            t.forward(&dy_padded, &flipped, &t.offsets(), None, &mut dx);
            let mut want = vec![0.0f64; dx.len()];
            each_product(&d, o, |wi, xi, yi| {
                want[xi] += wt[wi] as f64 * dy[yi] as f64
            });
            close(
                &dx,
                &want,
                &format!("input gradient {:?} O={o}", (c, h, w, k, p)),
            );
        }
    }

    #[test]
    fn rejects_shapes_it_cannot_run() {
        assert!(
            Direct::new(1, 28, 28, 5, 5).is_none(),
            "padding as large as the kernel"
        );
        assert!(
            Direct::new(1, 2, 2, 5, 1).is_none(),
            "kernel larger than the padded input"
        );
        assert!(Direct::new(0, 28, 28, 5, 2).is_none(), "no channels");
        assert!(Direct::new(1, 0, 4, 3, 2).is_none(), "no rows");
        assert!(Direct::new(1, 1, 1, 3, 1).is_some());
    }

    /// The kernels read at the offsets unchecked: offsets worked out for a larger sample
    /// would read past this one's padded copy, so they must be refused.
    #[test]
    #[should_panic(expected = "another geometry's offsets")]
    fn refuses_another_geometrys_offsets() {
        let small = Direct::new(1, 4, 4, 3, 1).expect("fits");
        let large = Direct::new(2, 8, 8, 3, 1).expect("fits");
        let w = Packed::new(&[0.5; 9], 1, small.taps());
        let x = vec![1.0; small.padded_len()];
        let mut y = vec![0.0; small.out_h() * small.out_w()];
        small.forward(&x, &w, &large.offsets(), None, &mut y);
    }

    #[test]
    #[should_panic(expected = "another geometry's offsets")]
    fn weight_gradient_refuses_another_geometrys_offsets() {
        let small = Direct::new(1, 4, 4, 3, 1).expect("fits");
        let large = Direct::new(1, 8, 8, 3, 1).expect("fits");
        let x = vec![1.0; small.padded_len()];
        let dy = vec![1.0; small.out_h() * small.out_w_vectors()];
        let mut dw = vec![0.0; small.taps()];
        small.weight_grad(&x, &dy, &large.offsets(), &mut dw);
    }
}
