//! 3×3, stride-1, padding-1 convolution by Winograd's minimal filtering F(2×2, 3×3).
//!
//! Each 2×2 output tile is computed from a 4×4 input tile with 16 multiplications per input
//! channel instead of 36: inputs and kernels are mapped to a 4×4 transform domain (only
//! additions and halvings), multiplied elementwise (16 small GEMMs over channels) and mapped
//! back. It is the same convolution, rounded differently (by a few units in the last place
//! of f32 here). The WebAssembly build uses it for evaluation-mode 3×3 "same" convolutions,
//! where wasm SIMD has no fused multiply-add and the plain GEMM is at its arithmetic limit;
//! natively, im2col feeds matrixmultiply's FMA kernels instead.

use super::gemm::{small_gemm, Start, Strided};
use super::lanes::{copy_short, deinterleave, interleave, load4};
use super::Epilogue;
use std::ops::{Add, Sub};
use wide::f32x4;

/// Kernel transform U = G·g·Gᵀ of one 3×3 kernel, as 16 values (row-major 4×4).
fn kernel_transform(g: &[f32]) -> [f32; 16] {
    // G·g, 4×3.
    let mut gg = [[0.0f32; 3]; 4];
    for j in 0..3 {
        let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j]);
        gg[0][j] = g0;
        gg[1][j] = 0.5 * (g0 + g1 + g2);
        gg[2][j] = 0.5 * (g0 - g1 + g2);
        gg[3][j] = g2;
    }
    let mut u = [0.0f32; 16];
    for (r, row) in gg.iter().enumerate() {
        let [a, b, c] = *row;
        u[4 * r] = a;
        u[4 * r + 1] = 0.5 * (a + b + c);
        u[4 * r + 2] = 0.5 * (a - b + c);
        u[4 * r + 3] = c;
    }
    u
}

/// Stores the 16 transform-domain values of four neighbouring tiles, element e (row-major)
/// at `v[at + e·stride..][..4]`.
///
/// Bounds are checked once for all sixteen. With a check per store LLVM kept the stores in
/// a loop that went through a copy of the sixteen vectors on the stack; in WebAssembly that
/// was a sixth of the 3×3 layers' time (All-CNN's conv2 at batch 64 in Chromium: 9.6 → 8.1
/// ms with the one check, then 7.4 → 6.9 ms with the values taken by value, below).
#[inline(always)]
fn scatter16(v: &mut [f32], at: usize, stride: usize, vals: [[f32x4; 4]; 4]) {
    assert!(sixteen_fit(v.len(), at, stride), "winograd: V too short");
    let base = v.as_mut_ptr();
    // A counted loop over values, not an iterator over a reference: LLVM unrolls it and
    // stores from registers (with `iter().flatten()` the vectors went through the stack).
    for e in 0..16 {
        let val = vals[e / 4][e % 4];
        // SAFETY: at + e·stride + 4 ≤ at + 15·stride + 4 ≤ v.len() (checked above).
        unsafe {
            base.add(at + e * stride)
                .cast::<[f32; 4]>()
                .write_unaligned(val.to_array())
        };
    }
}

/// The 16 transform-domain values of four neighbouring tiles, element e (row-major) from
/// `m[at + e·stride..][..4]`: [`scatter16`]'s reverse, checked once likewise.
#[inline(always)]
fn gather16(m: &[f32], at: usize, stride: usize) -> [[f32x4; 4]; 4] {
    assert!(sixteen_fit(m.len(), at, stride), "winograd: M too short");
    let base = m.as_ptr();
    std::array::from_fn(|a| {
        std::array::from_fn(|b| {
            // SAFETY: at + (4a + b)·stride + 4 ≤ at + 15·stride + 4 ≤ m.len() (checked above).
            f32x4::new(unsafe {
                base.add(at + (4 * a + b) * stride)
                    .cast::<[f32; 4]>()
                    .read_unaligned()
            })
        })
    })
}

