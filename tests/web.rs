//! Tests of the wasm binding itself (wasm-bindgen-test, run in Node by
//! `wasm-pack test --node -- --no-default-features`). They load the committed weights.
#![cfg(target_arch = "wasm32")]

use splash::wasm::{preprocess_canvas, Network};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

const LENET5_SPLASH: &[u8] = include_bytes!("../www/models/lenet5-splash.safetensors");
const LENET5_RELU: &[u8] = include_bytes!("../www/models/lenet5-relu.safetensors");

fn message(e: wasm_bindgen::JsError) -> String {
    format!("{:?}", JsValue::from(e))
}

/// A vertical bar: a crude "1".
fn one() -> Vec<f32> {
    let mut px = vec![0.0f32; 784];
    for y in 5..23 {
        px[y * 28 + 13] = 1.0;
        px[y * 28 + 14] = 0.8;
    }
    px
}

#[wasm_bindgen_test]
fn committed_weights_load_and_predict_a_distribution() {
    for (bytes, name) in [
        (LENET5_SPLASH, "lenet5-splash"),
        (LENET5_RELU, "lenet5-relu"),
    ] {
        let mut net = Network::new(bytes).unwrap();
        assert_eq!(net.name(), name);
        let p = net.predict(&[one(), one()].concat()).unwrap();
        assert_eq!(p.len(), 20);
        assert!((p[..10].iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert_eq!(p[..10], p[10..]);
        let top = (0..10).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        assert_eq!(top, 1, "{name} reads a vertical bar as 1");
    }
}

#[wasm_bindgen_test]
fn bad_inputs_are_errors_not_panics() {
    assert!(message(Network::new(b"garbage").err().unwrap()).contains("corrupt"));
    assert!(message(Network::new(&LENET5_SPLASH[..1000]).err().unwrap()).contains("corrupt"));
    let mut net = Network::new(LENET5_SPLASH).unwrap();
    assert!(message(net.predict(&[0.0; 783]).unwrap_err()).contains("784"));
    assert!(net.predict(&[]).is_err());
    let mut nan = one();
    nan[5] = f32::NAN;
    assert!(message(net.predict(&nan).unwrap_err()).contains("not a finite number"));
    let err = net
        .attack(&one(), &[1], false, 0.7 + 1.0, 1, 0.1, false, 0)
        .unwrap_err();
    assert!(message(err).contains("epsilon"));
    assert!(net
        .attack(&one(), &[12], false, 0.1, 1, 0.1, false, 0)
        .is_err());
    assert!(net.curve(99, &[0.0]).is_err());
    assert!(message(preprocess_canvas(&[255; 16 * 4], 4, 4).unwrap_err()).contains("draw a digit"));
    assert!(message(preprocess_canvas(&[0; 10], 4, 4).unwrap_err()).contains("RGBA"));
}

#[wasm_bindgen_test]
fn fgsm_through_the_binding_stays_within_epsilon() {
    let mut net = Network::new(LENET5_RELU).unwrap();
    let x = one();
    for (targeted, class, steps, random) in [
        (false, 1, 1, false),
        (true, 7, 10, false),
        (false, 1, 5, true),
    ] {
        let adv = net
            .attack(&x, &[class], targeted, 0.15, steps, 0.05, random, 3)
            .unwrap();
        assert_eq!(adv.len(), 784);
        let max = adv
            .iter()
            .zip(&x)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(max <= 0.15 + 1e-6 && max > 0.0);
        assert!(adv.iter().all(|v| (0.0..=1.0).contains(v)));
    }
    let sweep = net.fgsm_sweep(&x, &[1], &[0.0, 0.1, 0.2]).unwrap();
    assert_eq!(sweep.len(), 3 * 784);
    assert_eq!(&sweep[..784], &x[..], "ε = 0 leaves the image alone");
}

#[wasm_bindgen_test]
fn splash_curves_and_pre_activations_are_exposed() {
    let mut net = Network::new(LENET5_SPLASH).unwrap();
    assert_eq!(net.activation_layer_count(), 4);
    let ys = net.curve(0, &[-1.0, 0.0, 1.0]).unwrap();
    assert_eq!(ys[1], 0.0, "grounded");
    assert_eq!(net.coefficients(0).unwrap().len(), 8);
    assert!(
        net.pre_activations(0).is_err(),
        "nothing before the first predict"
    );
    net.predict(&one()).unwrap();
    assert_eq!(net.pre_activations(0).unwrap().len(), 6 * 28 * 28);
    assert_eq!(net.pre_activations(3).unwrap().len(), 84);
    let relu = Network::new(LENET5_RELU).unwrap();
    assert!(relu.coefficients(0).unwrap().is_empty());
    assert_eq!(relu.curve(0, &[-1.0, 2.0]).unwrap(), vec![0.0, 2.0]);
}

#[wasm_bindgen_test]
fn canvas_preprocessing_runs_in_wasm() {
    let (w, h) = (40usize, 40usize);
    let mut rgba = vec![255u8; w * h * 4];
    for y in 5..30 {
        for x in 18..22 {
            let i = 4 * (y * w + x);
            rgba[i..i + 3].copy_from_slice(&[0, 0, 0]);
        }
    }
    let px = preprocess_canvas(&rgba, w, h).unwrap();
    assert_eq!(px.len(), 784);
    assert!(px.contains(&1.0));
}

/// In WebAssembly, evaluation-mode 3×3 "same" convolutions use Winograd's F(2×2, 3×3);
/// training mode unfolds columns (im2col) and keeps them for the backward pass. A convolution
/// means the same in both modes, so both must agree, for every geometry the two networks
/// use, and so must the input gradients of the two modes.
#[wasm_bindgen_test]
fn evaluation_paths_agree_with_the_training_path() {
    use rand::{Rng, SeedableRng};
    use splash::nn::{Conv2d, Layer, Mode};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    // (in, out, kernel, stride, padding, side)
    for (cin, cout, k, s, p, side) in [
        (1, 6, 5, 1, 2, 28),
        (6, 16, 5, 1, 0, 14),
        (1, 16, 3, 1, 1, 28),
        (16, 16, 3, 1, 1, 28),
        (16, 16, 3, 2, 1, 28),
        (32, 32, 3, 1, 1, 14),
        (32, 32, 3, 1, 0, 7),
        (32, 10, 1, 1, 0, 5),
        (3, 4, 3, 1, 1, 7),
    ] {
        let mut conv = Conv2d::new(cin, cout, k, s, p, &mut rng);
        conv.bias.value.mapv_inplace(|_| rng.gen_range(-1.0..1.0));
        let x =
            ndarray::ArrayD::from_shape_fn(vec![2, cin, side, side], |_| rng.gen_range(0.0..1.0));
        let eval = conv.forward(&x, Mode::Eval);
        let dy = eval.mapv(|v| v.sin());
        let dx_eval = conv.backward(&dy);
        let train = conv.forward(&x, Mode::Train);
        let dx_train = conv.backward(&dy);
        for (a, b) in eval.iter().zip(train.iter()) {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{:?}: {a} vs {b}",
                (cin, cout, k, s, p, side)
            );
        }
        for (a, b) in dx_eval.iter().zip(dx_train.iter()) {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "dx {:?}: {a} vs {b}",
                (cin, cout, k, s, p, side)
            );
        }
    }
}
