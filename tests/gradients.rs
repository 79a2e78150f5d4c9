//! Finite-difference checks of every layer's input and parameter gradients, in training and
//! evaluation mode, and of whole models.

mod common;

use common::{check_layer, check_layer_with, random, rng};
use ndarray::{Array4, ArrayD};
use rand::Rng;
use splash::activation::{
    ActivationKind, ActivationLayer, Apl, Pointwise, Prelu, Relu, Splash, SPLASH_HINGES,
};
use splash::loss::{cross_entropy, softmax};
use splash::model::{Model, ModelError, ModelSpec};
use splash::nn::{
    BatchNorm, Conv2d, Dropout, Flatten, GlobalAvgPool, Layer, Linear, MaxPool2d, Mode, Need,
    Normalize, Pass, ShapeError,
};

const MODES: [Mode; 2] = [Mode::Train, Mode::Eval];

#[test]
fn conv2d_gradients_padding_1_stride_1() {
    for mode in MODES {
        let mut conv = Conv2d::new(3, 4, 3, 1, 1, &mut rng(1));
        check_layer(&mut conv, &random(&[2, 3, 6, 5], 2), mode);
    }
}

#[test]
fn conv2d_gradients_stride_2_and_5x5_no_padding() {
    let mut conv = Conv2d::new(2, 3, 3, 2, 1, &mut rng(3));
    check_layer(&mut conv, &random(&[3, 2, 7, 7], 4), Mode::Train);
    let mut conv = Conv2d::new(2, 5, 5, 1, 0, &mut rng(5));
    check_layer(&mut conv, &random(&[2, 2, 8, 8], 6), Mode::Eval);
    let mut conv = Conv2d::new(4, 3, 1, 1, 0, &mut rng(7));
    check_layer(&mut conv, &random(&[2, 4, 3, 3], 8), Mode::Train);
}

/// (in channels, out channels, kernel, stride, padding, height, width): odd and even sides,
/// padding wider than the kernel's reach, strides that skip the last row or column.
const CONV_GEOMETRIES: [(usize, usize, usize, usize, usize, usize, usize); 9] = [
    (2, 3, 3, 1, 1, 5, 4),
    (3, 2, 1, 1, 0, 3, 5),
    (2, 3, 3, 2, 1, 5, 6),
    (1, 2, 5, 1, 2, 7, 6),
    (3, 2, 3, 1, 2, 4, 5),
    (2, 2, 3, 3, 0, 8, 7),
    (2, 3, 5, 2, 2, 9, 6),
    (1, 1, 1, 2, 1, 3, 4),
    (2, 2, 4, 1, 0, 4, 6),
];

#[test]
fn conv2d_matches_direct_convolution() {
    for (seed, &(cin, cout, k, s, p, h, w)) in CONV_GEOMETRIES.iter().enumerate() {
        let seed = seed as u64 * 10;
        let mut conv = Conv2d::new(cin, cout, k, s, p, &mut rng(seed + 9));
        conv.bias.value = random(&[cout], seed + 10);
        let x = random(&[2, cin, h, w], seed + 11);
        let y = conv.forward(x.clone(), Mode::Eval.into()).unwrap();
        let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
        assert_eq!(y.shape(), &[2, cout, oh, ow]);
        let wt = &conv.weight.value;
        for n in 0..2 {
            for o in 0..cout {
                for i in 0..oh {
                    for j in 0..ow {
                        let mut sum = conv.bias.value[[o]];
                        for c in 0..cin {
                            for ki in 0..k {
                                for kj in 0..k {
                                    let (yy, xx) = (
                                        (i * s + ki) as isize - p as isize,
                                        (j * s + kj) as isize - p as isize,
                                    );
                                    if yy >= 0 && xx >= 0 && yy < h as isize && xx < w as isize {
                                        sum += wt[[o, c, ki, kj]]
                                            * x[[n, c, yy as usize, xx as usize]];
                                    }
                                }
                            }
                        }
                        assert!(
                            (sum - y[[n, o, i, j]]).abs() < 1e-5,
                            "geometry {:?} at {:?}",
                            (cin, cout, k, s, p, h, w),
                            (n, o, i, j)
                        );
                    }
                }
            }
        }
    }
}

/// Without bias a convolution is linear, so its input gradient is its exact adjoint:
/// <conv(x), dy> = <x, conv_backward(dy)> for every x and dy, in both modes.
#[test]
fn conv2d_backward_is_the_adjoint() {
    for (seed, &(cin, cout, k, s, p, h, w)) in CONV_GEOMETRIES.iter().enumerate() {
        for mode in MODES {
            let seed = seed as u64 * 10 + 100;
            let mut conv = Conv2d::new(cin, cout, k, s, p, &mut rng(seed));
            let x = random(&[3, cin, h, w], seed + 1);
            let y = conv.forward(x.clone(), mode.into()).unwrap();
            let dy = random(y.shape(), seed + 2);
            let dx = conv.backward(&dy, Need::All).unwrap().unwrap();
            let lhs: f64 = y.iter().zip(&dy).map(|(a, b)| f64::from(a * b)).sum();
            let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| f64::from(a * b)).sum();
            assert!(
                (lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0),
                "geometry {:?}: {lhs} vs {rhs}",
                (cin, cout, k, s, p, h, w)
            );
        }
    }
}

#[test]
fn linear_gradients() {
    for mode in MODES {
        let mut fc = Linear::new(7, 5, &mut rng(12));
        check_layer(&mut fc, &random(&[4, 7], 13), mode);
    }
}

