//! Training: clean and adversarial steps, determinism, resume, and clear errors for recipes
//! that cannot train and for training that diverges.
#![cfg(not(target_arch = "wasm32"))] // native: files, threads and the clock

mod common;

use splash::attack::{attack, Goal};
use splash::loss::cross_entropy;
use splash::model::ModelSpec;
use splash::nn::Mode;
use splash::train::{Adversarial, Recipe, TrainError, Trainer};
use splash::weights::{self, ModelConfig, WeightsError};
use splash::ActivationKind;

fn adversarial_recipe(epochs: usize) -> Recipe {
    Recipe {
        epochs,
        batch_size: 20,
        seed: 5,
        augment: None,
        adversarial: Some(Adversarial::pgd(0.1, 3)),
        ..Recipe::default()
    }
}

/// A clean recipe for the tiny bars data: `epochs` epochs of batch 10, no augmentation.
fn small_recipe(epochs: usize) -> Recipe {
    Recipe {
        epochs,
        batch_size: 10,
        augment: None,
        ..Recipe::default()
    }
}

fn no_progress() -> impl FnMut(usize, usize, f32) + Send {
    |_, _, _| {}
}

#[test]
fn inner_attack_stays_within_epsilon_and_warms_up() {
    let data = common::bars(20);
    let (x, y) = data.batch(&(0..20).collect::<Vec<_>>(), None);
    let mut model = splash::model::Model::new(ModelSpec::lenet5(ActivationKind::Splash), 1);
    for adv in [Adversarial::pgd(0.1, 3), Adversarial::fgsm_rs(0.1)] {
        let adv = Adversarial {
            epsilon_warmup_epochs: 2.0,
            ..adv
        };
        adv.validate().unwrap();
        for (t, eps) in [(0.0, 0.0), (1.0, 0.05), (2.0, 0.1), (5.0, 0.1)] {
            let spec = adv.at(t, 5, 3);
            assert!((spec.epsilon - eps).abs() < 1e-7, "ε at epoch {t}");
            let out = attack(&mut model, &x, Goal::Untargeted(&y), &spec).unwrap();
            let moved = (&out.adversarial - &x)
                .iter()
                .fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(moved <= eps + 1e-6, "moved {moved} > ε {eps}");
            assert!(out.adversarial.iter().all(|v| (0.0..=1.0).contains(v)));
            if eps > 0.0 {
                assert!(moved > 0.5 * eps, "the attack did not move at ε {eps}");
            }
        }
        // Fresh random starts at every step, repeated by a rerun.
        assert_ne!(adv.at(1.0, 5, 3).seed, adv.at(1.0, 5, 4).seed);
        assert_eq!(adv.at(1.0, 5, 3), adv.at(1.0, 5, 3));
    }
}

#[test]
fn adversarial_training_lowers_the_adversarial_loss() {
    let data = common::bars(40);
    let (x, y) = data.batch(&(0..40).collect::<Vec<_>>(), None);
    let recipe = adversarial_recipe(6);
    let spec = ModelSpec::lenet5(ActivationKind::Splash);
    let mut trainer = Trainer::new(spec, recipe.clone());
    // The adversarial loss, measured with one fixed attack (not the training one).
    let fixed = splash::attack::AttackSpec {
        early_stop: false,
        seed: 99,
        ..splash::attack::AttackSpec::pgd(0.1, 10, 1)
    };
    let adv_loss = |t: &mut Trainer| {
        let adv = attack(&mut t.model, &x, Goal::Untargeted(&y), &fixed)
            .unwrap()
            .adversarial;
        cross_entropy(t.model.forward(&adv, Mode::Eval).unwrap().view(), &y).mean()
    };
    let before = adv_loss(&mut trainer);
    while !trainer.finished() {
        trainer.train_epoch(&data, &mut no_progress()).unwrap();
    }
    let after = adv_loss(&mut trainer);
    assert!(
        after < 0.5 * before,
        "adversarial loss {before} → {after}: training on attacked digits did not lower it"
    );
}

