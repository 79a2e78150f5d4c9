//! FGSM, BIM, PGD and Square: the ε-ball, the pixel range, the loss direction, targeted
//! attacks, restarts, query budgets, the worst case, diagnostics and bad parameters.

use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use splash::attack::{
    attack, fgsm, square_p, AttackError, AttackSpec, Goal, Loss, Method, SquareSearch,
    SQUARE_P_INIT,
};
use splash::loss::cross_entropy;
use splash::model::{Model, ModelError, ModelSpec};
use splash::nn::Mode;
use splash::robustness::{
    breaking_point, diagnose, fractions, robust_batch, worst_case, AttackCurve, Transfer,
    DIAGNOSTIC_SLACK,
};
use splash::train::argmax_rows;
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
    cross_entropy(m.forward(x, Mode::Eval).unwrap().view(), y).mean()
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

fn run(m: &mut Model, x: &Array4<f32>, goal: Goal, spec: &AttackSpec) -> Array4<f32> {
    attack(m, x, goal, spec).unwrap().adversarial
}

fn full_budget(spec: AttackSpec) -> AttackSpec {
    AttackSpec {
        early_stop: false,
        ..spec
    }
}

#[test]
fn bim_and_pgd_stay_within_epsilon_and_beat_fgsm_on_loss() {
    let x = digits(4, 4);
    let y = [2, 7, 1, 8];
    for mut m in models() {
        let eps = 0.1;
        let one = fgsm(&mut m, &x, Goal::Untargeted(&y), eps).unwrap();
        let many = run(
            &mut m,
            &x,
            Goal::Untargeted(&y),
            &full_budget(AttackSpec::bim(eps, 10)),
        );
        let rand_start = run(
            &mut m,
            &x,
            Goal::Untargeted(&y),
            &full_budget(AttackSpec::pgd(eps, 10, 1)),
        );
        for adv in [&many, &rand_start] {
            assert!(max_abs_diff(adv, &x) <= eps + 1e-6);
            assert!(adv.iter().all(|&v| (0.0..=1.0).contains(&v)));
        }
        assert!(mean_loss(&mut m, &many, &y) >= mean_loss(&mut m, &one, &y) * 0.9);
        assert!(mean_loss(&mut m, &rand_start, &y) > mean_loss(&mut m, &x, &y));
    }
}

/// z_y − max_{j≠y} z_j per image.
fn true_class_margin(m: &mut Model, x: &Array4<f32>, y: &[usize]) -> Vec<f32> {
    let z = m.forward(x, Mode::Eval).unwrap();
    y.iter()
        .enumerate()
        .map(|(i, &c)| {
            let other = (0..10)
                .filter(|&j| j != c)
                .map(|j| z[[i, j]])
                .fold(f32::MIN, f32::max);
            z[[i, c]] - other
        })
        .collect()
}

#[test]
fn margin_and_cross_entropy_losses_both_lower_the_true_class_margin() {
    let x = digits(6, 11);
    let y = [0, 1, 2, 3, 4, 5];
    for mut m in models() {
        let before: f32 = true_class_margin(&mut m, &x, &y).iter().sum();
        for loss in [Loss::Ce, Loss::Margin] {
            let spec = full_budget(AttackSpec {
                loss: Some(loss),
                ..AttackSpec::pgd(0.05, 10, 1)
            });
            let adv = run(&mut m, &x, Goal::Untargeted(&y), &spec);
            let after: f32 = true_class_margin(&mut m, &adv, &y).iter().sum();
            assert!(after < before, "{loss:?}: margin {before} → {after}");
        }
    }
}

#[test]
fn the_fooled_flag_describes_the_returned_image() {
    let x = digits(8, 12);
    let y = [3, 3, 3, 3, 7, 7, 7, 7];
    for mut m in models() {
        for spec in [
            AttackSpec::fgsm(0.2),
            AttackSpec::pgd(0.2, 5, 2),
            full_budget(AttackSpec::pgd(0.2, 5, 2)),
            AttackSpec::square(0.2, 30),
        ] {
            let o = attack(&mut m, &x, Goal::Untargeted(&y), &spec).unwrap();
            let top = argmax_rows(&m.forward(&o.adversarial, Mode::Eval).unwrap());
            for i in 0..8 {
                assert_eq!(o.fooled[i], top[i] != y[i], "{} image {i}", spec.name());
            }
            assert!(max_abs_diff(&o.adversarial, &x) <= 0.2 + 1e-6);
        }
    }
}