#[test]
fn batchnorm_gradients_2d_and_4d() {
    for mode in MODES {
        let mut bn = BatchNorm::new(5);
        bn.gamma.value = random(&[5], 14).mapv(|v| v + 1.5);
        bn.beta.value = random(&[5], 15);
        bn.running_mean = random(&[5], 16);
        bn.running_var = random(&[5], 17).mapv(|v| v + 1.5);
        check_layer(&mut bn, &random(&[6, 5], 18), mode);
        let mut bn = BatchNorm::new(3);
        bn.gamma.value = random(&[3], 19).mapv(|v| v + 1.5);
        bn.running_var = random(&[3], 20).mapv(|v| v + 1.5);
        check_layer(&mut bn, &random(&[2, 3, 4, 3], 21), mode);
    }
}

#[test]
fn batchnorm_train_normalises_and_eval_uses_running_statistics() {
    let mut bn = BatchNorm::new(2);
    let x = random(&[50, 2], 22).mapv(|v| 3.0 * v + 2.0);
    let y = bn.forward(x.clone(), Mode::Train.into()).unwrap();
    for c in 0..2 {
        let col = y.index_axis(ndarray::Axis(1), c);
        assert!(col.mean().unwrap().abs() < 1e-4);
        assert!((col.mapv(|v| v * v).mean().unwrap() - 1.0).abs() < 1e-3);
    }
    assert!(bn.running_mean.iter().all(|&m| (m - 0.2).abs() < 0.1));
    bn.running_mean.fill(1.0);
    bn.running_var.fill(4.0);
    let y = bn.forward(x.clone(), Mode::Eval.into()).unwrap();
    let expect = (x[[0, 0]] - 1.0) / (4.0f32 + 1e-5).sqrt();
    assert!((y[[0, 0]] - expect).abs() < 1e-5);
}

#[test]
fn maxpool_and_global_average_pool_gradients() {
    for mode in MODES {
        check_layer(&mut MaxPool2d::new(2), &random(&[2, 3, 6, 4], 23), mode);
        check_layer(&mut GlobalAvgPool::new(), &random(&[2, 3, 4, 5], 24), mode);
        check_layer(&mut Flatten::new(), &random(&[2, 3, 2, 2], 25), mode);
        check_layer(
            &mut Normalize {
                mean: 0.1307,
                std: 0.3081,
            },
            &random(&[2, 1, 3, 3], 26),
            mode,
        );
    }
}

#[test]
fn dropout_gradients_with_a_fixed_mask_and_identity_in_eval() {
    let mut d = Dropout::new(0.4, 1);
    // Reseeding before every forward pass fixes the mask, so finite differences apply.
    check_layer_with(&mut d, &random(&[4, 10], 27), Mode::Train, 40, &mut |l| {
        // SAFETY of the cast: the closure is only called with the Dropout above.
        let d = unsafe { &mut *(l as *mut dyn Layer as *mut Dropout) };
        d.reseed(5);
    });
    let x = random(&[4, 10], 28);
    assert_eq!(d.forward(x.clone(), Mode::Eval.into()).unwrap(), x);
    let y = d
        .forward(random(&[100, 100], 29).mapv(|_| 1.0), Pass::Train)
        .unwrap();
    let dropped = y.iter().filter(|&&v| v == 0.0).count() as f32 / 10_000.0;
    assert!((dropped - 0.4).abs() < 0.03, "dropped fraction {dropped}");
    assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.6).abs() < 1e-6));
}

/// Inputs moved at least 0.05 away from every hinge (±b), where h is not differentiable.
fn away_from_hinges(shape: &[usize], seed: u64) -> ArrayD<f32> {
    random(shape, seed).mapv(|v| {
        let mut v = 3.5 * v;
        for b in SPLASH_HINGES {
            for hinge in [b, -b] {
                if (v - hinge).abs() < 0.05 {
                    v = hinge + 0.05f32.copysign(v - hinge + 1e-9);
                }
            }
        }
        v
    })
}

#[test]
fn relu_and_splash_gradients() {
    for mode in MODES {
        let x = away_from_hinges(&[3, 4, 5], 30);
        check_layer(&mut ActivationLayer::new(Box::new(Relu)), &x, mode);
        let learned = Splash::with_coefficients([0.9, -0.3, 0.5, 0.2], [0.2, 0.4, -0.6, 0.3]);
        check_layer(&mut ActivationLayer::new(Box::new(learned)), &x, mode);
        check_layer(&mut ActivationLayer::new(Box::new(Splash::new())), &x, mode);
    }
}

#[test]
fn every_parameter_free_activation_has_the_right_gradient() {
    for kind in ActivationKind::ALL {
        if let Some(p) = Pointwise::new(kind) {
            for mode in MODES {
                let x = away_from_hinges(&[3, 4, 5], 40);
                check_layer(&mut ActivationLayer::new(Box::new(p)), &x, mode);
            }
        }
    }
}

#[test]
fn prelu_and_apl_gradients_per_channel() {
    for mode in MODES {
        for shape in [vec![3, 4, 5], vec![2, 3, 2, 2]] {
            let channels = shape[1];
            let mut prelu = Prelu::new(channels);
            prelu.slope.value = random(&[channels], 41).mapv(|v| 0.3 * v);
            let x = away_from_hinges(&shape, 42);
            check_layer(&mut ActivationLayer::new(Box::new(prelu)), &x, mode);
            let mut apl = Apl::new(channels);
            apl.a.value = random(&[channels, 5], 43);
            apl.b.value = random(&[channels, 5], 44).mapv(|v| 2.0 * v);
            // Keep inputs away from APL's (random) hinges too.
            let hinges: Vec<f32> = apl.b.value.iter().copied().collect();
            let x = x.mapv(|v| {
                let mut v = v;
                for &h in &hinges {
                    if (v - h).abs() < 0.01 {
                        v = h + 0.01f32.copysign(v - h + 1e-9);
                    }
                }
                v
            });
            check_layer(&mut ActivationLayer::new(Box::new(apl)), &x, mode);
        }
    }
}