#[test]
fn adversarial_training_repeats_bit_for_bit_and_resumes_mid_run() {
    let data = common::bars(40);
    let spec = ModelSpec::lenet5(ActivationKind::Splash);
    let recipe = adversarial_recipe(2);
    let mut a = Trainer::new(spec, recipe.clone());
    let mut b = Trainer::new(spec, recipe.clone());
    a.train_epoch(&data, &mut no_progress()).unwrap();
    b.train_epoch(&data, &mut no_progress()).unwrap();
    let config = ModelConfig::new(spec);
    let ckpt = a.checkpoint(&config, &data);
    a.train_epoch(&data, &mut no_progress()).unwrap();
    b.train_epoch(&data, &mut no_progress()).unwrap();
    let (mut resumed, _) = Trainer::resume(&ckpt).unwrap();
    assert_eq!(
        resumed.recipe, recipe,
        "the adversarial recipe survives the checkpoint"
    );
    resumed.train_epoch(&data, &mut no_progress()).unwrap();
    for (((n, ta), (_, tb)), (_, tr)) in a
        .model
        .state()
        .into_iter()
        .zip(b.model.state())
        .zip(resumed.model.state())
    {
        assert_eq!(ta, tb, "{n}: two seeded runs differ");
        assert_eq!(ta, tr, "{n}: the resumed run differs");
    }
    // And it differs from clean training with the same seed.
    let mut clean = Trainer::new(
        spec,
        Recipe {
            adversarial: None,
            ..recipe
        },
    );
    clean.train_epoch(&data, &mut no_progress()).unwrap();
    clean.train_epoch(&data, &mut no_progress()).unwrap();
    assert_ne!(
        clean.model.state()[0].1,
        a.model.state()[0].1,
        "adversarial training changed nothing"
    );
}

