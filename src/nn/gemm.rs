//! Matrix products for the convolution's shapes.
//!
//! [`matmul_acc`] computes C += A·B. Natively it calls `matrixmultiply` (through ndarray),
//! which picks AVX2/FMA kernels at run time. In WebAssembly it calls [`small_gemm`], a
//! kernel for the small, odd shapes of these networks (6 to 32 output channels, 25 to 288
//! rows, 25 to 784 columns): no packing, no masked edge tiles, 4×8 register blocks in
//! simd128 vectors. `small_gemm` is plain Rust on [`wide::f32x4`], so the native tests
//! check the same code (on SSE2) that the page runs (on simd128); with
//! [`Kernels::Portable`], native runs use it too and repeat the page's results bit for bit.

use super::Kernels;
use ndarray::{ArrayView2, ArrayViewMut2};
use wide::f32x4;

/// a·b + c. In a WebAssembly build with relaxed SIMD (`-C target-feature=+relaxed-simd`) it
/// is `f32x4.relaxed_madd`, which engines run as one fused multiply-add where the processor
/// has one (rounded once, so results differ from the plain build in the last bits);
/// everywhere else a multiply and an add, rounded twice, as the native tests check.
#[inline(always)]
fn madd(a: f32x4, b: f32x4, c: f32x4) -> f32x4 {
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    {
        use core::arch::wasm32 as w;
        let v = |x: f32x4| {
            let [p, q, r, s] = x.to_array();
            w::f32x4(p, q, r, s)
        };
        let m = w::f32x4_relaxed_madd(v(a), v(b), v(c));
        f32x4::new([
            w::f32x4_extract_lane::<0>(m),
            w::f32x4_extract_lane::<1>(m),
            w::f32x4_extract_lane::<2>(m),
            w::f32x4_extract_lane::<3>(m),
        ])
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "relaxed-simd")))]
    {
        c + a * b
    }
}

/// A borrowed row-major matrix whose rows may be strided: element (i, j) is
/// `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct Strided<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Distance between rows.
    pub row_stride: usize,
    /// Distance between columns.
    pub col_stride: usize,
}

/// C (m×n, rows `c_stride` apart, unit columns) = start + A (m×k, any strides) · B (k×n,
/// rows `b_stride` apart, unit columns), where each sum starts at C's value (C += A·B), at
/// zero (C's old values not read) or at its row's bias ([`Start`]).
///
/// Blocks of 4 rows (one block of 1 to 3 for leftover rows) × 8 columns are accumulated in
/// vectors over the whole of k, so each element of C is loaded and stored once; leftover
/// columns use a 4-wide vector and scalars. Sums run over k in order, so results do not
/// depend on the block an element falls in, nor on where they start (a sum started at the
/// bias is the sum C += A·B makes on a C filled with the bias).
#[allow(clippy::too_many_arguments)]
pub fn small_gemm(
    m: usize,
    n: usize,
    k: usize,
    a: Strided<'_>,
    b: &[f32],
    b_stride: usize,
    c: &mut [f32],
    c_stride: usize,
    start: Start<'_>,
) {
    assert!(
        k == 0
            || n == 0
            || (k - 1)
                .checked_mul(b_stride)
                .and_then(|e| e.checked_add(n))
                .is_some_and(|end| end <= b.len()),
        "gemm: B too short"
    );
    gemm_rows(m, n, k, &a, b, |p| p * b_stride, c, c_stride, start);
}

/// C (m×n, rows `c_stride` apart, unit columns) = start + A (m×k, any strides) · B, where
/// row p of B is `b[offsets[p]..offsets[p] + n]`: rows may start anywhere, overlap or
/// repeat. A convolution reads its zero-padded input this way, each kernel tap a shifted
/// view of it, instead of copying the shifted views into columns (im2col); its sums start at
/// the bias, so its output needs no filling first. Same blocking and summation order as
/// [`small_gemm`].
#[allow(clippy::too_many_arguments)]
pub fn small_gemm_offsets(
    m: usize,
    n: usize,
    a: Strided<'_>,
    b: &[f32],
    offsets: &[usize],
    c: &mut [f32],
    c_stride: usize,
    start: Start<'_>,
) {
    assert!(
        n == 0
            || offsets
                .iter()
                .all(|&o| o.checked_add(n).is_some_and(|end| end <= b.len())),
        "gemm: a row of B ends past its end"
    );
    gemm_rows(
        m,
        n,
        offsets.len(),
        &a,
        b,
        |p| offsets[p],
        c,
        c_stride,
        start,
    );
}

