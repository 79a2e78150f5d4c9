//! Lane moves on [`wide::f32x4`] shared by the kernels: vector loads from slices and the
//! even/odd shuffles of stride-2 reads. Written on arrays, which LLVM turns into single
//! lane shuffles (`i8x16.shuffle` in WebAssembly, `shufps`/`unpcklps` on SSE2).

use wide::f32x4;

/// max(0, x) in each lane: the ReLU of [`crate::activation::Relu`] and of a convolution's
/// [`super::Epilogue::Relu`], one operation so that both give the same bits.
#[inline(always)]
pub(crate) fn relu(v: f32x4) -> f32x4 {
    v.max(f32x4::ZERO)
}

/// `values[i] = f(values[i])`, four at a time; the last one to three in a zero-padded
/// vector, so every value goes through the same lane operation.
#[inline(always)]
pub(crate) fn map_x4(values: &mut [f32], f: impl Fn(f32x4) -> f32x4) {
    let mut chunks = values.chunks_exact_mut(4);
    for v4 in &mut chunks {
        let v = f32x4::new((&*v4).try_into().expect("4"));
        v4.copy_from_slice(&f(v).to_array());
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        let mut v = [0.0f32; 4];
        v[..tail.len()].copy_from_slice(tail);
        let out = f(f32x4::new(v)).to_array();
        tail.copy_from_slice(&out[..tail.len()]);
    }
}

/// `s[at..at + 4]` as a vector.
#[inline(always)]
pub(crate) fn load4(s: &[f32], at: usize) -> f32x4 {
    f32x4::new(s[at..at + 4].try_into().expect("4"))
}

/// `dst` = `src` (same length), four values at a time. For the short rows of these images
/// (7 to 30 values): `copy_from_slice` is a call to the engine's memory.copy in
/// WebAssembly, which costs more than the copy.
#[inline(always)]
pub(crate) fn copy_short(dst: &mut [f32], src: &[f32]) {
    copy_short_map(dst, src, |v| v);
}

/// [`copy_short`] with `f` applied to the values on the way, lane by lane (the last one to
/// three values each in a lane of their own).
#[inline(always)]
pub(crate) fn copy_short_map(dst: &mut [f32], src: &[f32], f: impl Fn(f32x4) -> f32x4) {
    assert_eq!(dst.len(), src.len(), "copy_short: lengths");
    let mut i = 0;
    while i + 4 <= src.len() {
        dst[i..i + 4].copy_from_slice(&f(load4(src, i)).to_array());
        i += 4;
    }
    let one = |v: f32| f(f32x4::splat(v)).to_array()[0];
    // The last one to three values spelled out: as a loop, LLVM makes a plain copy a
    // memory.copy.
    match (&mut dst[i..], &src[i..]) {
        ([d0], [s0]) => *d0 = one(*s0),
        ([d0, d1], [s0, s1]) => (*d0, *d1) = (one(*s0), one(*s1)),
        ([d0, d1, d2], [s0, s1, s2]) => (*d0, *d1, *d2) = (one(*s0), one(*s1), one(*s2)),
        _ => {}
    }
}

/// The even and the odd lanes of (x, y) taken as eight values: (x0, x2, y0, y2) and
/// (x1, x3, y1, y3).
#[inline(always)]
pub(crate) fn deinterleave(x: f32x4, y: f32x4) -> (f32x4, f32x4) {
    let ([x0, x1, x2, x3], [y0, y1, y2, y3]) = (x.to_array(), y.to_array());
    (f32x4::new([x0, x2, y0, y2]), f32x4::new([x1, x3, y1, y3]))
}

/// The inverse of [`deinterleave`]: (x0, y0, x1, y1) and (x2, y2, x3, y3).
#[inline(always)]
pub(crate) fn interleave(x: f32x4, y: f32x4) -> (f32x4, f32x4) {
    let ([x0, x1, x2, x3], [y0, y1, y2, y3]) = (x.to_array(), y.to_array());
    (f32x4::new([x0, y0, x1, y1]), f32x4::new([x2, y2, x3, y3]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffles_move_the_right_lanes() {
        let (x, y) = (f32x4::new([0., 1., 2., 3.]), f32x4::new([4., 5., 6., 7.]));
        let (even, odd) = deinterleave(x, y);
        assert_eq!(even.to_array(), [0., 2., 4., 6.]);
        assert_eq!(odd.to_array(), [1., 3., 5., 7.]);
        let (lo, hi) = interleave(even, odd);
        assert_eq!((lo.to_array(), hi.to_array()), (x.to_array(), y.to_array()));
        assert_eq!(load4(&[9., 0., 1., 2., 3., 8.], 1).to_array(), x.to_array());
        for len in [0, 3, 4, 7, 14, 28] {
            let src: Vec<f32> = (0..len).map(|i| i as f32).collect();
            let mut dst = vec![f32::NAN; len];
            copy_short(&mut dst, &src);
            assert_eq!(dst, src);
        }
    }
}