fn digits(n: usize, seed: u64) -> Array4<f32> {
    random(&[n, 1, 28, 28], seed)
        .mapv(|v| (v + 1.0) / 2.0)
        .into_dimensionality()
        .unwrap()
}

/// Whole-model check of dL/dx against finite differences of the cross-entropy.
fn check_model_input_gradient(spec: ModelSpec, mode: Mode) {
    let mut model = Model::new(spec, 3);
    if spec.activation == ActivationKind::Splash {
        // Move SPLASH away from its ReLU initialisation so every coefficient matters.
        for (name, p) in model.params_mut() {
            if name.ends_with("a_plus") {
                p.value
                    .assign(&ArrayD::from_shape_vec(vec![4], vec![0.8, 0.3, -0.2, 0.4]).unwrap());
            } else if name.ends_with("a_minus") {
                p.value
                    .assign(&ArrayD::from_shape_vec(vec![4], vec![0.3, -0.4, 0.2, 0.1]).unwrap());
            }
        }
    }
    // Eight digits, so that BatchNorm's batch statistics in training mode are not degenerate.
    let x = digits(8, 31);
    let labels = [1usize, 7, 3, 0, 9, 4, 4, 2];
    let loss = |m: &mut Model, x: &Array4<f32>| -> f64 {
        let logits = m.forward(x, mode).unwrap();
        cross_entropy(logits.view(), &labels)
            .per_sample
            .iter()
            .map(|&v| v as f64)
            .sum()
    };
    let logits = model.forward(&x, mode).unwrap();
    let ce = cross_entropy(logits.view(), &labels);
    let grad = model.backward(&ce.grad_sum(&labels)).unwrap();
    let h = 1e-3f32;
    let (mut err2, mut norm2) = (0.0f64, 0.0f64);
    for i in (0..x.len()).step_by(97) {
        let mut xp = x.clone();
        let mut xm = x.clone();
        xp.as_slice_mut().unwrap()[i] += h;
        xm.as_slice_mut().unwrap()[i] -= h;
        let num = (loss(&mut model, &xp) - loss(&mut model, &xm)) / (2.0 * h as f64);
        let ana = grad.as_slice().unwrap()[i] as f64;
        err2 += (ana - num).powi(2);
        norm2 += num.powi(2);
    }
    // Relative L2 error over the sampled coordinates. Kinks (ReLU, max pool, hinges) that a
    // ±h step crosses add noise, more in training mode, where BatchNorm couples the whole
    // batch so one pixel moves every unit of a channel; a wrong gradient gives about 1.
    // The layer tests above are exact.
    let rel = (err2 / norm2).sqrt();
    // Below an absolute error of 2e-3 the difference is f32 rounding in the forward passes
    // (it matters where the gradient itself is tiny, as for sigmoid at initialisation).
    let ok = rel < 0.1 || err2.sqrt() < 2e-3;
    eprintln!(
        "{} {mode:?}: relative error {rel:.4}, gradient norm {:.5}",
        spec.slug(),
        norm2.sqrt()
    );
    assert!(ok, "{} {mode:?}: relative error {rel:.4}", spec.slug());
}

#[test]
fn lenet5_input_gradient_matches_finite_differences() {
    for act in ActivationKind::ALL {
        for mode in MODES {
            check_model_input_gradient(ModelSpec::lenet5(act), mode);
        }
    }
}

#[test]
fn allcnn_input_gradient_matches_finite_differences() {
    for act in ActivationKind::DEMO {
        check_model_input_gradient(ModelSpec::allcnn(4, act), Mode::Eval);
        check_model_input_gradient(ModelSpec::allcnn(4, act), Mode::Train);
    }
}

/// Training's backward pass, which stops before dL/dx, accumulates exactly the parameter
/// gradients of the full backward pass, for both architectures.
#[test]
fn backward_params_matches_the_full_backward_pass() {
    for spec in [
        ModelSpec::lenet5(ActivationKind::Splash),
        ModelSpec::allcnn(4, ActivationKind::Relu),
    ] {
        let x = digits(6, 41);
        let labels = [3usize, 1, 4, 1, 5, 9];
        let grads = |full: bool| -> Vec<(String, ArrayD<f32>)> {
            let mut model = Model::new(spec, 5);
            let logits = model.forward(&x, Mode::Train).unwrap();
            let ce = cross_entropy(logits.view(), &labels);
            if full {
                model.backward(&ce.grad_sum(&labels)).unwrap();
            } else {
                model.backward_params(&ce.grad_sum(&labels)).unwrap();
            }
            model
                .params_mut()
                .into_iter()
                .map(|(n, p)| (n, p.grad.clone()))
                .collect()
        };
        let (full, params_only) = (grads(true), grads(false));
        assert_eq!(full.len(), params_only.len());
        for ((name, a), (_, b)) in full.iter().zip(&params_only) {
            assert!(a.iter().any(|v| *v != 0.0), "{name}: zero gradient");
            assert_eq!(a, b, "{}: {name}", spec.slug());
        }
    }
}