/// Where each sum of a product starts.
#[derive(Clone, Copy, Debug)]
pub enum Start<'a> {
    /// At C's value: C += A·B.
    C,
    /// At zero: C = A·B.
    Zero,
    /// At row i's bias: C = bias + A·B.
    Bias(&'a [f32]),
}

impl Start<'_> {
    /// The starting value of row i's sums, or None to read C.
    #[inline(always)]
    fn value(self, i: usize) -> Option<f32> {
        match self {
            Start::C => None,
            Start::Zero => Some(0.0),
            Start::Bias(b) => Some(b[i]),
        }
    }
}

/// [`small_gemm`] with B's row p starting at `b[row(p)]`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gemm_rows(
    m: usize,
    n: usize,
    k: usize,
    a: &Strided<'_>,
    b: &[f32],
    row: impl Fn(usize) -> usize + Copy,
    c: &mut [f32],
    c_stride: usize,
    start: Start<'_>,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        (m - 1)
            .checked_mul(c_stride)
            .and_then(|e| e.checked_add(n))
            .is_some_and(|end| end <= c.len()),
        "gemm: C too short"
    );
    // `block` reads A and B without bounds checks: A's last element is checked here, B's
    // rows by the callers (row(p) + n ≤ b.len() for every p < k).
    assert!(
        k == 0
            || (m - 1)
                .checked_mul(a.row_stride)
                .zip((k - 1).checked_mul(a.col_stride))
                .and_then(|(r, q)| r.checked_add(q))
                .is_some_and(|last| last < a.data.len()),
        "gemm: A too short"
    );
    if let Start::Bias(bias) = start {
        assert!(bias.len() == m, "gemm: one bias per row of C");
    }
    // Six rows (LeNet5's conv1) as one block 8 columns wide, so each B vector is loaded
    // once for all six, not for four rows and again for two.
    if m == 6 {
        row_block::<6, 2>(0, n, k, a, b, row, c, c_stride, start);
        return;
    }
    let mut i = 0;
    while i + 4 <= m {
        row_block::<4, 2>(i, n, k, a, b, row, c, c_stride, start);
        i += 4;
    }
    // Leftover rows in one block of three, two or one (six output channels are a block of
    // four and one of two: each B vector loaded then serves two rows, not one).
    match m - i {
        3 => row_block::<3, 2>(i, n, k, a, b, row, c, c_stride, start),
        2 => row_block::<2, 2>(i, n, k, a, b, row, c, c_stride, start),
        1 => row_block::<1, 2>(i, n, k, a, b, row, c, c_stride, start),
        _ => {}
    }
}

/// Rows `i..i + R` of C, every column: blocks of 4·W columns (R·W accumulators), one of 4
/// columns if it fits, then single columns.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn row_block<const R: usize, const W: usize>(
    i: usize,
    n: usize,
    k: usize,
    a: &Strided<'_>,
    b: &[f32],
    row: impl Fn(usize) -> usize + Copy,
    c: &mut [f32],
    c_stride: usize,
    start: Start<'_>,
) {
    let mut j = 0;
    while j + 4 * W <= n {
        block::<R, W>(i, j, k, a, b, row, c, c_stride, start);
        j += 4 * W;
    }
    if W > 1 && j + 4 <= n {
        block::<R, 1>(i, j, k, a, b, row, c, c_stride, start);
        j += 4;
    }
    // One to three columns left: when the sums do not add to C, one more block of four
    // ending at the last column, overlapping the one before (its overlapping columns are
    // computed again by the same operations in the same order, to the same values); a
    // column at a time cost about as much per column as that block (All-CNN's 49- and
    // 35-column products had one to three such columns).
    if j < n && n >= 4 && !matches!(start, Start::C) {
        block::<R, 1>(i, n - 4, k, a, b, row, c, c_stride, start);
        return;
    }
    for j in j..n {
        column::<R>(i, j, k, a, b, row, c, c_stride, start);
    }
}

/// A(i, p), unchecked.
///
/// # Safety
/// i < m and p < k of a product whose A [`gemm_rows`] has checked.
#[inline(always)]
unsafe fn a_at(a: &Strided<'_>, i: usize, p: usize) -> f32 {
    debug_assert!(i * a.row_stride + p * a.col_stride < a.data.len());
    *a.data.get_unchecked(i * a.row_stride + p * a.col_stride)
}

