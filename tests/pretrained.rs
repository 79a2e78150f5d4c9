//! The committed weights in `www/models/` load, describe themselves correctly, and reach the
//! accuracy their metadata and eval JSON state on the MNIST test set read from
//! `$SPLASH_DATA` (see `common::mnist_dir`: a missing copy fails under CI).

mod common;

use splash::attack::AttackSpec;
use splash::data::{Dataset, Split};
use splash::robustness::{fractions, robust_dataset, EvalReport};
use splash::train::accuracy;
use splash::weights;
use std::path::{Path, PathBuf};

/// Every committed model with the test digits its report's PGD-40 and worst case used (a
/// robust model makes each attack run its whole budget, so those run on fewer digits).
const COMMITTED: [(&str, usize, usize); 8] = [
    ("lenet5-relu", 10_000, 1_000),
    ("lenet5-splash", 10_000, 1_000),
    ("allcnn-relu", 10_000, 1_000),
    ("allcnn-splash", 10_000, 1_000),
    ("lenet5-relu-adv", 10_000, 1_000),
    ("lenet5-splash-adv", 10_000, 1_000),
    ("allcnn-relu-adv", 1_000, 500),
    ("allcnn-splash-adv", 1_000, 500),
];

/// The LeNet5 pair adversarially trained for ε = 0.3, evaluated with AutoAttack's attacks.
const ROBUST_03: [&str; 2] = ["lenet5-relu-adv-0.3", "lenet5-splash-adv-0.3"];

/// Every committed weights file.
fn all_committed() -> impl Iterator<Item = &'static str> {
    COMMITTED.iter().map(|c| c.0).chain(ROBUST_03)
}

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models")
}

use common::mnist_dir;

