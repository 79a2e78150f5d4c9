//! Shared helpers for the integration tests: finite-difference gradient checks.
#![allow(dead_code)]

use ndarray::ArrayD;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use splash::nn::{Layer, Mode, Need};

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn random(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut r = rng(seed);
    ArrayD::from_shape_fn(shape.to_vec(), |_| r.gen_range(-1.0f32..1.0))
}

/// Σ y·r in f64, the scalar loss whose gradient is checked.
fn weighted_sum(y: &ArrayD<f32>, r: &ArrayD<f32>) -> f64 {
    y.iter()
        .zip(r.iter())
        .map(|(&a, &b)| a as f64 * b as f64)
        .sum()
}

fn close(analytic: f32, numeric: f64) -> bool {
    let (a, n) = (analytic as f64, numeric);
    (a - n).abs() <= 5e-3 + 2e-2 * a.abs().max(n.abs())
}

/// Compares the layer's input gradient and every parameter gradient with central finite
/// differences of L = Σ forward(x)·r, at up to `samples` coordinates of each tensor.
/// `before_forward` runs before every forward pass (to fix a random mask, say).
pub fn check_layer_with(
    layer: &mut dyn Layer,
    x: &ArrayD<f32>,
    mode: Mode,
    samples: usize,
    before_forward: &mut dyn FnMut(&mut dyn Layer),
) {
    let h = 1e-3f32;
    before_forward(layer);
    let y = layer.forward(x.clone(), mode.into()).unwrap();
    let r = random(y.shape(), 99);
    layer.zero_grad();
    before_forward(layer);
    layer.forward(x.clone(), mode.into()).unwrap();
    let dx = layer.backward(&r, Need::All).unwrap().unwrap();
    assert_eq!(
        dx.shape(),
        x.shape(),
        "{}: input gradient shape",
        layer.kind()
    );
    let analytic_params: Vec<(String, ArrayD<f32>)> = layer
        .params_mut()
        .into_iter()
        .map(|(n, p)| (n.to_string(), p.grad.clone()))
        .collect();
    let mut loss_at = |layer: &mut dyn Layer, xx: &ArrayD<f32>| {
        before_forward(layer);
        weighted_sum(&layer.forward(xx.clone(), mode.into()).unwrap(), &r)
    };
    let stride = (x.len() / samples).max(1);
    for i in (0..x.len()).step_by(stride) {
        let mut xp = x.clone();
        let mut xm = x.clone();
        xp.as_slice_mut().unwrap()[i] += h;
        xm.as_slice_mut().unwrap()[i] -= h;
        let num = (loss_at(layer, &xp) - loss_at(layer, &xm)) / (2.0 * h as f64);
        let ana = dx.as_slice().unwrap()[i];
        assert!(
            close(ana, num),
            "{} ({mode:?}): d/dx[{i}] analytic {ana} vs numeric {num}",
            layer.kind()
        );
    }
    for (name, grad) in analytic_params {
        let n = grad.len();
        let stride = (n / samples).max(1);
        for i in (0..n).step_by(stride) {
            let bump = |layer: &mut dyn Layer, delta: f32| {
                for (pn, p) in layer.params_mut() {
                    if pn == name {
                        p.value.as_slice_mut().unwrap()[i] += delta;
                    }
                }
            };
            bump(layer, h);
            let lp = loss_at(layer, x);
            bump(layer, -2.0 * h);
            let lm = loss_at(layer, x);
            bump(layer, h);
            let num = (lp - lm) / (2.0 * h as f64);
            let ana = grad.as_slice().unwrap()[i];
            assert!(
                close(ana, num),
                "{} ({mode:?}): d/d{name}[{i}] analytic {ana} vs numeric {num}",
                layer.kind()
            );
        }
    }
}

pub fn check_layer(layer: &mut dyn Layer, x: &ArrayD<f32>, mode: Mode) {
    check_layer_with(layer, x, mode, 60, &mut |_| {});
}

/// A tiny synthetic data set of `n` digits: a vertical bar whose position is the label.
pub fn bars(n: usize) -> splash::data::Dataset {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let label = (i % 10) as u8;
        let mut img = vec![0u8; 784];
        for y in 4..24 {
            img[y * 28 + 2 + 2 * label as usize] = 255;
        }
        images.extend(img);
        labels.push(label);
    }
    splash::data::Dataset { images, labels }
}

/// The MNIST directory (the four IDX .gz files): `$SPLASH_DATA`. Where it is unset or lacks
/// the files, a test that needs it fails under `CI=true` or when `SPLASH_DATA` is set (a
/// missing copy must not turn into a green run), and elsewhere returns `None` after printing
/// why (run `cargo test -- --nocapture` to see).
pub fn mnist_dir() -> Option<std::path::PathBuf> {
    let set = std::env::var_os("SPLASH_DATA").filter(|v| !v.is_empty());
    let dir = match &set {
        Some(v) => std::path::PathBuf::from(v),
        None => std::path::PathBuf::from("$SPLASH_DATA (unset)"),
    };
    if dir.join("t10k-images-idx3-ubyte.gz").exists() {
        return Some(dir);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !(ci || set.is_some()),
        "MNIST not found in {}: set SPLASH_DATA to the folder holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz",
        dir.display()
    );
    eprintln!(
        "SKIPPED: MNIST not found in {} (set SPLASH_DATA to check this)",
        dir.display()
    );
    None
}