/// Max pooling against a plain row-major scan of every window: the first maximum wins on a
/// tie, a NaN wins over numbers (the first NaN), and the gradient goes to that one tap.
/// Values are coarse so that ties are common; widths leave tails beyond four windows.
#[test]
fn maxpool_picks_the_first_maximum_like_a_plain_scan() {
    for (size, h, w) in [
        (2, 6, 22),
        (2, 5, 9),
        (3, 7, 11),
        (2, 2, 2),
        (2, 4, 28),
        (2, 3, 10),
    ] {
        let mut x = random(&[2, 3, h, w], 51).mapv(|v| (v * 3.0).round());
        let xs = x.as_slice_mut().unwrap();
        for i in (0..xs.len()).step_by(37) {
            xs[i] = f32::NAN;
        }
        let mut pool = MaxPool2d::new(size);
        let y = pool.forward(x.clone(), Mode::Eval.into()).unwrap();
        let dy = random(y.shape(), 52);
        let dx = pool.backward(&dy, Need::All).unwrap().unwrap();
        let (oh, ow) = (h / size, w / size);
        let mut expect_dx = ArrayD::<f32>::zeros(x.shape());
        for n in 0..2 {
            for c in 0..3 {
                for r in 0..oh {
                    for col in 0..ow {
                        let mut best = (f32::NEG_INFINITY, (0, 0));
                        let mut first = true;
                        for di in 0..size {
                            for dj in 0..size {
                                let at = (r * size + di, col * size + dj);
                                let v = x[[n, c, at.0, at.1]];
                                let take =
                                    first || (!best.0.is_nan() && (v.is_nan() || v > best.0));
                                if take {
                                    best = (v, at);
                                }
                                first = false;
                            }
                        }
                        let got = y[[n, c, r, col]];
                        assert!(
                            got == best.0 || (got.is_nan() && best.0.is_nan()),
                            "size {size} {h}x{w} at {:?}: {got} vs {}",
                            (n, c, r, col),
                            best.0
                        );
                        expect_dx[[n, c, best.1 .0, best.1 .1]] += dy[[n, c, r, col]];
                    }
                }
            }
        }
        assert_eq!(dx, expect_dx, "size {size} {h}x{w}");
    }
}

/// Inference pools 2×2 windows by value alone where a row has no NaN, and falls back to the
/// exact scan where one may: both must give the training pass's values to the bit. Signed
/// zeros tie (the first one wins, so the sign shows), one window holds a NaN after a number,
/// one a +∞ and a −∞ (their sum is NaN: the fallback, which must still give +∞); widths give whole groups
/// of four windows, an overlapping last group, and fewer than four windows; odd heights a
/// trailing row that no window reads.
#[test]
fn maxpool_inference_equals_its_training_pass_to_the_bit() {
    for (h, w) in [(6, 28), (6, 10), (5, 8), (6, 6), (7, 2)] {
        let mut x = random(&[2, 3, h, w], 53).mapv(|v| (v * 2.0).round());
        for (i, v) in x.iter_mut().enumerate() {
            if *v == 0.0 && i % 2 == 1 {
                *v = -0.0;
            }
        }
        x[[0, 1, 2, 1]] = f32::NAN;
        x[[1, 2, 2, 0]] = f32::INFINITY;
        x[[1, 2, 3, 1]] = f32::NEG_INFINITY;
        assert!(x.iter().any(|v| v.to_bits() == (-0.0f32).to_bits()));
        let mut pool = MaxPool2d::new(2);
        let want = pool.forward(x.clone(), Mode::Eval.into()).unwrap();
        let got = pool.forward(x.clone(), Pass::Predict).unwrap();
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{h}x{w}, output {i}: {a:?} vs {b:?}"
            );
        }
        assert!(got.iter().any(|v| v.is_nan()), "{h}x{w}: the NaN's window");
        assert!(got.iter().any(|&v| v == f32::INFINITY), "{h}x{w}: +inf");
    }
    // An input smaller than one window pools to nothing, and its gradient is zero.
    let tiny = random(&[2, 3, 1, 5], 54);
    let mut pool = MaxPool2d::new(2);
    assert_eq!(
        pool.forward(tiny.clone(), Pass::Predict).unwrap().shape(),
        [2, 3, 0, 2]
    );
    let y = pool.forward(tiny.clone(), Mode::Eval.into()).unwrap();
    assert_eq!(y.shape(), [2, 3, 0, 2]);
    assert_eq!(
        pool.backward(&y, Need::All).unwrap().unwrap(),
        ArrayD::<f32>::zeros(tiny.shape())
    );
}