#[test]
fn pgd_with_restarts_is_never_weaker_than_one_restart_with_the_same_seed() {
    let x = digits(16, 13);
    let y: Vec<usize> = (0..16).map(|i| i % 10).collect();
    for mut m in models() {
        for eps in [0.02, 0.05] {
            let one = attack(
                &mut m,
                &x,
                Goal::Untargeted(&y),
                &AttackSpec::pgd(eps, 5, 1),
            )
            .unwrap();
            let five = attack(
                &mut m,
                &x,
                Goal::Untargeted(&y),
                &AttackSpec::pgd(eps, 5, 5),
            )
            .unwrap();
            for i in 0..16 {
                assert!(five.fooled[i] || !one.fooled[i], "image {i} at ε = {eps}");
            }
            assert!(five.queries.iter().zip(&one.queries).all(|(f, o)| f >= o));
        }
    }
}

#[test]
fn square_stays_within_epsilon_and_its_query_budget() {
    let x = digits(6, 14);
    let y = [1, 2, 3, 4, 5, 6];
    for mut m in models() {
        for (eps, queries, restarts) in [(0.0, 5, 1), (0.05, 40, 1), (0.3, 25, 3)] {
            let spec = AttackSpec {
                restarts,
                ..AttackSpec::square(eps, queries)
            };
            for goal in [Goal::Untargeted(&y), Goal::Targeted(&[0, 0, 0, 0, 0, 0])] {
                let o = attack(&mut m, &x, goal, &spec).unwrap();
                assert!(max_abs_diff(&o.adversarial, &x) <= eps + 1e-6);
                assert!(o.adversarial.iter().all(|&v| (0.0..=1.0).contains(&v)));
                assert!(
                    o.queries.iter().all(|&q| q >= 1 && q <= queries * restarts),
                    "{:?}",
                    o.queries
                );
            }
        }
    }
}

#[test]
fn square_objective_never_gets_worse_between_accepted_steps() {
    let x = digits(5, 15);
    let y = [9, 8, 7, 6, 5];
    for mut m in models() {
        let spec = full_budget(AttackSpec::square(0.05, 60));
        let mut search = SquareSearch::new(&mut m, &x, Goal::Untargeted(&y), &spec).unwrap();
        let mut last = search.objective().to_vec();
        let mut improved = false;
        while !search.finished() {
            search.step(&mut m);
            if search.finished() {
                break;
            }
            for (now, before) in search.objective().iter().zip(&last) {
                assert!(now >= before, "objective went {before} → {now}");
                improved |= now > before;
            }
            last = search.objective().to_vec();
        }
        assert!(improved, "the search never accepted a patch");
    }
}

#[test]
fn square_and_pgd_repeat_with_the_same_seed_and_differ_with_another() {
    let x = digits(4, 16);
    let y = [0, 1, 2, 3];
    let mut m = models().remove(0);
    for spec in [
        full_budget(AttackSpec::square(0.1, 30)),
        full_budget(AttackSpec::pgd(0.1, 3, 1)),
    ] {
        let a = run(&mut m, &x, Goal::Untargeted(&y), &spec);
        let b = run(&mut m, &x, Goal::Untargeted(&y), &spec);
        let c = run(
            &mut m,
            &x,
            Goal::Untargeted(&y),
            &AttackSpec {
                seed: 9,
                ..spec.clone()
            },
        );
        assert_eq!(a, b, "{}", spec.name());
        assert_ne!(a, c, "{}", spec.name());
    }
}

#[test]
fn square_patch_schedule_halves_as_the_budget_is_spent() {
    assert_eq!(square_p(0.8, 0, 10_000), 0.8);
    assert_eq!(square_p(0.8, 11, 10_000), 0.4);
    assert_eq!(square_p(0.8, 100, 1_000), 0.05); // 1,000 of 10,000: four halvings
    assert!(square_p(0.8, 9_999, 10_000) < 0.002);
}

#[test]
fn the_worst_case_is_never_above_any_single_attack() {
    let x = digits(12, 17);
    let y: Vec<usize> = (0..12).map(|i| (i * 7) % 10).collect();
    let mut m = models().remove(1);
    let eps = [0.02, 0.05, 0.1];
    let specs = [
        AttackSpec::fgsm(0.0),
        AttackSpec::pgd(0.0, 5, 2),
        AttackSpec::square(0.0, 20),
    ];
    let flags: Vec<Vec<Vec<bool>>> = specs
        .iter()
        .map(|s| robust_batch(&mut m, None, &x, &y, s, &eps).unwrap().robust)
        .collect();
    let each: Vec<&[Vec<bool>]> = flags.iter().map(|f| f.as_slice()).collect();
    let worst = fractions(&worst_case(&each));
    for f in &flags {
        for (w, a) in worst.iter().zip(fractions(f)) {
            assert!(*w <= a);
        }
    }
}

