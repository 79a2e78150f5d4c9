//! Tests of the wasm binding itself (wasm-bindgen-test, run in Node by
//! `wasm-pack test --node -- --no-default-features --features training`). They load the
//! committed weights.
#![cfg(target_arch = "wasm32")]

#[cfg(feature = "training")]
#[path = "common/tiny_run.rs"]
mod tiny_run;

#[path = "common/conv_case.rs"]
mod conv_case;

#[cfg(feature = "training")]
use splash::wasm::Training;
use splash::wasm::{attack_limits, describe_attack, model_constants, preprocess_canvas, Network};
use tsify::{Ts, Tsify};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

const LENET5_SPLASH: &[u8] = include_bytes!("../www/models/lenet5-splash.safetensors");
const LENET5_RELU: &[u8] = include_bytes!("../www/models/lenet5-relu.safetensors");

fn message(e: wasm_bindgen::JsError) -> String {
    format!("{:?}", JsValue::from(e))
}

/// The JS value a page would pass: `text` parsed as JSON (an object, usually), or the text
/// itself where it is not JSON.
fn js<T: Tsify>(text: &str) -> Ts<T> {
    let value = js_sys::JSON::parse(text).unwrap_or_else(|_| JsValue::from_str(text));
    Ts::new_unchecked(value)
}

