//! A convolution with random weights and bias and a random input batch, for the tests that
//! compare a convolution's evaluation paths with its training path (natively in
//! `portable.rs`, in WebAssembly in `web.rs`).

use rand::Rng;
use splash::nn::{Conv2d, Kernels};

/// (in channels, out channels, kernel, stride, padding).
pub type ConvShape = (usize, usize, usize, usize, usize);

/// A convolution of `shape` computing with `kernels` and an input of `n` samples `h`×`w`,
/// values in `lo..hi`.
pub fn conv_and_input(
    kernels: Kernels,
    rng: &mut impl Rng,
    shape: ConvShape,
    (n, h, w): (usize, usize, usize),
    (lo, hi): (f32, f32),
) -> (Conv2d, ndarray::ArrayD<f32>) {
    let (cin, cout, k, s, p) = shape;
    let mut conv = Conv2d::new(cin, cout, k, s, p, rng);
    conv.set_kernels(kernels);
    conv.bias.value.mapv_inplace(|_| rng.gen_range(-1.0..1.0));
    let x = ndarray::ArrayD::from_shape_fn(vec![n, cin, h, w], |_| rng.gen_range(lo..hi));
    (conv, x)
}