fn curve(
    name: &str,
    spec: Option<AttackSpec>,
    acc: &[f32],
    transfer: Option<&[f32]>,
) -> AttackCurve {
    AttackCurve {
        name: name.into(),
        description: String::new(),
        settings: spec,
        of: None,
        epsilons: vec![0.1, 0.2, 0.3],
        white_box_accuracy: acc.to_vec(),
        mean_queries: None,
        transfer: transfer.map(|t| Transfer {
            source: "twin".into(),
            accuracy: t.to_vec(),
            test_digits: 1000,
        }),
        test_digits: 1000,
        seconds: 0.0,
    }
}

#[test]
fn diagnostics_flag_each_sign_of_gradient_masking() {
    let honest = [
        curve("fgsm", Some(AttackSpec::fgsm(0.0)), &[0.5, 0.2, 0.1], None),
        curve(
            "pgd-40",
            Some(AttackSpec::pgd(0.0, 40, 1)),
            &[0.1, 0.0, 0.0],
            Some(&[0.6, 0.3, 0.1]),
        ),
        curve(
            "square-1000",
            Some(AttackSpec::square(0.0, 1000)),
            &[0.15, 0.01, 0.0],
            None,
        ),
    ];
    let d = diagnose(&honest);
    assert_eq!(d.len(), 4);
    assert!(d.iter().all(|c| c.holds == Some(true)), "{d:#?}");
    // A masked model: PGD weaker than FGSM, transfer stronger, Square stronger, no fall.
    let masked = [
        curve("fgsm", Some(AttackSpec::fgsm(0.0)), &[0.5, 0.4, 0.3], None),
        curve(
            "pgd-40",
            Some(AttackSpec::pgd(0.0, 40, 1)),
            &[0.6, 0.5, 0.4],
            Some(&[0.3, 0.2, 0.1]),
        ),
        curve(
            "square-1000",
            Some(AttackSpec::square(0.0, 1000)),
            &[0.2, 0.1, 0.05],
            None,
        ),
    ];
    let d = diagnose(&masked);
    assert!(d.iter().all(|c| c.holds == Some(false)), "{d:#?}");
    // Within the slack still holds.
    let close = [
        curve("fgsm", Some(AttackSpec::fgsm(0.0)), &[0.1, 0.0, 0.0], None),
        curve(
            "pgd-40",
            Some(AttackSpec::pgd(0.0, 40, 1)),
            &[0.1 + DIAGNOSTIC_SLACK / 2.0, 0.0, 0.0],
            None,
        ),
    ];
    assert_eq!(diagnose(&close)[0].holds, Some(true));
    // Nothing measured: no verdict.
    assert!(diagnose(&[]).iter().all(|c| c.holds.is_none()));
}