/// A value the binding returned, as JSON text (to read it as the page would).
fn text<T: Tsify>(value: Ts<T>) -> String {
    js_sys::JSON::stringify(&value.into())
        .unwrap()
        .as_string()
        .unwrap()
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
        .attack(
            &one(),
            &[1],
            false,
            js(r#"{"method":"fgsm","epsilon":1.7}"#),
        )
        .err()
        .unwrap();
    assert!(message(err).contains("epsilon"));
    assert!(net
        .attack(&one(), &[12], false, js(r#"{"method":"fgsm"}"#))
        .is_err());
    for (bad, word) in [
        (r#"{"method":"pgd","steps":0}"#, "steps"),
        (r#"{"method":"pgd","restarts":0}"#, "restarts"),
        (r#"{"method":"square","queries":0}"#, "queries"),
        (r#"{"method":"pgd","epsilon":"x"}"#, "attack settings"),
        (r#"{"method":"cw"}"#, "attack settings"),
        (r#"{"method":"pgd","stepz":3}"#, "unknown field"),
        ("not json", "attack settings"),
        ("[1, 2]", "attack settings"),
    ] {
        let e = net.attack(&one(), &[1], false, js(bad)).err().unwrap();
        assert!(message(e).contains(word), "{bad}");
        assert!(
            message(describe_attack(js(bad)).unwrap_err()).contains(word),
            "{bad}"
        );
    }
    let e = net
        .robustness(&one(), &[1], js(r#"{"method":"fgsm"}"#), &[0.1; 65])
        .err()
        .unwrap();
    assert!(message(e).contains("epsilon"));
    let too_many = vec![0.0f32; 784 * 4097];
    assert!(message(net.predict(&too_many).unwrap_err()).contains("at most"));
    // Still usable after every error.
    assert_eq!(net.predict(&one()).unwrap().len(), 10);
    assert!(net.curve(99, &[0.0]).is_err());
    assert!(message(preprocess_canvas(&[255; 16 * 4], 4, 4).unwrap_err()).contains("draw a digit"));
    assert!(message(preprocess_canvas(&[0; 10], 4, 4).unwrap_err()).contains("RGBA"));
}

#[wasm_bindgen_test]
fn attacks_through_the_binding_stay_within_epsilon() {
    let mut net = Network::new(LENET5_RELU).unwrap();
    let x = one();
    for (targeted, class, spec) in [
        (
            false,
            1,
            r#"{"method":"fgsm","epsilon":0.15,"early_stop":false}"#,
        ),
        (
            true,
            7,
            r#"{"method":"bim","epsilon":0.15,"steps":10,"early_stop":false}"#,
        ),
        (
            false,
            1,
            r#"{"method":"pgd","epsilon":0.15,"steps":5,"restarts":2,"loss":"margin","seed":3}"#,
        ),
        (
            false,
            1,
            r#"{"method":"square","epsilon":0.15,"queries":50}"#,
        ),
    ] {
        let r = net.attack(&x, &[class], targeted, js(spec)).unwrap();
        let adv = r.adversarial().to_vec();
        assert_eq!(adv.len(), 784);
        let max = adv
            .iter()
            .zip(&x)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(max <= 0.15 + 1e-6 && max > 0.0, "{spec}: {max}");
        assert!(adv.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(r.fooled().length(), 1);
        assert!(r.queries().get_index(0) >= 1);
    }
    let described = text(describe_attack(js(r#"{"method":"square","queries":300}"#)).unwrap());
    assert!(described.contains("square-300") && described.contains("\"uses_gradient\":false"));
    let config = text(net.config().unwrap());
    assert!(
        config.contains("\"architecture\":\"lenet5\"")
            && config.contains("\"activation\":\"relu\"")
            && config.contains("\"hinges\":[0,1,2,2.5]")
            && config.contains("\"test_accuracy\":0.9948"),
        "{config}"
    );
    let point = text(
        net.breaking_point(&x, 1, js(r#"{"method":"fgsm"}"#), 0.5, 0.01)
            .unwrap(),
    );
    assert!(
        point.contains("\"holds_at\":") && point.contains("\"breaks_at\":"),
        "{point}"
    );
    let limits = text(attack_limits().unwrap());
    assert!(limits.contains("\"max_queries\":100000"), "{limits}");
    assert!(limits.contains("\"epsilon\":0.1,"), "{limits}");
    let r = net
        .robustness(
            &[x.clone(), x.clone()].concat(),
            &[1, 7],
            js(r#"{"method":"fgsm"}"#),
            &[0.0, 0.3],
        )
        .unwrap();
    assert_eq!(r.robust().length(), 4);
    assert_eq!(
        r.robust().to_vec()[..2],
        [1, 0],
        "ε = 0: the 1 is read right, a wrong label never is"
    );
    let mut victim = Network::new(LENET5_SPLASH).unwrap();
    let t = net
        .robustness_transfer(
            &mut victim,
            &x,
            &[1],
            js(r#"{"method":"pgd","steps":3}"#),
            &[0.0, 0.1],
        )
        .unwrap();
    assert_eq!(t.robust().length(), 2);
    assert_eq!(t.robust().get_index(0), 1);
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
    // A batch's are its first image's (the layers keep only those).
    let alone: Vec<Vec<f32>> = (0..4).map(|l| net.pre_activations(l).unwrap()).collect();
    let other: Vec<f32> = one().iter().map(|v| 1.0 - v).collect();
    net.predict(&[one(), other].concat()).unwrap();
    for (l, alone) in alone.iter().enumerate() {
        assert_eq!(&net.pre_activations(l).unwrap(), alone, "layer {l}");
    }
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

/// The constants scripts read: the MNIST normalisation as its decimal text (0.1307, not the
/// f32's f64 expansion 0.13070000708…), the hinges and sizes as the core has them.
#[wasm_bindgen_test]
fn model_constants_state_the_core_numbers() {
    let text = text(model_constants().unwrap());
    assert!(text.contains("\"mnist_mean\":0.1307"), "{text}");
    assert!(text.contains("\"mnist_std\":0.3081"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["mnist_mean"].as_f64().unwrap() as f32,
        splash::model::MNIST_MEAN
    );
    assert_eq!(
        v["mnist_std"].as_f64().unwrap() as f32,
        splash::model::MNIST_STD
    );
    assert_eq!(v["pixels"], 784);
    assert_eq!(v["classes"], 10);
    let hinges: Vec<f32> = serde_json::from_value(v["hinges"].clone()).unwrap();
    assert_eq!(hinges, splash::SPLASH_HINGES);
}

/// In WebAssembly, evaluation-mode 3×3 "same" convolutions use Winograd's F(2×2, 3×3);
/// training mode unfolds columns (im2col) and keeps them for the backward pass. A convolution
/// means the same in both modes, so both must agree, for every geometry the two networks
/// use, and so must the input gradients of the two modes.
#[wasm_bindgen_test]
fn evaluation_paths_agree_with_the_training_path() {
    use rand::SeedableRng;
    use splash::nn::{Layer, Mode, Need};
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
        let (mut conv, x) = conv_case::conv_and_input(
            splash::nn::Kernels::Portable,
            &mut rng,
            (cin, cout, k, s, p),
            (2, side, side),
            (0.0, 1.0),
        );
        let eval = conv.forward(x.clone(), Mode::Eval.into()).unwrap();
        let dy = eval.mapv(|v| v.sin());
        let dx_eval = conv.backward(&dy, Need::All).unwrap().unwrap();
        let train = conv.forward(x.clone(), Mode::Train.into()).unwrap();
        let dx_train = conv.backward(&dy, Need::All).unwrap().unwrap();
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

#[cfg(feature = "training")]
#[wasm_bindgen_test]
fn training_in_wasm_repeats_the_native_run_bit_for_bit() {
    let (images, labels) = tiny_run::digits();
    let mut t = Training::new(js(tiny_run::OPTIONS), "splash", &[], &images, &labels).unwrap();
    let mut epochs = 0;
    while !t.finished() {
        // Uneven chunks: how the page's worker calls it.
        let r: serde_json::Value = serde_json::from_str(&text(t.step(2).unwrap())).unwrap();
        if r["epoch_end"] == true {
            let stats: serde_json::Value =
                serde_json::from_str(&text(t.finish_epoch(0.25).unwrap())).unwrap();
            epochs += 1;
            assert_eq!(stats["epoch"], epochs);
            assert_eq!(stats["seconds"], 0.25);
        }
    }
    assert_eq!(t.epochs_done(), 2);
    let (model, config) = splash::weights::load(&t.weights()).unwrap();
    let recipe = config.recipe.unwrap();
    assert_eq!(recipe["training_digits"], 80);
    assert_eq!(recipe["adversarial"]["attack"]["steps"], 2);
    let got = tiny_run::digest(&model.state());
    assert_eq!(
        got,
        tiny_run::EXPECTED,
        "wasm weights digest {got:#018x} differs from the native run's"
    );
    // The trained network is usable at once, and measures its own accuracy.
    let mut net = t.network().unwrap();
    let acc = net.accuracy(&images, &labels).unwrap();
    assert!((0.0..=1.0).contains(&acc));
}

#[cfg(feature = "training")]
#[wasm_bindgen_test]
fn bad_training_requests_are_errors_not_panics() {
    let (images, labels) = tiny_run::digits();
    let ok = r#"{"epochs":1,"batch_size":16,"learning_rate":0.05,"seed":1,"augment":false}"#;
    let err = |r: Result<Training, wasm_bindgen::JsError>| message(r.err().unwrap());
    assert!(
        err(Training::new(js("{"), "splash", &[], &images, &labels)).contains("training settings")
    );
    let zero = ok.replace("\"epochs\":1", "\"epochs\":0");
    assert!(err(Training::new(js(&zero), "splash", &[], &images, &labels)).contains("epochs"));
    assert!(err(Training::new(js(ok), "swish2", &[], &images, &labels)).contains("swish2"));
    assert!(err(Training::new(
        js(ok),
        "splash",
        b"garbage",
        &images,
        &labels
    ))
    .contains("corrupt"));
    assert!(err(Training::new(
        js(ok),
        "splash",
        &[],
        &images[..700],
        &labels
    ))
    .contains("784"));
    assert!(err(Training::new(js(ok), "splash", &[], &[], &[])).contains("no digits"));
    let mut bad_labels = labels.clone();
    bad_labels[3] = 12;
    assert!(err(Training::new(js(ok), "splash", &[], &images, &bad_labels)).contains("label 12"));
    // Finishing an epoch that is not done is refused, and training goes on afterwards.
    let mut t = Training::new(js(ok), "relu", LENET5_RELU, &images, &labels).unwrap();
    assert!(message(t.finish_epoch(1.0).unwrap_err()).contains("no epoch"));
    t.step(1).unwrap();
    assert!(message(t.finish_epoch(1.0).unwrap_err()).contains("steps left"));
    while !t.finished() {
        if text(t.step(10).unwrap()).contains("\"epoch_end\":true") {
            t.finish_epoch(1.0).unwrap();
        }
    }
    assert!(t.step(1).is_err());
}
