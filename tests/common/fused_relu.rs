//! The check that a prediction's fused ReLU (`splash::nn::Epilogue`: the convolution
//! before a folded BatchNorm applies the ReLU after it as it writes its outputs) gives the
//! bits the activation layer gives, run natively with the native kernels (`gradients.rs`)
//! and with the WebAssembly build's (`portable.rs`: Winograd, shifted and 1×1 convolutions).

use rand::{Rng, SeedableRng};
use splash::model::{Model, ModelSpec};
use splash::nn::Kernels;
use splash::ActivationKind;

/// A SPLASH network at initialisation is exactly ReLU (a⁺ = (1, 0, 0, 0), a⁻ = 0), and its
/// activations run as layers of their own: given the ReLU network's tensors, its
/// probabilities and the first image's pre-activations that every activation layer keeps
/// must be the ReLU network's to the bit, with `kernels`.
pub fn fused_relu_matches_activation_layers(kernels: Kernels) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
    for (relu, splash) in [
        (
            ModelSpec::lenet5(ActivationKind::Relu),
            ModelSpec::lenet5(ActivationKind::Splash),
        ),
        (
            ModelSpec::allcnn(4, ActivationKind::Relu),
            ModelSpec::allcnn(4, ActivationKind::Splash),
        ),
    ] {
        let mut fused = Model::new(relu, 3);
        fused.set_kernels(kernels);
        for (name, t) in fused.state_mut() {
            let (lo, hi) = match name.rsplit('.').next().unwrap() {
                "gamma" | "running_var" => (0.5, 2.0),
                _ => (-0.5, 0.5),
            };
            if !name.ends_with("weight") {
                t.mapv_inplace(|_| rng.gen_range(lo..hi));
            }
        }
        let mut layered = Model::new(splash, 4);
        layered.set_kernels(kernels);
        let tensors: Vec<(String, ndarray::ArrayD<f32>)> = fused
            .state()
            .into_iter()
            .map(|(n, t)| (n, t.clone()))
            .collect();
        let mut copied = 0;
        for (name, t) in layered.state_mut() {
            if let Some((_, src)) = tensors.iter().find(|(n, _)| *n == name) {
                t.assign(src);
                copied += 1;
            }
        }
        assert_eq!(copied, tensors.len(), "{relu:?}: every tensor copied");
        // Batches of one and of several (the first image takes its own path).
        for n in [1, 5] {
            let x = ndarray::Array4::from_shape_fn((n, 1, 28, 28), |_| rng.gen_range(0.0..1.0));
            let want = layered.predict(&x).unwrap();
            let got = fused.predict(&x).unwrap();
            assert_eq!(got, want, "{relu:?}, batch {n}: probabilities");
            let (got, want) = (fused.activation_layers(), layered.activation_layers());
            assert_eq!(got.len(), want.len());
            for ((name, g), (_, w)) in got.iter().zip(&want) {
                let (g, w) = (g.last_input().unwrap(), w.last_input().unwrap());
                assert_eq!(
                    g.shape()[0],
                    1,
                    "{relu:?}, batch {n}: {name} keeps one image"
                );
                assert_eq!(g, w, "{relu:?}, batch {n}: {name}'s pre-activations");
            }
        }
    }
}