#[test]
fn attack_names_read_back_and_describe_the_settings() {
    for name in [
        "fgsm",
        "bim-10",
        "pgd-40",
        "pgd-40-r5-margin",
        "square-1000",
        "square-500-r2-ce",
    ] {
        let spec: AttackSpec = name.parse().unwrap();
        assert_eq!(spec.name(), name);
    }
    let s: AttackSpec = "pgd-100-r10".parse().unwrap();
    assert_eq!(
        (s.method, s.steps, s.restarts, s.loss()),
        (Method::Pgd, 100, 10, Loss::Ce)
    );
    assert_eq!(s.at(0.1).step_size(), 2.5 * 0.1 / 100.0);
    assert_eq!(AttackSpec::fgsm(0.3).step_size(), 0.3);
    assert_eq!(AttackSpec::square(0.1, 1000).loss(), Loss::Margin);
    let page_square: AttackSpec =
        serde_json::from_str(r#"{"method":"square","queries":300}"#).unwrap();
    assert_eq!(page_square.name(), "square-300");
    for bad in [
        "",
        "pgd",
        "pgd-x",
        "fgsm-r2",
        "bim-10-r3",
        "square-0",
        "pgd-40-r0",
        "pgd-1001",
        "cw-10",
        "pgd-40-l2",
    ] {
        assert!(bad.parse::<AttackSpec>().is_err(), "{bad:?} parsed");
    }
    // JSON, as the page sends it.
    let j: AttackSpec =
        serde_json::from_str(r#"{"method":"square","epsilon":0.2,"queries":300}"#).unwrap();
    assert_eq!((j.method, j.epsilon, j.queries), (Method::Square, 0.2, 300));
    assert!(serde_json::from_str::<AttackSpec>(r#"{"method":"pgd","epsilom":0.2}"#).is_err());
}

/// Every name reads back to a spec that writes the same name, and every spec of a grid of
/// distinct attacks has a name of its own that reads back to an equal spec.
#[test]
fn every_attack_name_round_trips_and_names_are_unique() {
    let mut specs = vec![AttackSpec::fgsm(0.1)];
    for steps in [1, 10, 40] {
        specs.push(AttackSpec::bim(0.1, steps));
        for restarts in [1, 5] {
            for loss in [None, Some(Loss::Margin), Some(Loss::Dlr)] {
                specs.push(AttackSpec {
                    loss,
                    ..AttackSpec::pgd(0.1, steps, restarts)
                });
            }
        }
        specs.push(AttackSpec {
            step_size: Some(0.0375),
            ..AttackSpec::pgd(0.1, steps, 1)
        });
        specs.push(AttackSpec {
            step_size: Some(0.0375),
            ..AttackSpec::bim(0.1, steps)
        });
        for loss in [Loss::Ce, Loss::Dlr] {
            for targets in [0, 1, 9] {
                for restarts in [1, 3] {
                    specs.push(AttackSpec {
                        restarts,
                        ..AttackSpec::apgd(0.1, steps, loss, targets)
                    });
                }
            }
        }
    }
    for queries in [100, 5000] {
        for p_init in [SQUARE_P_INIT, 0.3] {
            for loss in [None, Some(Loss::Ce), Some(Loss::Dlr)] {
                specs.push(AttackSpec {
                    p_init,
                    loss,
                    restarts: 2,
                    ..AttackSpec::square(0.1, queries)
                });
            }
        }
    }
    // Adversarial training's FGSM with a random start: PGD-1 with a step of 1.25·ε.
    let fgsm_rs = splash::train::Adversarial::fgsm_rs(0.1).attack;
    specs.push(AttackSpec {
        early_stop: true,
        ..fgsm_rs
    });
    let mut names = std::collections::HashSet::new();
    for spec in &specs {
        spec.validate().unwrap();
        let name = spec.name();
        let back: AttackSpec = name
            .parse()
            .unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
        assert_eq!(back.name(), name);
        // Equal as an attack: the same settings once the method's own loss is filled in.
        let filled = |s: &AttackSpec| AttackSpec {
            loss: Some(s.loss()),
            ..s.clone()
        };
        assert_eq!(filled(&back), filled(spec), "{name}");
        assert!(names.insert(name.clone()), "two attacks are named {name}");
    }
    assert_eq!(names.len(), specs.len());
    assert_ne!(
        AttackSpec::pgd(0.1, 1, 1).name(),
        splash::train::Adversarial::fgsm_rs(0.1).attack.name()
    );
}

#[test]
fn attack_names_are_read_in_any_letter_case_and_each_option_once() {
    for (text, name, method) in [
        ("PGD-10", "pgd-10", Method::Pgd),
        ("Pgd-10-R5-Margin", "pgd-10-r5-margin", Method::Pgd),
        ("SQUARE-1000", "square-1000", Method::Square),
        ("BIM-7", "bim-7", Method::Bim),
        ("FGSM", "fgsm", Method::Fgsm),
        ("APGD-DLR-T9-100", "apgd-dlr-t9-100", Method::Apgd),
        (" apgd-ce-100 ", "apgd-ce-100", Method::Apgd),
    ] {
        let s: AttackSpec = text.parse().unwrap();
        assert_eq!((s.name().as_str(), s.method), (name, method), "{text}");
    }
    let s: AttackSpec = "apgd-dlr-t9-100".parse().unwrap();
    assert_eq!(
        (s.steps, s.targets, s.loss(), s.restarts),
        (100, 9, Loss::Dlr, 1)
    );
    for bad in [
        "pgd-5-r2-r3",
        "pgd-5-margin-ce",
        "square-100-p0.5-p0.3",
        "apgd-100",
        "apgd-margin-100",
        "apgd-ce-100-margin",
        "apgd-ce-t10-100",
        "apgd-ce-100-step0.1",
        "fgsm-step0.1",
        "pgd-5-step-1",
        "pgd-5-tx",
    ] {
        assert!(bad.parse::<AttackSpec>().is_err(), "{bad:?} parsed");
    }
}

#[test]
fn attack_spec_rejects_bad_values_with_clear_errors() {
    let base = AttackSpec::pgd(0.1, 10, 1);
    let cases = [
        (
            AttackSpec {
                epsilon: f32::NAN,
                ..base.clone()
            },
            "epsilon",
        ),
        (
            AttackSpec {
                epsilon: -0.1,
                ..base.clone()
            },
            "epsilon",
        ),
        (
            AttackSpec {
                epsilon: 1.5,
                ..base.clone()
            },
            "epsilon",
        ),
        (
            AttackSpec {
                steps: 0,
                ..base.clone()
            },
            "steps",
        ),
        (
            AttackSpec {
                steps: 1_000_000,
                ..base.clone()
            },
            "steps",
        ),
        (
            AttackSpec {
                restarts: 0,
                ..base.clone()
            },
            "restarts",
        ),
        (
            AttackSpec {
                restarts: 101,
                ..base.clone()
            },
            "restarts",
        ),
        (
            AttackSpec {
                restarts: 2,
                ..AttackSpec::bim(0.1, 5)
            },
            "restarts",
        ),
        (
            AttackSpec {
                queries: 0,
                ..AttackSpec::square(0.1, 10)
            },
            "queries",
        ),
        (
            AttackSpec {
                queries: 10_000_000,
                ..AttackSpec::square(0.1, 10)
            },
            "queries",
        ),
        (
            AttackSpec {
                p_init: 0.0,
                ..AttackSpec::square(0.1, 10)
            },
            "p_init",
        ),
        (
            AttackSpec {
                step_size: Some(f32::INFINITY),
                ..base.clone()
            },
            "step size",
        ),
        (
            AttackSpec {
                step_size: Some(-0.01),
                ..base.clone()
            },
            "step size",
        ),
    ];
    let mut m = models().remove(0);
    let x = digits(1, 3);
    for (spec, word) in cases {
        let e = spec.validate().unwrap_err();
        assert!(e.to_string().contains(word), "{e} lacks {word}");
        assert_eq!(
            attack(&mut m, &x, Goal::Untargeted(&[1]), &spec)
                .unwrap_err()
                .to_string(),
            e.to_string()
        );
    }
    assert!(base.validate().is_ok());
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
    let zero_step = AttackSpec {
        step_size: Some(0.0),
        ..AttackSpec::bim(0.1, 5)
    };
    assert!(matches!(
        attack(&mut m, &x, Goal::Untargeted(&y), &zero_step),
        Err(AttackError::StepSize(_))
    ));
    assert!(matches!(
        attack(&mut m, &x, Goal::Untargeted(&y), &AttackSpec::bim(0.1, 0)),
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

/// A vertical bar, which the committed LeNet5 models read as a 1.
fn bar_one() -> Array4<f32> {
    Array4::from_shape_fn((1, 1, 28, 28), |(_, _, y, x)| {
        if (5..23).contains(&y) && (x == 13 || x == 14) {
            1.0
        } else {
            0.0
        }
    })
}

#[test]
fn the_breaking_point_is_bracketed_by_two_direct_checks() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/lenet5-relu.safetensors");
    let (mut m, _) = splash::weights::load_file(&path).unwrap();
    let x = bar_one();
    for spec in [
        AttackSpec::fgsm(0.0),
        AttackSpec::pgd(0.0, 10, 1),
        AttackSpec::square(0.0, 200),
    ] {
        let b = breaking_point(&mut m, &x, 1, &spec, 0.5, 0.01).unwrap();
        let hi = b
            .breaks_at
            .unwrap_or_else(|| panic!("{} never breaks the bar", spec.name()));
        assert!(hi - b.holds_at <= 0.01 + 1e-6 && hi > b.holds_at, "{b:?}");
        let fooled = |m: &mut Model, eps: f32| {
            attack(m, &x, Goal::Untargeted(&[1]), &spec.at(eps))
                .unwrap()
                .fooled[0]
        };
        assert!(fooled(&mut m, hi), "{}: not fooled at {hi}", spec.name());
        assert!(
            !fooled(&mut m, b.holds_at),
            "{}: fooled at {}",
            spec.name(),
            b.holds_at
        );
    }
    // A wrong label is broken from the start; a budget of 0 never breaks a right one.
    assert_eq!(
        breaking_point(&mut m, &x, 7, &AttackSpec::fgsm(0.0), 0.5, 0.01)
            .unwrap()
            .breaks_at,
        Some(0.0)
    );
    let none = breaking_point(&mut m, &x, 1, &AttackSpec::fgsm(0.0), 0.0, 0.01).unwrap();
    assert_eq!(none.breaks_at, None);
    // Bad settings are errors.
    assert!(breaking_point(&mut m, &x, 1, &AttackSpec::fgsm(0.0), 2.0, 0.01).is_err());
    assert!(breaking_point(&mut m, &x, 1, &AttackSpec::fgsm(0.0), 0.5, 0.0).is_err());
    assert!(breaking_point(&mut m, &x, 12, &AttackSpec::fgsm(0.0), 0.5, 0.01).is_err());
    let two = ndarray::concatenate(ndarray::Axis(0), &[x.view(), x.view()]).unwrap();
    assert!(breaking_point(&mut m, &two, 1, &AttackSpec::fgsm(0.0), 0.5, 0.01).is_err());
}

#[test]
fn perturbation_trace_is_zero_for_no_change_and_grows_with_the_change() {
    use splash::model::{Model, ModelSpec};
    use splash::ActivationKind;
    let mut m = Model::new(ModelSpec::lenet5(ActivationKind::Splash), 3);
    let x = ndarray::Array4::from_shape_fn((1, 1, 28, 28), |(_, _, r, c)| {
        ((r * 3 + c) % 11) as f32 / 10.0
    });
    let same = m.perturbation_trace(&x, &x).unwrap();
    assert_eq!(same.len(), m.activation_layers().len() + 1);
    assert!(same.iter().all(|&v| v == 0.0), "{same:?}");
    let nudge = |d: f32| x.mapv(|v| (v + d).clamp(0.0, 1.0));
    let small = m.perturbation_trace(&x, &nudge(0.01)).unwrap();
    let large = m.perturbation_trace(&x, &nudge(0.2)).unwrap();
    assert!(
        small.iter().zip(&large).all(|(s, l)| l > s && *s > 0.0),
        "{small:?} {large:?}"
    );
    // Two images, or a bad one, are errors.
    let two = ndarray::Array4::zeros((2, 1, 28, 28));
    assert!(m.perturbation_trace(&x, &two).is_err());
    assert!(m.perturbation_trace(&x, &x.mapv(|_| f32::NAN)).is_err());
}

#[test]
fn splash_coefficients_can_be_bent_within_bounds_and_change_the_curve() {
    use splash::model::{Model, ModelSpec};
    use splash::ActivationKind;
    let mut m = Model::new(ModelSpec::lenet5(ActivationKind::Splash), 3);
    m.set_splash_coefficients(1, [0.5, 0.1, 0.0, 0.0], [1.0, 0.0, 0.0, -0.2])
        .unwrap();
    let s = m.activation_layers()[1]
        .1
        .activation()
        .as_splash()
        .unwrap()
        .clone();
    assert_eq!(s.a_plus(), [0.5, 0.1, 0.0, 0.0]);
    assert_eq!(s.a_minus(), [1.0, 0.0, 0.0, -0.2]);
    // h(−1.5) = a⁻₀·1.5 + a⁻₁·0.5 = 1.5
    assert!((m.activation_layers()[1].1.activation().value(-1.5) - 1.5).abs() < 1e-6);
    // Other layers are untouched.
    let other = m.activation_layers()[0]
        .1
        .activation()
        .as_splash()
        .unwrap()
        .clone();
    assert_eq!(other.a_plus(), [1.0, 0.0, 0.0, 0.0]);
    assert!(m.set_splash_coefficients(9, [0.0; 4], [0.0; 4]).is_err());
    assert!(m
        .set_splash_coefficients(0, [f32::NAN, 0.0, 0.0, 0.0], [0.0; 4])
        .is_err());
    assert!(m
        .set_splash_coefficients(0, [11.0, 0.0, 0.0, 0.0], [0.0; 4])
        .is_err());
    let mut relu = Model::new(ModelSpec::lenet5(ActivationKind::Relu), 3);
    assert!(relu
        .set_splash_coefficients(0, [1.0, 0.0, 0.0, 0.0], [0.0; 4])
        .unwrap_err()
        .contains("not a SPLASH layer"));
}