#[test]
fn open_resumes_only_a_matching_checkpoint_and_writes_atomically() {
    let dir = std::env::temp_dir().join(format!("splash-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ckpt = dir.join("m.ckpt.safetensors");
    let _ = std::fs::remove_file(&ckpt);
    let data = common::bars(20);
    let spec = ModelSpec::lenet5(ActivationKind::Relu);
    let recipe = small_recipe(2);
    let config = ModelConfig::new(spec);
    let mut t = Trainer::open(spec, recipe.clone(), &data, &ckpt).unwrap();
    assert_eq!(t.epochs_done, 0);
    t.epoch_with_checkpoint(&data, &ckpt, &config, &mut no_progress())
        .unwrap();
    assert!(!dir.join("m.ckpt.safetensors.tmp").exists());
    let t2 = Trainer::open(spec, recipe.clone(), &data, &ckpt).unwrap();
    assert_eq!(t2.epochs_done, 1);
    // Another recipe or another model may not continue it.
    let longer = Recipe {
        epochs: 3,
        ..recipe.clone()
    };
    assert!(matches!(
        Trainer::open(spec, longer, &data, &ckpt),
        Err(TrainError::Mismatch { .. })
    ));
    assert!(matches!(
        Trainer::open(
            ModelSpec::lenet5(ActivationKind::Splash),
            recipe.clone(),
            &data,
            &ckpt
        ),
        Err(TrainError::Mismatch { .. })
    ));
    // Nor may other training digits: other ones of the same count, or fewer.
    for other in [common::bars(20).subset(&(0..19).collect::<Vec<_>>()), {
        let mut d = common::bars(20);
        d.images[400] ^= 0xff;
        d
    }] {
        let got = Trainer::open(spec, recipe.clone(), &other, &ckpt);
        assert!(
            matches!(&got, Err(TrainError::DataMismatch { .. })),
            "{:?}",
            got.as_ref().err()
        );
        assert!(got
            .err()
            .unwrap()
            .to_string()
            .contains("other training digits"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoints_with_missing_or_misshapen_momentum_are_rejected() {
    let data = common::bars(20);
    let spec = ModelSpec::lenet5(ActivationKind::Relu);
    let recipe = small_recipe(2);
    let mut t = Trainer::new(spec, recipe);
    t.train_epoch(&data, &mut no_progress()).unwrap();
    let bytes = t.checkpoint(&ModelConfig::new(spec), &data);
    let decoded = weights::decode(&bytes).unwrap();
    type Edit<'a> = &'a dyn Fn(&str, &ndarray::ArrayD<f32>) -> Option<ndarray::ArrayD<f32>>;
    let rebuild = |f: Edit| {
        let owned: Vec<(String, ndarray::ArrayD<f32>)> = decoded
            .tensors
            .iter()
            .filter_map(|(k, v)| f(k, v).map(|v| (k.clone(), v)))
            .collect();
        weights::encode(
            owned.iter().map(|(k, v)| (k.clone(), v)),
            decoded.metadata.clone(),
        )
    };
    let victim = decoded
        .tensors
        .keys()
        .find(|k| k.starts_with("optim."))
        .unwrap()
        .clone();
    let missing = rebuild(&|k, v| (k != victim).then(|| v.clone()));
    match Trainer::resume(&missing) {
        Err(WeightsError::Missing(name)) => assert_eq!(name, victim),
        other => panic!("missing momentum accepted: {:?}", other.map(|_| ())),
    }
    let misshapen = rebuild(&|k, v| {
        Some(if k == victim {
            ndarray::ArrayD::zeros(vec![3])
        } else {
            v.clone()
        })
    });
    assert!(matches!(
        Trainer::resume(&misshapen),
        Err(WeightsError::Shape { .. })
    ));
}

#[test]
fn bad_recipes_and_divergence_are_errors_not_panics() {
    let data = common::bars(20);
    let spec = ModelSpec::lenet5(ActivationKind::Relu);
    let base = small_recipe(1);
    let bad = [
        Recipe {
            batch_size: 0,
            ..base.clone()
        },
        Recipe {
            learning_rate: f32::NAN,
            ..base.clone()
        },
        Recipe {
            learning_rate: -1.0,
            ..base.clone()
        },
        Recipe {
            weight_decay: f32::INFINITY,
            ..base.clone()
        },
        Recipe {
            adversarial: Some(Adversarial {
                epsilon_warmup_epochs: -1.0,
                ..Adversarial::pgd(0.1, 3)
            }),
            ..base.clone()
        },
        Recipe {
            adversarial: Some(Adversarial::pgd(2.0, 3)),
            ..base.clone()
        },
        // A ramp longer than the run: ε would never reach what the recipe states.
        Recipe {
            adversarial: Some(Adversarial {
                epsilon_warmup_epochs: 1e9,
                ..Adversarial::pgd(0.1, 3)
            }),
            ..base.clone()
        },
        // APGD adapts its steps to each image: not an inner attack of training.
        Recipe {
            adversarial: Some(Adversarial {
                attack: splash::attack::AttackSpec {
                    early_stop: false,
                    ..splash::attack::AttackSpec::apgd(0.1, 3, splash::attack::Loss::Ce, 0)
                },
                epsilon_warmup_epochs: 0.0,
            }),
            ..base.clone()
        },
    ];
    for r in bad {
        let mut t = Trainer::new(spec, r.clone());
        let err = t.train_epoch(&data, &mut no_progress()).unwrap_err();
        assert!(
            matches!(err, TrainError::Recipe(_) | TrainError::Attack(_)),
            "{r:?}: {err}"
        );
    }
    let mut t = Trainer::new(
        spec,
        Recipe {
            epochs: 0,
            ..base.clone()
        },
    );
    assert!(t.train_epoch(&data, &mut no_progress()).is_err());
    let empty = splash::data::Dataset {
        images: vec![],
        labels: vec![],
    };
    let mut t = Trainer::new(spec, base.clone());
    assert!(matches!(
        t.train_epoch(&empty, &mut no_progress()),
        Err(TrainError::NoData)
    ));
    // Weights that overflow make the loss NaN: reported as divergence, not a panic.
    let mut t = Trainer::new(spec, base);
    for (name, w) in t.model.state_mut() {
        if name.ends_with("weight") {
            w.fill(1e30);
        }
    }
    let err = t.train_epoch(&data, &mut no_progress()).unwrap_err();
    assert!(matches!(err, TrainError::Diverged { .. }), "{err}");
    assert!(err.to_string().contains("diverged"), "{err}");
    assert_eq!(t.epochs_done, 0, "a diverged epoch does not count");
}

/// The page drives training step by step (the core reads no clock in WebAssembly); that
/// path must train exactly as `train_epoch` does.
#[test]
fn stepwise_training_equals_train_epoch_bit_for_bit() {
    let data = common::bars(40);
    let recipe = Recipe {
        augment: Some(splash::data::Augment::default()),
        ..small_recipe(2)
    };
    let spec = ModelSpec::lenet5(ActivationKind::Splash);
    let mut whole = Trainer::new(spec, recipe.clone());
    let mut stepped = Trainer::new(spec, recipe);
    for _ in 0..2 {
        let a = whole.train_epoch(&data, &mut no_progress()).unwrap();
        let mut run = stepped.start_epoch(&data).unwrap();
        assert_eq!(run.steps(), 4);
        while !run.is_done() {
            stepped.train_step(&data, &mut run).unwrap();
        }
        // Training past the end of the epoch is an error, not a silent extra step.
        assert!(stepped.train_step(&data, &mut run).is_err());
        let b = stepped.finish_epoch(run, 1.5).unwrap();
        assert_eq!((a.epoch, a.loss, a.accuracy), (b.epoch, b.loss, b.accuracy));
        assert_eq!(b.seconds, 1.5);
    }
    for ((n, a), (_, b)) in whole.model.state().into_iter().zip(stepped.model.state()) {
        assert_eq!(a, b, "{n} differs");
    }
    assert!(whole.finished() && stepped.finished());
    assert!(matches!(
        stepped.start_epoch(&data),
        Err(TrainError::Recipe(m)) if m.contains("epochs are done")
    ));
}

#[test]
fn an_epoch_cannot_be_finished_early_or_fed_other_digits() {
    let data = common::bars(40);
    let mut t = Trainer::new(ModelSpec::lenet5(ActivationKind::Relu), small_recipe(1));
    let mut run = t.start_epoch(&data).unwrap();
    t.train_step(&data, &mut run).unwrap();
    let other = common::bars(30);
    assert!(t.train_step(&other, &mut run).is_err());
    let err = t.finish_epoch(run, 0.0).unwrap_err();
    assert!(err.to_string().contains("1 of 4 steps"), "{err}");
    assert_eq!(t.epochs_done, 0);
    let empty = splash::data::Dataset::from_parts(Vec::new(), Vec::new()).unwrap();
    assert!(matches!(t.start_epoch(&empty), Err(TrainError::NoData)));
}

#[test]
fn run_options_are_the_recipe_a_visitor_states() {
    use splash::train::{AdversarialKind, RunOptions};
    let o: RunOptions = serde_json::from_str(
        r#"{"epochs":3,"batch_size":32,"learning_rate":0.02,"seed":9,"augment":true,
            "adversarial":{"kind":"pgd","epsilon":0.1,"steps":4}}"#,
    )
    .unwrap();
    let r = o.recipe().unwrap();
    assert_eq!((r.epochs, r.batch_size, r.seed), (3, 32, 9));
    assert_eq!(r.learning_rate, 0.02);
    assert_eq!(r.warmup_epochs, 0.75);
    assert_eq!(r.augment, Some(splash::data::Augment::default()));
    let adv = r.adversarial.unwrap();
    assert_eq!(adv, {
        let mut a = Adversarial::pgd(0.1, 4);
        a.epsilon_warmup_epochs = 1.0;
        a
    });
    let fgsm = splash::train::AdversarialOptions {
        kind: AdversarialKind::FgsmRs,
        epsilon: 0.2,
        steps: 7,
        warmup_epochs: 0.0,
    };
    assert_eq!(fgsm.adversarial(), Adversarial::fgsm_rs(0.2));
    // Values that cannot train are refused with the recipe's own messages.
    for (json, says) in [
        (
            r#"{"epochs":0,"batch_size":32,"learning_rate":0.02,"seed":1,"augment":false}"#,
            "epochs",
        ),
        (
            r#"{"epochs":1,"batch_size":0,"learning_rate":0.02,"seed":1,"augment":false}"#,
            "batch size",
        ),
        (
            r#"{"epochs":1,"batch_size":8,"learning_rate":-1,"seed":1,"augment":false}"#,
            "learning rate",
        ),
        (
            r#"{"epochs":1,"batch_size":8,"learning_rate":0.1,"seed":1,"augment":false,
                "adversarial":{"kind":"pgd","epsilon":2,"steps":3}}"#,
            "epsilon",
        ),
    ] {
        let o: RunOptions = serde_json::from_str(json).unwrap();
        let err = o.recipe().unwrap_err().to_string();
        assert!(err.contains(says), "{json}: {err}");
    }
    for bad in [
        r#"{"epochs":1,"batch_size":8,"learning_rate":0.1,"seed":1,"augment":false,"lr":1}"#,
        r#"{"epochs":1,"batch_size":8,"learning_rate":0.1,"seed":1,"augment":false,
            "adversarial":{"kind":"cw","epsilon":0.1}}"#,
    ] {
        assert!(serde_json::from_str::<RunOptions>(bad).is_err(), "{bad}");
    }
}

#[test]
fn fine_tuning_starts_from_the_given_weights_and_records_the_recipe() {
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("www/models/lenet5-splash.safetensors"),
    )
    .unwrap();
    let (model, config) = weights::load(&bytes).unwrap();
    let before: Vec<f32> = model.state()[0].1.iter().copied().collect();
    let data = common::bars(20);
    let mut t = Trainer::from_model(model, small_recipe(1));
    assert_eq!(
        t.model.state()[0].1.iter().copied().collect::<Vec<_>>(),
        before
    );
    t.train_epoch(&data, &mut no_progress()).unwrap();
    assert_ne!(
        t.model.state()[0].1.iter().copied().collect::<Vec<_>>(),
        before
    );
    let saved = t.final_config(&ModelConfig::new(config.spec), None, &data, Some(2.0));
    let recipe = saved.recipe.as_ref().unwrap();
    assert_eq!(recipe["train_seconds"], t.seconds_trained);
    assert_eq!(recipe["train_seconds_this_run"], 2.0);
    assert_eq!(recipe["training_digits"], 20);
    assert_eq!(recipe["training_data"], data.fingerprint());
    assert_eq!(recipe["optimizer"], splash::train::OPTIMIZER);
    assert_eq!(recipe["batch_size"], 10);
    assert_eq!(saved.test_accuracy, None);
    let (reloaded, c) = weights::load(&weights::save(&t.model, &saved)).unwrap();
    assert_eq!(c, saved);
    assert_eq!(reloaded.spec(), config.spec);
}

#[test]
fn digits_from_raw_bytes_are_checked() {
    use splash::data::Dataset;
    assert!(Dataset::from_parts(vec![0; 784 * 2], vec![1, 2]).is_ok());
    let e = Dataset::from_parts(vec![0; 783], vec![1]).unwrap_err();
    assert!(e.to_string().contains("784"), "{e}");
    let e = Dataset::from_parts(vec![0; 784], vec![10]).unwrap_err();
    assert!(e.to_string().contains("label 10"), "{e}");
}

#[test]
fn an_adversarial_recipe_names_itself_the_way_it_was_asked_for() {
    use splash::train::{AdversarialKind, AdversarialOptions};
    for o in [
        AdversarialOptions {
            kind: AdversarialKind::Pgd,
            epsilon: 0.1,
            steps: 5,
            warmup_epochs: 1.0,
        },
        AdversarialOptions {
            kind: AdversarialKind::FgsmRs,
            epsilon: 0.2,
            steps: 1,
            warmup_epochs: 0.0,
        },
    ] {
        let adv = o.adversarial();
        assert_eq!(adv.options(), o);
        // Through JSON, as a weights file stores it.
        let back: Adversarial =
            serde_json::from_str(&serde_json::to_string(&adv).unwrap()).unwrap();
        assert_eq!(back.options(), o);
    }
    let pgd = Adversarial {
        epsilon_warmup_epochs: 1.0,
        ..Adversarial::pgd(0.1, 5)
    };
    assert_eq!(pgd.short_name(), "PGD-5 at ε = 0.1");
    assert_eq!(
        pgd.cli_flags(),
        "--adversarial pgd --adv-steps 5 --adv-eps 0.1 --adv-warmup-epochs 1"
    );
    assert_eq!(
        pgd.describe(),
        "PGD, random start, 5 steps of 2.5·ε/5, cross-entropy loss at ε = 0.1, ε ramped up over 1 epoch"
    );
    let fast = Adversarial::fgsm_rs(0.1);
    assert_eq!(fast.short_name(), "FGSM with a random start at ε = 0.1");
    assert_eq!(
        fast.cli_flags(),
        "--adversarial fgsm-rs --adv-eps 0.1 --adv-warmup-epochs 0"
    );
    assert_eq!(
        fast.describe(),
        "FGSM with a random start, one step of 1.25·ε at ε = 0.1"
    );
    // One PGD step of another size is PGD, not FGSM-RS.
    assert_eq!(
        Adversarial::pgd(0.1, 1).options().kind,
        AdversarialKind::Pgd
    );
}
