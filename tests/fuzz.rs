//! Fuzz-style robustness of the loaders: thousands of mutated weights files and bad data
//! files, from a seeded generator (stable Rust, repeatable). Each must give a clean error
//! or a valid model that predicts finite probabilities; never a panic.

use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use splash::data::{parse_idx_images, parse_idx_labels};
use splash::model::{Model, ModelSpec};
use splash::weights::{self, ModelConfig};
use splash::ActivationKind;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

fn valid_file() -> Vec<u8> {
    let spec = ModelSpec::lenet5(ActivationKind::Splash);
    let m = Model::new(spec, 4);
    let mut c = ModelConfig::new(spec);
    c.test_accuracy = Some(0.99);
    c.recipe = Some(serde_json::json!({"epochs": 2}));
    weights::save(&m, &c)
}

/// One mutation: flip bytes in the header or the body, truncate, splice or extend.
fn mutate(base: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut b = base.to_vec();
    let header = 8 + u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
    match rng.gen_range(0..6) {
        0 => {
            for _ in 0..rng.gen_range(1..8) {
                let i = rng.gen_range(0..header.min(b.len()));
                b[i] = rng.gen();
            }
        }
        1 => {
            for _ in 0..rng.gen_range(1..16) {
                let i = rng.gen_range(header..b.len());
                b[i] = rng.gen();
            }
        }
        2 => b.truncate(rng.gen_range(0..b.len())),
        3 => {
            // A length prefix that lies.
            let v: u64 = if rng.gen() {
                rng.gen()
            } else {
                rng.gen_range(0..4096)
            };
            b[..8].copy_from_slice(&v.to_le_bytes());
        }
        4 => {
            let at = rng.gen_range(0..b.len());
            let junk: Vec<u8> = (0..rng.gen_range(1..64)).map(|_| rng.gen()).collect();
            b.splice(at..at, junk);
        }
        _ => {
            // Swap two spans of the header (shuffles keys, shapes and offsets).
            let i = rng.gen_range(8..header - 16);
            let j = rng.gen_range(8..header - 16);
            for k in 0..8 {
                b.swap(i + k, j + k);
            }
        }
    }
    b
}

#[test]
fn thousands_of_mutated_weights_files_give_an_error_or_a_working_model() {
    let base = valid_file();
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let x = Array4::from_shape_fn((2, 1, 28, 28), |(n, _, r, c)| {
        ((n + r * c) % 5) as f32 / 4.0
    });
    let (mut errors, mut loaded) = (0, 0);
    for case in 0..3000 {
        let bytes = mutate(&base, &mut rng);
        let outcome = catch_unwind(AssertUnwindSafe(|| match weights::load(&bytes) {
            Ok((mut model, _)) => {
                let p = model.predict(&x).expect("valid input");
                assert!(
                    p.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)),
                    "case {case}: a loaded model predicts non-probabilities"
                );
                true
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                false
            }
        }));
        match outcome {
            Ok(true) => loaded += 1,
            Ok(false) => errors += 1,
            Err(_) => panic!("case {case}: loading a mutated file panicked"),
        }
    }
    // Both outcomes occur: the mutations reach past the first check.
    assert!(
        errors > 1000 && loaded > 50,
        "{errors} errors, {loaded} loaded"
    );
}

#[test]
fn mutated_idx_files_give_an_error_or_digits() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut images = Vec::new();
    for v in [2051u32, 3, 28, 28] {
        images.extend(v.to_be_bytes());
    }
    images.extend((0..3 * 784).map(|i| (i % 251) as u8));
    let mut labels = vec![0, 0, 8, 1, 0, 0, 0, 3];
    labels.extend([4u8, 5, 6]);
    for case in 0..3000 {
        let (which, base) = if case % 2 == 0 {
            (0, &images)
        } else {
            (1, &labels)
        };
        let mut b = base.clone();
        match rng.gen_range(0..3) {
            0 => {
                for _ in 0..rng.gen_range(1..6) {
                    let i = rng.gen_range(0..b.len().min(16));
                    b[i] = rng.gen();
                }
            }
            1 => b.truncate(rng.gen_range(0..b.len())),
            _ => b.extend((0..rng.gen_range(1..100)).map(|_| rng.gen::<u8>())),
        }
        let p = Path::new("fuzz");
        let ok = catch_unwind(|| {
            if which == 0 {
                let _ = parse_idx_images(&b, p);
            } else {
                let _ = parse_idx_labels(&b, p);
            }
        });
        assert!(
            ok.is_ok(),
            "case {case}: parsing a mutated IDX file panicked"
        );
    }
}
