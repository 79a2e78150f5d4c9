//! APGD (Croce & Hein 2020): its checkpoint schedule, its DLR loss, its bounds, and its
//! strength on the committed adversarially trained LeNet5 pair.

mod common;

use ndarray::{Array2, Array4};
use rand::Rng;
use splash::attack::{apgd_checkpoints, attack, AttackSpec, Goal, Loss, Method};
use splash::data::{Dataset, Split};
use splash::model::{Model, ModelSpec};
use splash::nn::Mode;
use splash::robustness::{fractions, robust_dataset, worst_case};
use splash::weights;
use splash::ActivationKind;
use std::path::Path;

#[test]
fn the_checkpoints_follow_the_papers_schedule() {
    // w_j = ⌈p_j·100⌉ with p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99.
    assert_eq!(apgd_checkpoints(100), [22, 41, 57, 70, 80, 87, 93, 99]);
    // Intervals shrink by ⌊0.03·n⌋ down to ⌊0.06·n⌋.
    let c = apgd_checkpoints(1000);
    assert_eq!(&c[..3], &[220, 410, 570]);
    let gaps: Vec<usize> = c.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.windows(2).all(|g| g[1] <= g[0]) && gaps.iter().all(|&g| g >= 60));
    assert!(*c.last().unwrap() <= 1000);
    // Tiny runs still check (every interval at least one iteration).
    assert_eq!(apgd_checkpoints(1), [1]);
    assert_eq!(apgd_checkpoints(5), [1, 2, 3, 4, 5]);
}

fn digits(n: usize, seed: u64) -> Array4<f32> {
    let mut rng = common::rng(seed);
    Array4::from_shape_fn((n, 1, 28, 28), |_| rng.gen_range(0.0f32..1.0))
}

#[test]
fn apgd_stays_in_the_box_and_within_its_query_budget() {
    let x = digits(6, 1);
    let labels = [0, 1, 2, 3, 4, 5];
    for act in ActivationKind::DEMO {
        let mut m = Model::new(ModelSpec::lenet5(act), 3);
        for spec in [
            AttackSpec::apgd(0.1, 20, Loss::Ce, 0),
            AttackSpec::apgd(0.1, 10, Loss::Dlr, 3),
            AttackSpec {
                restarts: 2,
                early_stop: false,
                ..AttackSpec::apgd(0.05, 10, Loss::Dlr, 0)
            },
        ] {
            let o = attack(&mut m, &x, Goal::Untargeted(&labels), &spec).unwrap();
            for (a, b) in o.adversarial.iter().zip(&x) {
                assert!((a - b).abs() <= spec.epsilon + 1e-6 && (0.0..=1.0).contains(a));
            }
            for &q in &o.queries {
                assert!(
                    q >= 1 && q <= spec.query_budget(),
                    "{q} > {}",
                    spec.query_budget()
                );
            }
            let logits = m.forward(&o.adversarial, Mode::Eval).unwrap();
            for (i, &f) in o.fooled.iter().enumerate() {
                let top = splash::attack::top_class(logits.row(i).iter().copied());
                assert_eq!(
                    f,
                    top != labels[i],
                    "{}: the fooled flag of image {i}",
                    spec.name()
                );
            }
        }
    }
}

#[test]
fn apgd_repeats_with_its_seed() {
    let x = digits(4, 2);
    let labels = [3, 1, 4, 1];
    let mut m = Model::new(ModelSpec::lenet5(ActivationKind::Splash), 5);
    let spec = AttackSpec {
        early_stop: false,
        ..AttackSpec::apgd(0.2, 15, Loss::Ce, 0)
    };
    let a = attack(&mut m, &x, Goal::Untargeted(&labels), &spec).unwrap();
    let b = attack(&mut m, &x, Goal::Untargeted(&labels), &spec).unwrap();
    assert_eq!(a.adversarial, b.adversarial);
    let c = attack(
        &mut m,
        &x,
        Goal::Untargeted(&labels),
        &AttackSpec { seed: 9, ..spec },
    )
    .unwrap();
    assert_ne!(a.adversarial, c.adversarial);
}