/// Whether 16 vectors at `at`, `at + stride`, …, `at + 15·stride` lie within `len` values.
#[inline(always)]
fn sixteen_fit(len: usize, at: usize, stride: usize) -> bool {
    stride
        .checked_mul(15)
        .and_then(|s| s.checked_add(at))
        .and_then(|s| s.checked_add(4))
        .is_some_and(|end| end <= len)
}

/// The first tiles of the groups of four that cover a row of `tx` tiles: 0, 4, 8, … and, when
/// four do not divide `tx`, a last group ending at the row's end that overlaps the one before
/// (its overlapping tiles are computed twice, to the same values). So every tile goes
/// through the vector path: a 14-pixel row (7 tiles) had three of its seven tiles done one
/// at a time, which was most of the transforms' time in All-CNN's 14×14 layers. None
/// for rows of fewer than four tiles ([`single_tiles`]).
fn groups(tx: usize) -> impl Iterator<Item = usize> {
    let last = (tx >= 4 && !tx.is_multiple_of(4)).then(|| tx - 4);
    (0..tx / 4).map(|g| 4 * g).chain(last)
}

/// The tiles of a row that [`groups`] leaves to the one-tile path: all of a row of fewer than
/// four, none otherwise.
fn single_tiles(tx: usize) -> std::ops::Range<usize> {
    if tx < 4 {
        0..tx
    } else {
        0..0
    }
}

/// Input transform V = Bᵀ·d·B of a 4×4 tile, on scalars or on four tiles at once.
#[inline(always)]
fn input_transform<T: Copy + Add<Output = T> + Sub<Output = T>>(d: &[[T; 4]; 4]) -> [[T; 4]; 4] {
    let [d0, d1, d2, d3] = *d;
    let t: [[T; 4]; 4] = [
        std::array::from_fn(|j| d0[j] - d2[j]),
        std::array::from_fn(|j| d1[j] + d2[j]),
        std::array::from_fn(|j| d2[j] - d1[j]),
        std::array::from_fn(|j| d1[j] - d3[j]),
    ];
    t.map(|r| [r[0] - r[2], r[1] + r[2], r[2] - r[1], r[1] - r[3]])
}

/// Output transform Aᵀ·m·A of a 4×4 product tile: its 2×2 outputs.
#[inline(always)]
fn output_transform<T: Copy + Add<Output = T> + Sub<Output = T>>(m: &[[T; 4]; 4]) -> [[T; 2]; 2] {
    let [m0, m1, m2, m3] = *m;
    let r0: [T; 4] = std::array::from_fn(|j| m0[j] + m1[j] + m2[j]);
    let r1: [T; 4] = std::array::from_fn(|j| m1[j] - m2[j] - m3[j]);
    [r0, r1].map(|r| [r[0] + r[1] + r[2], r[1] - r[2] - r[3]])
}

/// y (O, H, W) = conv3×3(x (C, H, W), weights (O, C, 3, 3), stride 1, zero padding 1) + bias,
/// for one sample. `y` is overwritten. (A convolution over many samples transforms its
/// kernels once with [`Winograd::new`] and reuses a [`Scratch`].)
pub fn conv3x3_same(
    x: &[f32],
    channels: usize,
    height: usize,
    width: usize,
    weights: &[f32],
    bias: &[f32],
    y: &mut [f32],
) {
    Winograd::new(weights, bias.len(), channels).apply(
        x,
        (height, width),
        bias,
        y,
        Epilogue::Identity,
        &mut Scratch::default(),
    );
}

/// A 3×3 convolution's kernels in the transform domain: 16 matrices U (O × C).
pub struct Winograd {
    out_channels: usize,
    channels: usize,
    u: Vec<f32>,
}

/// Buffers of [`Winograd::apply`], reused from sample to sample: the zero-padded input
/// channel, the transformed input V (16 matrices C × tiles) and the products M (16 matrices
/// O × tiles).
#[derive(Default)]
pub struct Scratch {
    padded: Vec<f32>,
    v: Vec<f32>,
    m: Vec<f32>,
}