/// The WebAssembly build's matrix kernel against a plain triple loop, over shapes that hit
/// every edge path (rows not a multiple of 4, columns not a multiple of 8 or 4, k = 0),
/// with A read directly and transposed, strided B and C rows, and C accumulated into or
/// overwritten.
#[test]
fn small_gemm_matches_a_plain_product() {
    use splash::nn::gemm::{small_gemm, Start, Strided};
    for (m, n, k) in [
        (6, 784, 25),
        (16, 100, 150),
        (1, 1, 1),
        (5, 13, 7),
        (9, 3, 0),
        (4, 8, 3),
        (7, 12, 33),
        (6, 13, 5),
    ] {
        let a = random(&[m * k + 3], (m * n + k) as u64)
            .into_raw_vec_and_offset()
            .0;
        let (b_stride, c_stride) = (n + 2, n + 5);
        let b = random(&[k * b_stride + 1], 3).into_raw_vec_and_offset().0;
        let c0 = random(&[m * c_stride + 1], 4).into_raw_vec_and_offset().0;
        for transposed in [false, true] {
            let (rs, cs) = if transposed { (1, m) } else { (k, 1) };
            let a_at = |i: usize, p: usize| a[i * rs + p * cs];
            let mut c = c0.clone();
            let view = Strided {
                data: &a,
                row_stride: rs,
                col_stride: cs,
            };
            small_gemm(m, n, k, view, &b, b_stride, &mut c, c_stride, Start::C);
            for i in 0..m {
                for j in 0..n {
                    let mut want = c0[i * c_stride + j];
                    for p in 0..k {
                        want += a_at(i, p) * b[p * b_stride + j];
                    }
                    let got = c[i * c_stride + j];
                    assert!(
                        (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                        "{m}x{n}x{k} at ({i},{j}): {got} vs {want}"
                    );
                }
                // Padding between rows is left alone.
                for j in n..c_stride.min(c.len() - i * c_stride) {
                    assert_eq!(c[i * c_stride + j], c0[i * c_stride + j]);
                }
            }
            // C = A·B reads nothing of C (NaN there would show) and gives the same
            // products as adding to zeros.
            let mut set = vec![f32::NAN; c0.len()];
            small_gemm(m, n, k, view, &b, b_stride, &mut set, c_stride, Start::Zero);
            let mut zeros = vec![0.0; c0.len()];
            small_gemm(m, n, k, view, &b, b_stride, &mut zeros, c_stride, Start::C);
            for i in 0..m {
                for j in 0..c_stride.min(c0.len() - i * c_stride) {
                    let (got, at) = (set[i * c_stride + j], i * c_stride + j);
                    if j < n {
                        assert_eq!(got, zeros[at], "{m}x{n}x{k} overwrite at ({i},{j})");
                    } else {
                        assert!(got.is_nan(), "{m}x{n}x{k}: padding written at ({i},{j})");
                    }
                }
            }
        }
    }
}

/// The shifted-rows kernel against a plain triple loop: rows of B anywhere in one buffer
/// (overlapping, repeated), every sum starting at its row's bias, C's old values not read
/// (NaN there would show), padding between C's rows left alone.
#[test]
fn small_gemm_offsets_matches_a_plain_product_plus_bias() {
    use splash::nn::gemm::{small_gemm_offsets, Start, Strided};
    for (m, n, k) in [
        (6, 896, 25),
        (16, 140, 150),
        (5, 13, 7),
        (1, 1, 1),
        (4, 8, 3),
        (7, 3, 0),
    ] {
        let a = random(&[m * k + 1], (m + n + k) as u64)
            .into_raw_vec_and_offset()
            .0;
        let b = random(&[n + 3 * k + 9], 5).into_raw_vec_and_offset().0;
        let offsets: Vec<usize> = (0..k).map(|p| (p * 7) % (3 * k + 9)).collect();
        let bias = random(&[m], 6).into_raw_vec_and_offset().0;
        let c_stride = n + 3;
        let mut c = vec![f32::NAN; m * c_stride];
        let view = Strided {
            data: &a,
            row_stride: k,
            col_stride: 1,
        };
        small_gemm_offsets(
            m,
            n,
            view,
            &b,
            &offsets,
            &mut c,
            c_stride,
            Start::Bias(&bias),
        );
        for i in 0..m {
            for j in 0..c_stride {
                let got = c[i * c_stride + j];
                if j >= n {
                    assert!(got.is_nan(), "{m}x{n}x{k}: padding written at ({i},{j})");
                    continue;
                }
                let mut want = bias[i];
                for (p, &o) in offsets.iter().enumerate() {
                    want += a[i * k + p] * b[o + j];
                }
                assert!(
                    (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "{m}x{n}x{k} at ({i},{j}): {got} vs {want}"
                );
            }
        }
    }
}

/// The matrix kernels read A and B without bounds checks inside their loops, trusting the
/// checks made once per call: every short operand, and strides whose products overflow,
/// must stop there with a panic instead of reading out of bounds.
#[test]
fn small_gemm_refuses_operands_that_are_too_short() {
    use splash::nn::gemm::{small_gemm, small_gemm_offsets, Start, Strided};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let (m, n, k) = (4, 8, 3);
    let a = vec![1.0f32; m * k];
    let b = vec![1.0f32; k * n];
    let full = |data| Strided {
        data,
        row_stride: k,
        col_stride: 1,
    };
    let fails = |what: &str, f: &dyn Fn(&mut [f32])| {
        let mut c = vec![0.0f32; m * n];
        let err = catch_unwind(AssertUnwindSafe(|| f(&mut c))).expect_err(what);
        let msg = err
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| err.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        assert!(msg.starts_with("gemm:"), "{what}: {msg}");
        // Nothing was written before the check.
        assert!(c.iter().all(|&v| v == 0.0), "{what}");
    };
    // The shapes that pass, for reference.
    let mut c = vec![0.0f32; m * n];
    small_gemm(m, n, k, full(&a), &b, n, &mut c, n, Start::C);
    assert!(c.iter().all(|&v| v == 3.0));
    fails("A short", &|c| {
        small_gemm(m, n, k, full(&a[1..]), &b, n, c, n, Start::C)
    });
    fails("A's strides overflow", &|c| {
        let view = Strided {
            data: &a,
            row_stride: usize::MAX / 2,
            col_stride: 1,
        };
        small_gemm(m, n, k, view, &b, n, c, n, Start::C)
    });
    fails("B short", &|c| {
        small_gemm(m, n, k, full(&a), &b[1..], n, c, n, Start::C)
    });
    fails("B's stride overflows", &|c| {
        small_gemm(m, n, k, full(&a), &b, usize::MAX / 2 + 1, c, n, Start::C)
    });
    fails("C short", &|c| {
        let len = c.len();
        small_gemm(m, n, k, full(&a), &b, n, &mut c[..len - 1], n, Start::C)
    });
    fails("an offset past B's end", &|c| {
        small_gemm_offsets(m, n, full(&a), &b, &[0, 8, 17], c, n, Start::C)
    });
    fails("an offset that overflows", &|c| {
        small_gemm_offsets(m, n, full(&a), &b, &[0, usize::MAX - 2, 8], c, n, Start::C)
    });
    fails("a bias short of one per row", &|c| {
        small_gemm(m, n, k, full(&a), &b, n, c, n, Start::Bias(&[1.0; 3]))
    });
}

/// The WebAssembly build's A·Bᵀ kernel (linear layers, weight gradients) against a plain
/// triple loop, with k below, at and past multiples of four and C accumulated into.
#[test]
fn small_gemm_nt_matches_a_plain_product() {
    use splash::nn::gemm::small_gemm_nt;
    for (m, n, k) in [
        (1, 120, 400),
        (64, 10, 84),
        (3, 5, 7),
        (2, 3, 4),
        (1, 1, 0),
        (16, 150, 100),
        (7, 4, 9),
    ] {
        let a = random(&[m * k + 1], 5).into_raw_vec_and_offset().0;
        let b = random(&[n * k + 1], 6).into_raw_vec_and_offset().0;
        let c0 = random(&[m * n], 7).into_raw_vec_and_offset().0;
        let mut c = c0.clone();
        small_gemm_nt(m, n, k, &a, &b, &mut c);
        for i in 0..m {
            for j in 0..n {
                let dot: f32 = (0..k).map(|p| a[i * k + p] * b[j * k + p]).sum();
                let want = c0[i * n + j] + dot;
                let got = c[i * n + j];
                assert!(
                    (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                    "{m}x{n}x{k} at ({i},{j}): {got} vs {want}"
                );
            }
        }
    }
}

/// The attacks' input-only backward pass gives exactly the full backward pass's dL/dx and
/// leaves the parameter gradients of conv and linear layers alone.
#[test]
fn input_only_backward_equals_the_full_backward_input_gradient() {
    for spec in [
        ModelSpec::lenet5(ActivationKind::Splash),
        ModelSpec::allcnn(4, ActivationKind::Relu),
    ] {
        let mut model = Model::new(spec, 5);
        let x = digits(3, 41);
        let labels = [2usize, 5, 8];
        let logits = model.forward(&x, Mode::Eval).unwrap();
        let g = cross_entropy(logits.view(), &labels).grad_sum(&labels);
        let only = model.backward_input(&g).unwrap();
        for (name, p) in model.params_mut() {
            if name.ends_with(".weight") && (name.starts_with("conv") || name.starts_with("fc")) {
                assert!(p.grad.iter().all(|&v| v == 0.0), "{name} got a gradient");
            }
        }
        model.forward(&x, Mode::Eval).unwrap();
        let full = model.backward(&g).unwrap();
        assert_eq!(only, full, "{spec:?}");
    }
}

/// Gives every BatchNorm (and the biases) of `model` values far from their initial ones, so
/// that folding them changes the weights.
fn move_batchnorms(model: &mut Model, seed: u64) {
    let mut r = rng(seed);
    for (name, t) in model.state_mut() {
        let (lo, hi) = match name.rsplit('.').next().unwrap() {
            "gamma" => (0.5, 2.0),
            "running_var" => (0.2, 3.0),
            "beta" | "running_mean" | "bias" => (-0.5, 0.5),
            _ => continue,
        };
        t.mapv_inplace(|_| r.gen_range(lo..hi));
    }
}

/// `predict` runs the network with BatchNorm folded into the layer before it: its
/// probabilities and the pre-activations it records (the first image's) agree with the
/// unfolded evaluation pass,
/// and it follows the model when tensors change (loading, a training-mode pass).
#[test]
fn predict_with_folded_batchnorm_matches_the_layer_by_layer_pass() {
    for spec in [
        ModelSpec::lenet5(ActivationKind::Relu),
        ModelSpec::lenet5(ActivationKind::Splash),
        ModelSpec::allcnn(4, ActivationKind::Relu),
        ModelSpec::allcnn(4, ActivationKind::Splash),
    ] {
        let mut model = Model::new(spec, 8);
        move_batchnorms(&mut model, 9);
        let x = digits(5, 42);
        let check = |model: &mut Model, what: &str| {
            let want = softmax(model.forward(&x, Mode::Eval).unwrap().view());
            let want_pre: Vec<ArrayD<f32>> = model
                .activation_layers()
                .iter()
                .map(|(_, l)| l.last_input().unwrap().clone())
                .collect();
            let got = model.predict(&x).unwrap();
            let diff = (&got - &want).mapv(f32::abs).fold(0.0f32, |a, &b| a.max(b));
            assert!(diff <= 1e-5, "{spec:?} {what}: max |Δp| = {diff}");
            for ((name, l), want) in model.activation_layers().iter().zip(&want_pre) {
                // A prediction keeps the first image's pre-activations.
                let got = l.last_input().unwrap();
                assert_eq!(got.shape()[0], 1, "{spec:?} {what}: {name}");
                let want = &want.slice_axis(ndarray::Axis(0), ndarray::Slice::from(0..1));
                let d = (got - want).mapv(f32::abs).fold(0.0f32, |a, &b| a.max(b));
                let scale = want.mapv(f32::abs).fold(1.0f32, |a, &b| a.max(b));
                assert!(
                    d <= 1e-5 * scale,
                    "{spec:?} {what}: {name} inputs differ by {d}"
                );
            }
        };
        check(&mut model, "fresh");
        check(&mut model, "folded weights reused");
        // Loading other tensors (state_mut) and a training-mode pass (running statistics
        // move) must both be seen by the next predict.
        move_batchnorms(&mut model, 10);
        check(&mut model, "after loading");
        model.forward(&digits(8, 43), Mode::Train).unwrap();
        check(&mut model, "after a training pass");
        for (name, p) in model.params_mut() {
            if name.ends_with("weight") {
                p.value.mapv_inplace(|v| v * 1.5);
            }
        }
        check(&mut model, "after an optimiser-style update");
    }
}

/// `Layer::infer` (a prediction: nothing kept for a backward pass) gives exactly what
/// `forward` in evaluation gives, ties and NaN in max pooling included; a backward pass after
/// it is refused, and a forward pass after it makes backward work again.
#[test]
fn infer_equals_the_evaluation_forward_pass() {
    let mut r = rng(71);
    let mut layers: Vec<(Box<dyn Layer>, Vec<usize>)> = vec![
        (
            Box::new(Conv2d::new(3, 5, 3, 1, 1, &mut r)),
            vec![2, 3, 9, 8],
        ),
        (
            Box::new(Conv2d::new(2, 4, 5, 2, 2, &mut r)),
            vec![2, 2, 11, 11],
        ),
        (
            Box::new(Conv2d::new(1, 6, 5, 1, 2, &mut r)),
            vec![3, 1, 12, 12],
        ),
        (Box::new(MaxPool2d::new(2)), vec![2, 3, 9, 10]),
        (Box::new(MaxPool2d::new(3)), vec![2, 2, 9, 7]),
        (Box::new(Linear::new(7, 4, &mut r)), vec![5, 7]),
    ];
    for (i, (layer, shape)) in layers.iter_mut().enumerate() {
        let mut x = random(shape, 72 + i as u64);
        // Ties and a NaN for the pools: the same winner's value either way.
        x.iter_mut().step_by(5).for_each(|v| *v = 0.25);
        x.iter_mut().skip(3).step_by(17).for_each(|v| *v = f32::NAN);
        let want = layer.forward(x.clone(), Mode::Eval.into()).unwrap();
        let got = layer.forward(x.clone(), Pass::Predict).unwrap();
        assert_eq!(got.shape(), want.shape(), "{}", layer.kind());
        let same = got
            .iter()
            .zip(&want)
            .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
        assert!(same, "{}: infer differs from forward", layer.kind());
        let dy = want.mapv(|_| 1.0);
        let refused = layer.backward(&dy, Need::All);
        assert!(
            matches!(refused, Err(ShapeError::NoForward { .. })),
            "{}: backward after a prediction gave {refused:?}",
            layer.kind()
        );
        layer.forward(x.clone(), Mode::Eval.into()).unwrap();
        layer.backward(&dy, Need::All).unwrap().unwrap();
    }
}

/// `predict` and `Model::forward` hand each layer its input to keep: the layers that then
/// work where it lies or keep it for the backward pass (Normalize, Flatten, Linear, the
/// activations) must give, for an input not in standard layout, the outputs and the
/// backward pass they give for the same values in standard layout, to the bit, in every
/// pass.
#[test]
fn owned_inputs_in_any_layout_give_the_same_passes() {
    let mut r = rng(76);
    let mut layers: Vec<(Box<dyn Layer>, Vec<usize>)> = vec![
        (
            Box::new(Normalize {
                mean: 0.1307,
                std: 0.3081,
            }),
            vec![3, 2, 4, 6],
        ),
        (Box::new(Flatten::new()), vec![3, 2, 4, 6]),
        (
            Box::new(ActivationLayer::new(Box::new(Splash::with_coefficients(
                [0.9, -0.3, 0.2, 0.1],
                [0.4, -0.2, 0.3, -0.1],
            )))),
            vec![3, 2, 4, 6],
        ),
        (Box::new(MaxPool2d::new(2)), vec![3, 2, 4, 6]),
        (Box::new(Linear::new(5, 4, &mut r)), vec![6, 5]),
    ];
    let same = |a: &ArrayD<f32>, b: &ArrayD<f32>| {
        a.shape() == b.shape() && a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits())
    };
    for (layer, shape) in layers.iter_mut() {
        let kind = layer.kind();
        // The same values, once in a layout the layer cannot reshape in place.
        let mut flipped = shape.clone();
        flipped.reverse();
        let reversed = random(&flipped, 74).reversed_axes();
        assert!(!reversed.is_standard_layout());
        let standard = reversed.as_standard_layout().into_owned();
        for pass in [Pass::Train, Pass::Eval, Pass::Predict] {
            let want = layer.forward(standard.clone(), pass).unwrap();
            let got = layer.forward(reversed.clone(), pass).unwrap();
            assert!(same(&got, &want), "{kind}: {pass:?} output differs");
            if pass == Pass::Predict {
                continue;
            }
            let dy = random(want.shape(), 75);
            let got_dx = layer.backward(&dy, Need::All).unwrap().unwrap();
            layer.forward(standard.clone(), pass).unwrap();
            let want_dx = layer.backward(&dy, Need::All).unwrap().unwrap();
            assert!(same(&got_dx, &want_dx), "{kind}: {pass:?} backward differs");
        }
    }
}

/// Shapes that do not fit are errors that say what was expected, not panics: every layer's
/// input, a gradient that is not the last output's, a backward pass with no forward pass
/// before it; and through the model, images that are not (N, 1, 28, 28), logit gradients
/// that are not (N, 10), a backward pass after a prediction.
#[test]
fn shapes_that_do_not_fit_are_errors() {
    let mut r = rng(91);
    type Case = (Box<dyn Layer>, Vec<usize>, Vec<usize>);
    let wrong: Vec<Case> = vec![
        // (layer, an input it takes, an input it refuses)
        (
            Box::new(Conv2d::new(3, 4, 5, 1, 0, &mut r)),
            vec![2, 3, 6, 6],
            vec![2, 2, 6, 6],
        ),
        (
            Box::new(Conv2d::new(3, 4, 5, 1, 0, &mut r)),
            vec![2, 3, 6, 6],
            vec![2, 3, 4, 9],
        ),
        (
            Box::new(Conv2d::new(3, 4, 5, 1, 0, &mut r)),
            vec![2, 3, 6, 6],
            vec![3, 6, 6],
        ),
        (Box::new(Linear::new(7, 4, &mut r)), vec![5, 7], vec![5, 8]),
        (
            Box::new(Linear::new(7, 4, &mut r)),
            vec![5, 7],
            vec![5, 7, 1],
        ),
        (Box::new(BatchNorm::new(3)), vec![4, 3, 2], vec![4, 2, 2]),
        (Box::new(BatchNorm::new(3)), vec![4, 3, 2], vec![4]),
        (Box::new(MaxPool2d::new(2)), vec![2, 3, 4, 4], vec![2, 3, 4]),
        (Box::new(GlobalAvgPool::new()), vec![2, 3, 4, 4], vec![2, 3]),
        (Box::new(Flatten::new()), vec![2, 3, 4], vec![]),
        (
            Box::new(ActivationLayer::new(ActivationKind::Prelu.build(3))),
            vec![2, 3, 4],
            vec![2, 4, 4],
        ),
    ];
    for (mut layer, fits, refused) in wrong {
        let kind = layer.kind();
        let dy = random(&[1, 1], 92);
        let before = layer.backward(&dy, Need::All);
        assert!(
            matches!(before, Err(ShapeError::NoForward { .. })),
            "{kind}: backward before forward gave {before:?}"
        );
        let got = layer.forward(random(&refused, 93), Pass::Eval);
        assert!(
            matches!(&got, Err(ShapeError::Input { got, .. }) if *got == refused),
            "{kind}: input {refused:?} gave {:?}",
            got.map(|y| y.shape().to_vec())
        );
        let y = layer.forward(random(&fits, 94), Pass::Eval).unwrap();
        let mut bad = y.shape().to_vec();
        bad[0] += 1;
        let got = layer.backward(&random(&bad, 95), Need::All);
        assert!(
            matches!(&got, Err(ShapeError::Gradient { expected, .. }) if expected == y.shape()),
            "{kind}: gradient {bad:?} for output {:?} gave {got:?}",
            y.shape()
        );
        layer.backward(&random(y.shape(), 96), Need::All).unwrap();
    }
    let mut model = Model::new(ModelSpec::lenet5(ActivationKind::Splash), 5);
    let images = Array4::from_elem((2, 1, 28, 28), 0.5f32);
    let got = model.backward(&ndarray::Array2::zeros((2, 10)));
    assert!(
        matches!(got, Err(ModelError::Shape(ShapeError::NoForward { .. }))),
        "backward before forward gave {got:?}"
    );
    for shape in [(2, 1, 27, 28), (2, 3, 28, 28)] {
        let got = model.forward(&Array4::zeros(shape), Mode::Eval);
        assert!(
            matches!(&got, Err(ModelError::BadShape(s)) if s[..] == [shape.0, shape.1, shape.2, shape.3]),
            "{shape:?} gave {got:?}"
        );
    }
    model.forward(&images, Mode::Eval).unwrap();
    for bad in [(3, 10), (2, 9)] {
        let got = model.backward_input(&ndarray::Array2::zeros(bad));
        assert!(
            matches!(got, Err(ModelError::Shape(ShapeError::Gradient { .. }))),
            "logit gradient {bad:?} gave {got:?}"
        );
    }
    model
        .backward_input(&ndarray::Array2::zeros((2, 10)))
        .unwrap();
    model.predict(&images).unwrap();
    let got = model.backward(&ndarray::Array2::zeros((2, 10)));
    assert!(
        matches!(got, Err(ModelError::Shape(ShapeError::NoForward { .. }))),
        "backward after a prediction gave {got:?}"
    );
    let got = model.input_gradient(&images, &[1]);
    assert!(
        matches!(got, Err(ModelError::LabelCount { .. })),
        "one label for two images gave {got:?}"
    );
}

#[path = "common/fused_relu.rs"]
mod fused_relu;

/// The fused ReLU of a prediction with the build's default kernels (natively the native ones;
/// see `common/fused_relu.rs`).
#[test]
fn fused_relu_matches_activation_layers() {
    fused_relu::fused_relu_matches_activation_layers(splash::nn::Kernels::default());
}