#[test]
fn committed_weights_load_and_match_their_names() {
    for name in all_committed() {
        let path = models_dir().join(format!("{name}.safetensors"));
        let (model, config) = weights::load_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        // `-adv` files hold the same networks, adversarially trained (said in the recipe).
        let adversarial = name.contains("-adv");
        assert_eq!(
            config.spec.slug(),
            name.trim_end_matches("-0.3").trim_end_matches("-adv")
        );
        let trained_for = if name.ends_with("-adv-0.3") { 0.3 } else { 0.1 };
        if adversarial {
            let eps = config.recipe.as_ref().unwrap()["adversarial"]["attack"]["epsilon"]
                .as_f64()
                .unwrap();
            assert!(
                (eps - trained_for).abs() < 1e-6,
                "{name}: trained at ε = {eps}"
            );
        }
        let recipe = config.recipe.as_ref().expect("recipe");
        assert_eq!(
            recipe.get("adversarial").is_some_and(|a| !a.is_null()),
            adversarial,
            "{name}: the recipe's adversarial training"
        );
        assert_eq!(model.spec(), config.spec);
        assert_eq!(config.excluded_training_digits, Some(10_000), "{name}");
        assert!(config.recipe.is_some() && config.seed.is_some(), "{name}");
        let eval = report(name);
        assert_eq!(eval.model, config.spec.slug());
        assert_eq!(eval.test_digits, 10_000);
        let stated = config.test_accuracy.unwrap();
        assert!((eval.clean_accuracy - stated).abs() < 1e-6);
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
    for name in all_committed() {
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

fn report(name: &str) -> EvalReport {
    let path = models_dir().join(format!("{name}.eval.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn eval_reports_hold_strong_attacks_the_worst_case_and_diagnostics() {
    for (name, pgd_digits, worst_digits) in COMMITTED {
        let r = report(name);
        let by_name = |n: &str| r.attacks.iter().find(|a| a.name == n);
        // FGSM on at least 2,000 test digits; PGD-40 on all of them for the standard models
        // and the adversarial LeNet5, on the first 1,000 for the adversarial All-CNN (eight
        // times the cost per digit), both also as transfer attacks.
        let fgsm = by_name("fgsm").expect("fgsm");
        assert!(fgsm.test_digits >= 2_000, "{name}");
        let pgd = by_name("pgd-40").expect("pgd-40");
        assert_eq!(pgd.test_digits, pgd_digits, "{name}");
        for a in [fgsm, pgd] {
            let t = a.transfer.as_ref().expect("transfer");
            assert!(
                t.test_digits >= 500 && t.test_digits <= a.test_digits,
                "{name}"
            );
            assert_eq!(t.accuracy.len(), a.epsilons.len());
        }
        let square = r
            .attacks
            .iter()
            .find(|a| a.name.starts_with("square"))
            .expect("square");
        assert!(square.test_digits >= worst_digits);
        assert!(square.settings.as_ref().unwrap().queries >= 1000);
        let worst = by_name("worst").expect("worst case");
        assert_eq!(worst.test_digits, worst_digits, "{name}");
        assert_eq!(worst.of.as_ref().unwrap().len(), r.attacks.len() - 1);
        for a in &r.attacks {
            // Every attack states the loss it ran (not null for "the method's default").
            if let Some(s) = &a.settings {
                assert_eq!(s.loss, Some(s.loss()), "{name} {}: loss as run", a.name);
            }
            assert_eq!(a.epsilons.len(), a.white_box_accuracy.len());
            assert!(a.white_box_accuracy.iter().all(|v| (0.0..=1.0).contains(v)));
            // The worst case is measured on a prefix of every attack's digits, so it can be
            // above an attack's accuracy only by the sampling difference of that prefix.
            if a.test_digits == worst.test_digits {
                for (w, v) in worst.white_box_accuracy.iter().zip(&a.white_box_accuracy) {
                    assert!(w <= v, "{name}: worst {w} above {} {v}", a.name);
                }
            }
        }
        assert_eq!(r.diagnostics.len(), 4, "{name}");
        assert!(r.diagnostics.iter().all(|d| d.holds.is_some()), "{name}");
    }
}

/// The stated FGSM and PGD-40 white-box accuracies (10,000 digits) agree with a fresh run
/// on the first 400 digits within sampling error (three standard errors plus one point),
/// and PGD-40 leaves LeNet5-ReLU at most 5 % at ε = 0.1: a weak PGD is a bug.
#[test]
fn stated_robust_accuracies_reproduce_on_a_slice() {
    let Some(dir) = mnist_dir() else { return };
    let test = Dataset::load_mnist(&dir, Split::Test).unwrap();
    let slice = test.subset(&(0..400).collect::<Vec<_>>());
    for name in [
        "lenet5-relu",
        "lenet5-splash",
        "lenet5-relu-adv",
        "lenet5-splash-adv",
    ] {
        let r = report(name);
        let (mut model, _) =
            weights::load_file(&models_dir().join(format!("{name}.safetensors"))).unwrap();
        for attack in ["fgsm", "pgd-40"] {
            let stated = r.attacks.iter().find(|a| a.name == attack).unwrap();
            let spec: AttackSpec = attack.parse().unwrap();
            let spec = AttackSpec {
                seed: stated.settings.as_ref().unwrap().seed,
                ..spec
            };
            let flags = robust_dataset(
                &mut model,
                None,
                &slice,
                &spec,
                &stated.epsilons,
                &mut |_, _| {},
            )
            .unwrap();
            let measured = fractions(&flags.robust);
            for ((e, s), m) in stated
                .epsilons
                .iter()
                .zip(&stated.white_box_accuracy)
                .zip(&measured)
            {
                let se = (s * (1.0 - s) / 400.0).sqrt();
                eprintln!("{name} {attack} ε={e}: stated {s:.4}, first 400 digits {m:.4}");
                assert!(
                    (s - m).abs() <= 3.0 * se + 0.01,
                    "{name} {attack} ε={e}: stated {s}, measured {m}"
                );
                if name == "lenet5-relu" && attack == "pgd-40" && *e == 0.1 {
                    assert!(*m <= 0.05, "PGD-40 leaves {m} of LeNet5-ReLU at ε = 0.1");
                }
                // Adversarial training worked: PGD-40 leaves most digits at ε = 0.1.
                if name.ends_with("-adv") && attack == "pgd-40" && *e == 0.1 {
                    assert!(*m >= 0.9, "PGD-40 leaves only {m} of {name} at ε = 0.1");
                }
            }
        }
    }
}

/// The ε = 0.3 pair's reports hold what the robustness claim rests on: APGD-CE on all
/// 10,000 test digits, targeted APGD-DLR, Square with 5,000 queries and PGD-40 with
/// restarts on at least the first 1,000, ε from 0.05 to 0.4, the worst case over all of
/// them, and five masking checks (the fifth: Square does not beat APGD).
#[test]
fn the_robust_pairs_reports_hold_autoattacks_attacks() {
    for name in ROBUST_03 {
        let r = report(name);
        let by_name = |n: &str| {
            r.attacks
                .iter()
                .find(|a| a.name == n)
                .unwrap_or_else(|| panic!("{name}: no {n}"))
        };
        assert_eq!(by_name("apgd-ce-100").test_digits, 10_000, "{name}");
        for n in ["apgd-dlr-t9-100", "square-5000", "pgd-40-r5-margin"] {
            assert!(by_name(n).test_digits >= 1_000, "{name} {n}");
        }
        let worst = by_name("worst");
        assert!(worst.test_digits >= 1_000);
        assert_eq!(worst.of.as_ref().unwrap().len(), r.attacks.len() - 1);
        for a in &r.attacks {
            assert_eq!(a.epsilons.first(), Some(&0.05), "{name} {}", a.name);
            assert_eq!(a.epsilons.last(), Some(&0.4), "{name} {}", a.name);
            assert!(a.epsilons.contains(&0.3));
            if a.test_digits == worst.test_digits {
                for (w, v) in worst.white_box_accuracy.iter().zip(&a.white_box_accuracy) {
                    assert!(w <= v, "{name}: worst {w} above {} {v}", a.name);
                }
            }
        }
        assert_eq!(r.diagnostics.len(), 5, "{name}");
        assert!(r
            .diagnostics
            .iter()
            .any(|d| d.check.contains("does not beat APGD")));
        assert!(r.diagnostics.iter().all(|d| d.holds.is_some()), "{name}");
    }
}

/// APGD-CE's stated accuracy at ε = 0.3 (10,000 digits) agrees with a fresh run on the
/// first 300 digits within sampling error.
#[test]
fn the_robust_pairs_apgd_accuracy_reproduces_on_a_slice() {
    let Some(dir) = mnist_dir() else { return };
    let test = Dataset::load_mnist(&dir, Split::Test).unwrap();
    let slice = test.subset(&(0..300).collect::<Vec<_>>());
    for name in ROBUST_03 {
        let r = report(name);
        let stated = r.attacks.iter().find(|a| a.name == "apgd-ce-100").unwrap();
        let k = stated.epsilons.iter().position(|&e| e == 0.3).unwrap();
        let s = stated.white_box_accuracy[k];
        let (mut model, _) =
            weights::load_file(&models_dir().join(format!("{name}.safetensors"))).unwrap();
        let spec = stated.settings.clone().unwrap();
        let m = fractions(
            &robust_dataset(&mut model, None, &slice, &spec, &[0.3], &mut |_, _| {})
                .unwrap()
                .robust,
        )[0];
        let se = (s * (1.0 - s) / 300.0).sqrt();
        eprintln!("{name} apgd-ce-100 at ε = 0.3: stated {s:.4}, first 300 digits {m:.4}");
        assert!(
            (s - m).abs() <= 3.0 * se + 0.01,
            "{name}: stated {s}, measured {m}"
        );
    }
}
