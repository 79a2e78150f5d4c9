//! The convolution of one sample without im2col, for evaluation with the WebAssembly
//! kernels.

use super::super::gemm::{small_gemm_offsets, Start, Strided};
use super::super::lanes::{copy_short, copy_short_map};
use super::super::Epilogue;
use super::im2col::unfold_stride2;
use super::plan::Geometry;

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
pub(super) struct ShiftedConv {
    phases: Vec<f32>,
    offsets: Vec<usize>,
    out: Vec<f32>,
}

impl ShiftedConv {
    /// y (O, OH, OW) = `epilogue`(W (O × C·k·k) ⊛ x (C, H, W) + bias); `y` is overwritten.
    pub(super) fn apply(
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
