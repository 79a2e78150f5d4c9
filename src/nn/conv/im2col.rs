//! The unfolding of a sample into the columns of a GEMM (im2col) and its adjoint (col2im).

use super::super::lanes::{copy_short, deinterleave, load4};
use super::plan::Geometry;

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
pub(super) fn im2col(x: &[f32], g: &Geometry, cols: &mut [f32]) {
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
pub(super) fn unfold_stride2(src: &[f32], out: &mut [f32]) {
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

/// Folds `cols` back into one sample's gradient `dx` (C, H, W), adding overlapping taps
/// to what `dx` holds (zeros, from the caller).
pub(super) fn col2im(cols: &[f32], g: &Geometry, dx: &mut [f32]) {
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