impl Winograd {
    /// Transforms `weights` (O, C, 3, 3).
    pub fn new(weights: &[f32], out_channels: usize, channels: usize) -> Self {
        let (o, c) = (out_channels, channels);
        assert_eq!(weights.len(), o * c * 9, "winograd: weight size");
        let mut u = vec![0.0f32; 16 * o * c];
        for (oc, g) in weights.chunks_exact(9).enumerate() {
            for (e, val) in kernel_transform(g).into_iter().enumerate() {
                u[e * o * c + oc] = val;
            }
        }
        Winograd {
            out_channels: o,
            channels: c,
            u,
        }
    }

    /// (output channels, input channels).
    pub fn shape(&self) -> (usize, usize) {
        (self.out_channels, self.channels)
    }

    /// y (O, H, W) = `epilogue`(the convolution of one sample x (C, H, W) + bias); `y` is
    /// overwritten.
    ///
    /// The transforms run on four neighbouring tiles at once in vectors (lane by lane the
    /// same arithmetic as on one tile, so the result does not depend on where a tile falls);
    /// a row whose length four does not divide ends with a group overlapping the one before.
    /// Rows of fewer than four tiles go one tile at a time.
    pub fn apply(
        &self,
        x: &[f32],
        (height, width): (usize, usize),
        bias: &[f32],
        y: &mut [f32],
        epilogue: Epilogue,
        scratch: &mut Scratch,
    ) {
        let (c, h, w, o) = (self.channels, height, width, self.out_channels);
        assert_eq!(x.len(), c * h * w, "winograd: input size");
        assert_eq!(bias.len(), o, "winograd: bias size");
        assert_eq!(y.len(), o * h * w, "winograd: output size");
        let (ty, tx) = (h.div_ceil(2), w.div_ceil(2));
        let tiles = ty * tx;
        // Each channel, zero-padded: one row and column before, one more after an odd side,
        // so every tile reads inside the buffer without checks. The border stays zero from
        // channel to channel; the inside is overwritten.
        let (ph, pw) = (2 * ty + 2, 2 * tx + 2);
        let Scratch { padded, v, m } = scratch;
        padded.clear();
        padded.resize(ph * pw, 0.0);
        v.resize(16 * c * tiles, 0.0);
        for (ch, plane) in x.chunks_exact(h * w).enumerate() {
            for (r, row) in plane.chunks_exact(w).enumerate() {
                copy_short(&mut padded[(r + 1) * pw + 1..][..w], row);
            }
            for ti in 0..ty {
                let rows: [&[f32]; 4] = std::array::from_fn(|a| &padded[(2 * ti + a) * pw..][..pw]);
                for tj in groups(tx) {
                    // Element (a, b) of tiles tj..tj + 4, one tile per lane: columns
                    // 2·tj + b, + 2, + 4, + 6 of row a, the even or odd lanes of two
                    // neighbouring vectors (shuffles, not one load per lane).
                    let d: [[f32x4; 4]; 4] = std::array::from_fn(|a| {
                        let at = |col: usize| load4(rows[a], 2 * tj + col);
                        let (e0, o0) = deinterleave(at(0), at(4));
                        let (e2, o2) = deinterleave(at(2), at(6));
                        [e0, o0, e2, o2]
                    });
                    let t = ti * tx + tj;
                    scatter16(v, ch * tiles + t, c * tiles, input_transform(&d));
                }
                for tj in single_tiles(tx) {
                    let d: [[f32; 4]; 4] = rows.map(|row| {
                        let q: &[f32; 4] = row[2 * tj..2 * tj + 4].try_into().expect("4");
                        *q
                    });
                    let t = ti * tx + tj;
                    for (e, &val) in input_transform(&d).iter().flatten().enumerate() {
                        v[(e * c + ch) * tiles + t] = val;
                    }
                }
            }
        }
        // Every product is written whole (not added to), so M needs no clearing.
        m.resize(16 * o * tiles, 0.0);
        for e in 0..16 {
            let a = Strided {
                data: &self.u[e * o * c..(e + 1) * o * c],
                row_stride: c,
                col_stride: 1,
            };
            small_gemm(
                o,
                tiles,
                c,
                a,
                &v[e * c * tiles..(e + 1) * c * tiles],
                tiles,
                &mut m[e * o * tiles..(e + 1) * o * tiles],
                tiles,
                Start::Zero,
            );
        }
        // Writes the 2×2 outputs of tile (ti, tj) (those inside the image) plus the bias,
        // through the epilogue.
        let put = |out: &mut [f32], ti: usize, tj: usize, pair: [[f32; 2]; 2], b: f32| {
            for (a, pair) in pair.iter().enumerate() {
                let r = 2 * ti + a;
                if r < h {
                    let col = 2 * tj;
                    out[r * w + col] = epilogue.scalar(pair[0] + b);
                    if col + 1 < w {
                        out[r * w + col + 1] = epilogue.scalar(pair[1] + b);
                    }
                }
            }
        };
        for (oc, (out, &b)) in y.chunks_exact_mut(h * w).zip(bias).enumerate() {
            let at = |a: usize, bb: usize, t: usize| ((4 * a + bb) * o + oc) * tiles + t;
            for ti in 0..ty {
                for tj in groups(tx) {
                    let t = ti * tx + tj;
                    let tile = gather16(m, at(0, 0, t), o * tiles);
                    let res = output_transform(&tile);
                    if 2 * tj + 8 <= w {
                        // Output columns 2·tj..2·tj + 8 of each row: the two columns of each
                        // tile interleaved, then two vector stores.
                        let bv = f32x4::splat(b);
                        for (a, [even, odd]) in res.into_iter().enumerate() {
                            let r = 2 * ti + a;
                            if r < h {
                                let (lo, hi) = interleave(even, odd);
                                let s = r * w + 2 * tj;
                                out[s..s + 4].copy_from_slice(&epilogue.vector(lo + bv).to_array());
                                out[s + 4..s + 8]
                                    .copy_from_slice(&epilogue.vector(hi + bv).to_array());
                            }
                        }
                    } else {
                        let res = res.map(|row| row.map(|v| v.to_array()));
                        for q in 0..4 {
                            let pair = res.map(|row| row.map(|v| v[q]));
                            put(out, ti, tj + q, pair, b);
                        }
                    }
                }
                for tj in single_tiles(tx) {
                    let t = ti * tx + tj;
                    let tile: [[f32; 4]; 4] =
                        std::array::from_fn(|a| std::array::from_fn(|bb| m[at(a, bb, t)]));
                    put(out, ti, tj, output_transform(&tile), b);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The one bounds check of [`scatter16`] and [`gather16`]: the sixteenth vector must end
    /// inside the buffer, and index arithmetic that overflows is refused.
    #[test]
    fn sixteen_vectors_fit_exactly() {
        assert!(sixteen_fit(15 * 10 + 4, 0, 10));
        assert!(!sixteen_fit(15 * 10 + 3, 0, 10));
        assert!(sixteen_fit(15 * 10 + 4 + 7, 7, 10));
        assert!(!sixteen_fit(15 * 10 + 4 + 6, 7, 10));
        assert!(!sixteen_fit(usize::MAX, 0, usize::MAX / 8));
        let mut v = vec![0.0f32; 15 * 10 + 4 + 3];
        let vals: [[f32x4; 4]; 4] =
            std::array::from_fn(|a| std::array::from_fn(|b| f32x4::splat((4 * a + b) as f32)));
        scatter16(&mut v, 3, 10, vals);
        let back = gather16(&v, 3, 10);
        for e in 0..16 {
            assert_eq!(back[e / 4][e % 4].to_array(), [e as f32; 4]);
            assert_eq!(v[3 + 10 * e..3 + 10 * e + 4], [e as f32; 4]);
        }
    }

    #[test]
    #[should_panic(expected = "V too short")]
    fn scatter16_refuses_a_short_buffer() {
        let mut v = vec![0.0f32; 15 * 10 + 3];
        scatter16(&mut v, 0, 10, [[f32x4::splat(1.0); 4]; 4]);
    }

    /// Groups of four tiles cover every tile of a row exactly (overlapping only at the end),
    /// and the one-tile path takes the rest.
    #[test]
    fn groups_cover_every_tile() {
        for tx in 0..40 {
            let mut seen = vec![0; tx];
            for g in groups(tx) {
                assert!(g + 4 <= tx, "{tx}: group at {g}");
                for n in &mut seen[g..g + 4] {
                    *n += 1;
                }
            }
            for t in single_tiles(tx) {
                seen[t] += 1;
            }
            assert!(seen.iter().all(|&n| n >= 1), "{tx}: {seen:?}");
            let twice = seen.iter().filter(|&&n| n > 1).count();
            assert!(
                twice < 4 && (!tx.is_multiple_of(4) || twice == 0),
                "{tx}: {seen:?}"
            );
        }
        assert_eq!(groups(7).collect::<Vec<_>>(), [0, 3]);
        assert_eq!(groups(14).collect::<Vec<_>>(), [0, 4, 8, 10]);
        assert_eq!(single_tiles(3), 0..3);
    }

    /// One transform and one scratch reused over samples of different sizes (a larger one
    /// first, so stale values would show) give exactly what a fresh call gives.
    #[test]
    fn reused_scratch_changes_nothing() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        let (c, o) = (5, 7);
        let wt: Vec<f32> = (0..o * c * 9).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let bias: Vec<f32> = (0..o).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let wino = Winograd::new(&wt, o, c);
        let mut scratch = Scratch::default();
        for (h, w) in [(14, 14), (9, 11), (28, 28), (3, 2)] {
            let x: Vec<f32> = (0..c * h * w).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let mut fresh = vec![0.0; o * h * w];
            conv3x3_same(&x, c, h, w, &wt, &bias, &mut fresh);
            let mut reused = vec![f32::NAN; o * h * w];
            wino.apply(
                &x,
                (h, w),
                &bias,
                &mut reused,
                Epilogue::Identity,
                &mut scratch,
            );
            assert_eq!(fresh, reused, "{h}x{w}");
            // The ReLU epilogue (vector stores, the per-tile stores of a row's edge, rows
            // of fewer than four tiles) gives the ReLU of those outputs, to the bit.
            let mut fused = vec![f32::NAN; o * h * w];
            wino.apply(&x, (h, w), &bias, &mut fused, Epilogue::Relu, &mut scratch);
            Epilogue::Relu.apply(&mut reused);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fused), bits(&reused), "{h}x{w} with ReLU");
            assert!(fused.contains(&0.0) && fused.iter().any(|&v| v > 0.0));
        }
    }

    /// Against the definition of the convolution, for even, odd and tiny sides.
    #[test]
    fn winograd_matches_the_direct_convolution() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for (c, o, h, w) in [
            (16, 16, 28, 28),
            (3, 5, 7, 6),
            (2, 3, 1, 1),
            (1, 2, 2, 3),
            (32, 32, 14, 14),
        ] {
            let x: Vec<f32> = (0..c * h * w).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let wt: Vec<f32> = (0..o * c * 9).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let bias: Vec<f32> = (0..o).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let mut y = vec![f32::NAN; o * h * w];
            conv3x3_same(&x, c, h, w, &wt, &bias, &mut y);
            for oc in 0..o {
                for r in 0..h {
                    for q in 0..w {
                        let mut want = bias[oc] as f64;
                        for ch in 0..c {
                            for ki in 0..3 {
                                for kj in 0..3 {
                                    let (rr, qq) = ((r + ki) as isize - 1, (q + kj) as isize - 1);
                                    if rr >= 0 && qq >= 0 && (rr as usize) < h && (qq as usize) < w
                                    {
                                        want += (wt[((oc * c + ch) * 3 + ki) * 3 + kj]
                                            * x[(ch * h + rr as usize) * w + qq as usize])
                                            as f64;
                                    }
                                }
                            }
                        }
                        let got = y[(oc * h + r) * w + q] as f64;
                        assert!(
                            (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                            "{:?} at ({oc}, {r}, {q}): {got} vs {want}",
                            (c, o, h, w)
                        );
                    }
                }
            }
        }
    }
}