/// APGD with the DLR loss raises it: the untargeted DLR of the returned images (computed
/// here from the logits, independently of the attack's code) is above that of the clean
/// ones. A wrong sign or term in the loss's gradient fails this.
#[test]
fn apgd_raises_the_dlr_loss() {
    let x = digits(8, 4);
    let mut m = Model::new(ModelSpec::lenet5(ActivationKind::Relu), 1);
    // The model's own answers as the labels, so that every image starts correctly classified.
    let labels: Vec<usize> = m
        .forward(&x, Mode::Eval)
        .unwrap()
        .rows()
        .into_iter()
        .map(|r| splash::attack::top_class(r.iter().copied()))
        .collect();
    let dlr = |m: &mut Model, x: &Array4<f32>| -> Vec<f32> {
        let z: Array2<f32> = m.forward(x, Mode::Eval).unwrap();
        z.rows()
            .into_iter()
            .zip(&labels)
            .map(|(r, &y)| {
                let mut s: Vec<f32> = r.to_vec();
                s.sort_by(|a, b| b.total_cmp(a));
                let other = r
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != y)
                    .map(|(_, &v)| v)
                    .fold(f32::NEG_INFINITY, f32::max);
                -(r[y] - other) / (s[0] - s[2] + 1e-12)
            })
            .collect()
    };
    let before = dlr(&mut m, &x);
    let spec = AttackSpec {
        early_stop: false,
        ..AttackSpec::apgd(0.1, 30, Loss::Dlr, 0)
    };
    let o = attack(&mut m, &x, Goal::Untargeted(&labels), &spec).unwrap();
    assert!(before.iter().all(|&v| v < 0.0), "{before:?}");
    let after = dlr(&mut m, &o.adversarial);
    for (b, a) in before.iter().zip(&after) {
        assert!(a > b, "DLR {b} -> {a}");
    }
}

#[test]
fn apgd_refuses_what_it_cannot_mean() {
    let x = digits(1, 5);
    let mut m = Model::new(ModelSpec::lenet5(ActivationKind::Relu), 1);
    // A targeted goal leaves DLR and APGD-T without the true label.
    for spec in [
        AttackSpec::apgd(0.1, 10, Loss::Dlr, 0),
        AttackSpec::apgd(0.1, 10, Loss::Ce, 3),
    ] {
        let e = attack(&mut m, &x, Goal::Targeted(&[2]), &spec).unwrap_err();
        assert!(e.to_string().contains("true labels"), "{e}");
    }
    for (spec, says) in [
        (AttackSpec::apgd(0.1, 10, Loss::Dlr, 10), "targets"),
        (
            AttackSpec {
                targets: 2,
                ..AttackSpec::pgd(0.1, 10, 1)
            },
            "targets",
        ),
        (
            AttackSpec {
                step_size: Some(0.01),
                ..AttackSpec::apgd(0.1, 10, Loss::Ce, 0)
            },
            "step size",
        ),
        (AttackSpec::apgd(0.1, 10, Loss::Margin, 0), "margin"),
        (AttackSpec::apgd(0.1, 0, Loss::Ce, 0), "steps"),
    ] {
        let e = spec.validate().unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }
    assert_eq!(
        AttackSpec::apgd(0.1, 100, Loss::Dlr, 9).query_budget(),
        9 * 101
    );
    assert_eq!(AttackSpec::apgd(0.1, 100, Loss::Ce, 0).method, Method::Apgd);
}

/// On the committed adversarially trained LeNet5 pair at ε = 0.1 and 0.2, APGD (CE and
/// targeted DLR, the worst case of the two) leaves no more digits robust than PGD-40 with
/// five restarts and the margin loss, on the same digits.
#[test]
fn apgd_is_at_least_as_strong_as_pgd_with_restarts_on_the_robust_pair() {
    let Some(dir) = common::mnist_dir() else {
        return;
    };
    let test = Dataset::load_mnist(&dir, Split::Test).unwrap();
    let digits: Vec<usize> = (0..200).collect();
    let data = test.subset(&digits);
    let eps = [0.1, 0.2];
    for name in ["lenet5-relu-adv", "lenet5-splash-adv"] {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("www/models/{name}.safetensors"));
        let (mut m, _) = weights::load_file(&path).unwrap();
        let mut run = |s: &str| {
            let spec: AttackSpec = s.parse().unwrap();
            robust_dataset(&mut m, None, &data, &spec, &eps, &mut |_, _| {})
                .unwrap()
                .robust
        };
        let pgd = fractions(&run("pgd-40-r5-margin"));
        let ce = run("apgd-ce-100");
        let t = run("apgd-dlr-t9-100");
        let apgd = fractions(&worst_case(&[&ce, &t]));
        for e in 0..eps.len() {
            assert!(
                apgd[e] <= pgd[e],
                "{name} at ε = {}: APGD leaves {} robust, PGD-40-r5-margin {}",
                eps[e],
                apgd[e],
                pgd[e]
            );
        }
        eprintln!("{name}: APGD {apgd:?}, PGD-40-r5-margin {pgd:?} at ε {eps:?}");
    }
}
