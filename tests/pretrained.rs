//! The committed weights in `www/models/` load, describe themselves correctly, and reach the
//! accuracy their metadata and eval JSON state on the MNIST test set read from
//! `../shared/data/mnist` (skipped, with a message, where that directory is absent).

use splash::data::{Dataset, Split};
use splash::train::accuracy;
use splash::weights;
use std::path::{Path, PathBuf};

const MODELS: [&str; 4] = [
    "lenet5-relu",
    "lenet5-splash",
    "allcnn-relu",
    "allcnn-splash",
];

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models")
}

fn mnist_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    if dir.join("t10k-images-idx3-ubyte.gz").exists() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {} is absent, so the committed weights' accuracy is not checked",
            dir.display()
        );
        None
    }
}

#[test]
fn committed_weights_load_and_match_their_names() {
    for name in MODELS {
        let path = models_dir().join(format!("{name}.safetensors"));
        let (model, config) = weights::load_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(config.spec.slug(), name);
        assert_eq!(model.spec(), config.spec);
        assert_eq!(config.excluded_training_digits, Some(10_000), "{name}");
        assert!(config.recipe.is_some() && config.seed.is_some(), "{name}");
        let eval: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(models_dir().join(format!("{name}.eval.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(eval["model"], name);
        assert_eq!(eval["test_digits"], 10_000);
        let stated = config.test_accuracy.unwrap();
        assert!((eval["clean_accuracy"].as_f64().unwrap() as f32 - stated).abs() < 1e-6);
        if name.contains("splash") {
            // Training moved SPLASH away from its ReLU initialisation.
            let layers = model.activation_layers();
            assert!(!layers.is_empty());
            assert!(layers.iter().any(|(_, l)| {
                l.activation().as_splash().unwrap().a_plus() != [1.0, 0.0, 0.0, 0.0]
            }));
        }
    }
}

#[test]
fn committed_weights_reach_their_stated_test_accuracy() {
    let Some(dir) = mnist_dir() else { return };
    let test = Dataset::load_mnist(&dir, Split::Test).unwrap();
    for name in MODELS {
        let path = models_dir().join(format!("{name}.safetensors"));
        let (mut model, config) = weights::load_file(&path).unwrap();
        let stated = config.test_accuracy.unwrap();
        let measured = accuracy(&mut model, &test);
        eprintln!("{name}: stated {stated:.4}, measured {measured:.4}");
        assert!(
            (measured - stated).abs() < 1e-4,
            "{name}: metadata says {stated}, the test set gives {measured}"
        );
    }
}
