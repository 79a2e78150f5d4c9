//! FGSM, BIM and PGD: the ε-ball, the pixel range, the loss direction, targeted attacks and
//! bad parameters.

use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use splash::attack::{bim, fgsm, pgd, AttackError, Goal};
use splash::loss::cross_entropy;
use splash::model::{Model, ModelError, ModelSpec};
use splash::nn::Mode;
use splash::ActivationKind;

fn digits(n: usize, seed: u64) -> Array4<f32> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    Array4::from_shape_fn((n, 1, 28, 28), |(_, _, y, x)| {
        // A blurry stroke plus noise, so pixels sit both at the bounds and inside.
        let d = ((y as f32 - 14.0).powi(2) + (x as f32 - 10.0 - y as f32 / 4.0).powi(2)).sqrt();
        ((1.2 - d / 6.0) + r.gen_range(-0.1..0.1)).clamp(0.0, 1.0)
    })
}

fn models() -> Vec<Model> {
    ActivationKind::DEMO
        .into_iter()
        .map(|a| Model::new(ModelSpec::lenet5(a), 7))
        .collect()
}

fn max_abs_diff(a: &Array4<f32>, b: &Array4<f32>) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn mean_loss(m: &mut Model, x: &Array4<f32>, y: &[usize]) -> f32 {
    cross_entropy(m.forward(x, Mode::Eval).view(), y).mean()
}

#[test]
fn fgsm_stays_within_epsilon_and_pixel_range() {
    let x = digits(4, 1);
    let y = [3, 1, 4, 1];
    for mut m in models() {
        for eps in [0.0, 0.05, 0.1, 0.3, 0.5] {
            let adv = fgsm(&mut m, &x, Goal::Untargeted(&y), eps).unwrap();
            assert!(max_abs_diff(&adv, &x) <= eps + 1e-6);
            assert!(adv.iter().all(|&v| (0.0..=1.0).contains(&v)));
        }
        let adv = fgsm(&mut m, &x, Goal::Untargeted(&y), 0.1).unwrap();
        // Pixels that can move, move by exactly ε.
        let moved = adv
            .iter()
            .zip(&x)
            .filter(|(a, b)| ((*a - *b).abs() - 0.1).abs() < 1e-6)
            .count();
        assert!(moved > x.len() / 4, "only {moved} pixels moved by ε");
    }
}

#[test]
fn fgsm_does_not_lower_the_loss_for_a_small_epsilon() {
    let x = digits(8, 2);
    let y = [0, 1, 2, 3, 4, 5, 6, 7];
    for mut m in models() {
        let before = mean_loss(&mut m, &x, &y);
        let adv = fgsm(&mut m, &x, Goal::Untargeted(&y), 0.01).unwrap();
        let after = mean_loss(&mut m, &adv, &y);
        assert!(after > before, "loss {before} → {after}");
    }
}

#[test]
fn targeted_fgsm_raises_the_target_probability() {
    let x = digits(6, 3);
    let t = [9, 8, 7, 6, 5, 4];
    for mut m in models() {
        let p_before = m.predict(&x).unwrap();
        let adv = fgsm(&mut m, &x, Goal::Targeted(&t), 0.02).unwrap();
        let p_after = m.predict(&adv).unwrap();
        let before: f32 = t.iter().enumerate().map(|(i, &c)| p_before[[i, c]]).sum();
        let after: f32 = t.iter().enumerate().map(|(i, &c)| p_after[[i, c]]).sum();
        assert!(after > before, "target probability {before} → {after}");
    }
}

#[test]
fn bim_and_pgd_stay_within_epsilon_and_beat_fgsm_on_loss() {
    let x = digits(4, 4);
    let y = [2, 7, 1, 8];
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for mut m in models() {
        let eps = 0.1;
        let one = fgsm(&mut m, &x, Goal::Untargeted(&y), eps).unwrap();
        let many = bim(&mut m, &x, Goal::Untargeted(&y), eps, 0.02, 10).unwrap();
        let rand_start = pgd(&mut m, &x, Goal::Untargeted(&y), eps, 0.02, 10, &mut rng).unwrap();
        for adv in [&many, &rand_start] {
            assert!(max_abs_diff(adv, &x) <= eps + 1e-6);
            assert!(adv.iter().all(|&v| (0.0..=1.0).contains(&v)));
        }
        assert!(mean_loss(&mut m, &many, &y) >= mean_loss(&mut m, &one, &y) * 0.9);
        assert!(mean_loss(&mut m, &rand_start, &y) > mean_loss(&mut m, &x, &y));
    }
}

#[test]
fn attacks_reject_bad_parameters_and_inputs() {
    let mut m = Model::new(ModelSpec::lenet5(ActivationKind::Splash), 1);
    let x = digits(2, 6);
    let y = [1, 2];
    for eps in [-0.1, 1.5, f32::NAN] {
        assert!(matches!(
            fgsm(&mut m, &x, Goal::Untargeted(&y), eps),
            Err(AttackError::Epsilon(_))
        ));
    }
    assert!(matches!(
        bim(&mut m, &x, Goal::Untargeted(&y), 0.1, 0.0, 5),
        Err(AttackError::StepSize(_))
    ));
    assert!(matches!(
        bim(&mut m, &x, Goal::Untargeted(&y), 0.1, 0.01, 0),
        Err(AttackError::Steps(0))
    ));
    assert!(matches!(
        fgsm(&mut m, &x, Goal::Targeted(&[1, 10]), 0.1),
        Err(AttackError::Input(ModelError::BadClass(10)))
    ));
    assert!(matches!(
        fgsm(&mut m, &x, Goal::Untargeted(&[1]), 0.1),
        Err(AttackError::Input(ModelError::LabelCount { .. }))
    ));
    let mut nan = x.clone();
    nan[[1, 0, 3, 3]] = f32::NAN;
    assert!(matches!(
        fgsm(&mut m, &nan, Goal::Untargeted(&y), 0.1),
        Err(AttackError::Input(ModelError::NotFinite { .. }))
    ));
    let wrong = Array4::<f32>::zeros((1, 1, 27, 28));
    assert!(matches!(m.predict(&wrong), Err(ModelError::BadShape(_))));
    let mut big = x.clone();
    big[[0, 0, 0, 0]] = 1.5;
    assert!(matches!(
        m.predict(&big),
        Err(ModelError::OutOfRange { .. })
    ));
}