/// b[at..at + 4] as a vector, unchecked (an unaligned read of plain f32s, by copy).
///
/// # Safety
/// at = row(p) + j with p < k and j + 4 ≤ n: the callers of [`gemm_rows`] check that
/// row(p) + n ≤ b.len() for every p < k.
#[inline(always)]
unsafe fn b_vec(b: &[f32], at: usize) -> f32x4 {
    debug_assert!(at + 4 <= b.len());
    f32x4::new(b.as_ptr().add(at).cast::<[f32; 4]>().read_unaligned())
}

/// Rows `i..i + R`, columns `j..j + 4·V` of C, accumulated over all of k in R·V vectors.
///
/// The loop over k reads A and B unchecked: in WebAssembly a bounds check per read was a
/// compare and a branch for every one or two multiply-adds, and with them V8 ran out of
/// registers (4×12 blocks spilled accumulators to the stack every step). 4×8 blocks and
/// unchecked reads made All-CNN's batch-1 prediction 0.78× the time. The reads are in
/// bounds by [`gemm_rows`]'s checks of A and its callers' checks of B.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn block<const R: usize, const V: usize>(
    i: usize,
    j: usize,
    k: usize,
    a: &Strided<'_>,
    b: &[f32],
    row: impl Fn(usize) -> usize,
    c: &mut [f32],
    c_stride: usize,
    start: Start<'_>,
) {
    let load = |s: &[f32], at: usize| f32x4::new(s[at..at + 4].try_into().expect("4"));
    let acc: [[f32x4; V]; R] = std::array::from_fn(|r| match start.value(i + r) {
        Some(v) => [f32x4::splat(v); V],
        None => std::array::from_fn(|v| load(c, (i + r) * c_stride + j + 4 * v)),
    });
    let mut acc = acc;
    for p in 0..k {
        let start = row(p) + j;
        // SAFETY: p < k and j + 4·V ≤ n.
        let bv: [f32x4; V] = std::array::from_fn(|v| unsafe { b_vec(b, start + 4 * v) });
        for (r, row) in acc.iter_mut().enumerate() {
            // SAFETY: i + r < m, p < k.
            let av = f32x4::splat(unsafe { a_at(a, i + r, p) });
            for (x, bv) in row.iter_mut().zip(&bv) {
                *x = madd(av, *bv, *x);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, x) in row.iter().enumerate() {
            let s = (i + r) * c_stride + j + 4 * v;
            c[s..s + 4].copy_from_slice(&x.to_array());
        }
    }
}

/// Column `j` of rows `i..i + R`, in scalars: R independent sums, so that each step of k
/// does not wait for the previous one's addition (one sum at a time was bound by the add's
/// latency, and All-CNN's 49- and 35-column products left one to three such columns).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn column<const R: usize>(
    i: usize,
    j: usize,
    k: usize,
    a: &Strided<'_>,
    b: &[f32],
    row: impl Fn(usize) -> usize,
    c: &mut [f32],
    c_stride: usize,
    start: Start<'_>,
) {
    let mut acc: [f32; R] = std::array::from_fn(|r| {
        start
            .value(i + r)
            .unwrap_or_else(|| c[(i + r) * c_stride + j])
    });
    for p in 0..k {
        let at = row(p) + j;
        debug_assert!(at < b.len());
        // SAFETY: p < k and j < n, so at < row(p) + n ≤ b.len().
        let bv = unsafe { *b.get_unchecked(at) };
        for (r, x) in acc.iter_mut().enumerate() {
            // SAFETY: i + r < m, p < k.
            *x += unsafe { a_at(a, i + r, p) } * bv;
        }
    }
    for (r, x) in acc.into_iter().enumerate() {
        c[(i + r) * c_stride + j] = x;
    }
}

/// C (m×n, row-major) += A (m×k, row-major) · Bᵀ, where B (n×k) is row-major: every
/// element of C is a dot product of two contiguous rows, summed in four vector lanes
/// along k (then the lanes, then the scalar tail). Blocks of 4 rows of A × 2 rows of B share
/// their loads (6 vector loads for 8 products, where one dot product at a time loads 2 for
/// 1; 4 × 3 spilled registers); every element is still summed in the same order, so the blocking changes no bit.
pub fn small_gemm_nt(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(
        a.len() >= m * k && b.len() >= n * k && c.len() >= m * n,
        "gemm_nt: sizes"
    );
    let mut i = 0;
    while i + 4 <= m {
        nt_rows::<4>(i, n, k, a, b, c);
        i += 4;
    }
    match m - i {
        3 => nt_rows::<3>(i, n, k, a, b, c),
        2 => nt_rows::<2>(i, n, k, a, b, c),
        1 => nt_rows::<1>(i, n, k, a, b, c),
        _ => {}
    }
}

