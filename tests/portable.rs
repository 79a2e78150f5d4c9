//! Native runs with the WebAssembly build's kernels ([`Kernels::Portable`]) give the page's
//! results bit for bit (the wasm half of the check is in `tests/web.rs`).
#![cfg(not(target_arch = "wasm32"))]

#[path = "common/tiny_run.rs"]
mod tiny_run;

#[path = "common/conv_case.rs"]
mod conv_case;

use splash::data::Dataset;
use splash::model::ModelSpec;
use splash::nn::Kernels;
use splash::train::{RunOptions, Trainer};
use splash::ActivationKind;

#[test]
fn native_training_repeats_the_wasm_run_bit_for_bit() {
    let (images, labels) = tiny_run::digits();
    let data = Dataset::from_parts(images, labels).unwrap();
    let options: RunOptions = serde_json::from_str(tiny_run::OPTIONS).unwrap();
    let mut t = Trainer::new(
        ModelSpec::lenet5(ActivationKind::Splash),
        options.recipe().unwrap(),
    );
    t.model.set_kernels(Kernels::Portable);
    while !t.finished() {
        t.train_epoch(&data, &mut |_, _, _| {}).unwrap();
    }
    let got = tiny_run::digest(&t.model.state());
    assert_eq!(
        got,
        tiny_run::EXPECTED,
        "the native run's weights digest is {got:#018x}; if training changed on purpose, put it \
         in tests/common/tiny_run.rs (the wasm test must then agree)"
    );
}

/// With the WebAssembly kernels, evaluation-mode convolutions other than Winograd's and 1×1
/// read their zero-padded input in place, split into phase planes for a stride (no im2col);
/// training unfolds it into columns. Both sum the same products in the same order, so they
/// agree to the bit, for odd sizes, one or many channels, padding or none, strides 1 to 3.
#[test]
fn convolutions_without_im2col_equal_im2col_to_the_bit() {
    use rand::SeedableRng;
    use splash::nn::{Layer, Mode};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    // (in, out, kernel, stride, padding, height, width)
    for (cin, cout, k, st, p, h, w) in [
        (1, 6, 5, 1, 2, 28, 28),
        (6, 16, 5, 1, 0, 14, 14),
        (32, 32, 3, 1, 0, 7, 7),
        (3, 5, 3, 1, 2, 9, 11),
        (2, 7, 2, 1, 0, 6, 5),
        (4, 3, 5, 1, 1, 5, 8),
        (5, 9, 4, 1, 3, 3, 3),
        (16, 16, 3, 2, 1, 28, 28),
        (32, 32, 3, 2, 1, 14, 14),
        (3, 4, 3, 2, 1, 7, 9),
        (2, 5, 3, 2, 0, 8, 7),
        (3, 2, 4, 2, 2, 5, 6),
        (2, 3, 5, 3, 1, 11, 10),
        (1, 2, 3, 3, 0, 3, 4),
    ] {
        let (mut conv, x) = conv_case::conv_and_input(
            Kernels::Portable,
            &mut rng,
            (cin, cout, k, st, p),
            (3, h, w),
            (-1.0, 1.0),
        );
        let eval = conv.forward(x.clone(), Mode::Eval.into()).unwrap();
        let train = conv.forward(x.clone(), Mode::Train.into()).unwrap();
        assert_eq!(eval.shape(), train.shape());
        let differ = eval.iter().zip(&train).filter(|(a, b)| a != b).count();
        assert_eq!(
            differ,
            0,
            "{:?}: {differ} outputs differ",
            (cin, cout, k, st, p, h, w)
        );
    }
}

/// With the WebAssembly kernels, `predict` runs All-CNN's 3×3 convolutions as Winograd's
/// with the folded weights' transform made once at folding time. It must agree with the
/// layer-by-layer evaluation pass, and must follow the weights when they change (a stale
/// transform would keep predicting with the old ones).
#[test]
fn folded_prediction_with_prepared_winograd_follows_the_weights() {
    use rand::{Rng, SeedableRng};
    use splash::loss::softmax;
    use splash::model::Model;
    use splash::nn::Mode;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
    let x = ndarray::Array4::from_shape_fn((3, 1, 28, 28), |_| rng.gen_range(0.0..1.0f32));
    let mut model = Model::new(ModelSpec::allcnn(4, ActivationKind::Relu), 3);
    model.set_kernels(Kernels::Portable);
    for (name, t) in model.state_mut() {
        if name.ends_with("running_var") || name.ends_with("gamma") {
            t.mapv_inplace(|_| rng.gen_range(0.5..2.0));
        } else if name.ends_with("running_mean") || name.ends_with("bias") {
            t.mapv_inplace(|_| rng.gen_range(-0.5..0.5));
        }
    }
    let check = |model: &mut Model, what: &str| {
        let want = softmax(model.forward(&x, Mode::Eval).unwrap().view());
        let got = model.predict(&x).unwrap();
        let diff = (&got - &want).mapv(f32::abs).fold(0.0f32, |a, &b| a.max(b));
        assert!(diff <= 1e-5, "{what}: max |Δp| = {diff}");
        got
    };
    let first = check(&mut model, "fresh");
    assert_eq!(check(&mut model, "transform reused"), first);
    for (name, p) in model.params_mut() {
        if name.ends_with("weight") {
            p.value.mapv_inplace(|v| -1.5 * v);
        }
    }
    let changed = check(&mut model, "after the weights changed");
    assert_ne!(changed, first);
}

#[path = "common/fused_relu.rs"]
mod fused_relu;

/// The fused ReLU of a prediction with the page's kernels (see `common/fused_relu.rs`).
#[test]
fn fused_relu_with_the_wasm_kernels_matches_activation_layers() {
    fused_relu::fused_relu_matches_activation_layers(Kernels::Portable);
}