/// Rows `i..i + R` of C for [`small_gemm_nt`]: columns in pairs, then one.
#[inline(always)]
fn nt_rows<const R: usize>(i: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let mut j = 0;
    while j + 2 <= n {
        nt_block::<R, 2>(i, j, n, k, a, b, c);
        j += 2;
    }
    if j < n {
        nt_block::<R, 1>(i, j, n, k, a, b, c);
    }
}

/// C[i..i + R, j..j + S] += A[i..i + R] · B[j..j + S]ᵀ, R·S dot products at once.
#[inline(always)]
fn nt_block<const R: usize, const S: usize>(
    i: usize,
    j: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
) {
    let whole = k / 4 * 4;
    // The rows as slices of exactly `whole` elements, so that the loop's loads need no
    // bounds checks.
    let a_rows: [&[f32]; R] = std::array::from_fn(|r| &a[(i + r) * k..][..whole]);
    let b_rows: [&[f32]; S] = std::array::from_fn(|s| &b[(j + s) * k..][..whole]);
    let load = |s: &[f32], p: usize| f32x4::new(s[p..p + 4].try_into().expect("4"));
    let mut acc = [[f32x4::ZERO; S]; R];
    for p in (0..whole).step_by(4) {
        let bv: [f32x4; S] = std::array::from_fn(|s| load(b_rows[s], p));
        for (row, a_row) in acc.iter_mut().zip(&a_rows) {
            let av = load(a_row, p);
            for (x, bv) in row.iter_mut().zip(&bv) {
                *x = madd(av, *bv, *x);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        let arow = &a[(i + r) * k..(i + r + 1) * k];
        for (s, x) in row.iter().enumerate() {
            let brow = &b[(j + s) * k..(j + s + 1) * k];
            let mut sum = x.reduce_add();
            for (x, y) in arow[whole..].iter().zip(&brow[whole..]) {
                sum += x * y;
            }
            c[(i + r) * n + j + s] += sum;
        }
    }
}

/// C += A·B for contiguous views (A may be a transposed view, e.g. Wᵀ); B and C must be in
/// standard (row-major) layout.
pub fn matmul_acc(
    kernels: Kernels,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: &mut ArrayViewMut2<'_, f32>,
) {
    match kernels {
        Kernels::Portable => {
            let (m, k) = a.dim();
            let n = b.ncols();
            assert_eq!(b.nrows(), k, "gemm: inner dimensions");
            assert_eq!(c.dim(), (m, n), "gemm: output shape");
            let (sa0, sa1) = (a.strides()[0] as usize, a.strides()[1] as usize);
            let a = Strided {
                data: a.as_slice_memory_order().expect("gemm: A contiguous"),
                row_stride: sa0,
                col_stride: sa1,
            };
            let b = b.as_slice().expect("gemm: B row-major");
            let c = c.as_slice_mut().expect("gemm: C row-major");
            small_gemm(m, n, k, a, b, n, c, n, Start::C);
        }
        #[cfg(not(target_arch = "wasm32"))]
        Kernels::Native => ndarray::linalg::general_mat_mul(1.0, &a, &b, 1.0, c),
    }
}

/// C += A·Bᵀ for row-major A (m×k), B (n×k) and C (m×n).
pub fn matmul_nt_acc(
    kernels: Kernels,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: &mut ArrayViewMut2<'_, f32>,
) {
    match kernels {
        Kernels::Portable => {
            let ((m, k), n) = (a.dim(), b.nrows());
            assert_eq!(b.ncols(), k, "gemm_nt: inner dimensions");
            assert_eq!(c.dim(), (m, n), "gemm_nt: output shape");
            small_gemm_nt(
                m,
                n,
                k,
                a.as_slice().expect("gemm_nt: A row-major"),
                b.as_slice().expect("gemm_nt: B row-major"),
                c.as_slice_mut().expect("gemm_nt: C row-major"),
            );
        }
        #[cfg(not(target_arch = "wasm32"))]
        Kernels::Native => ndarray::linalg::general_mat_mul(1.0, &a, &b.t(), 1.0, c),
    }
}
