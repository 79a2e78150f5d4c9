//! Training: clean and adversarial steps, determinism, resume, and clear errors for recipes
//! that cannot train and for training that diverges.

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
        cross_entropy(t.model.forward(&adv, Mode::Eval).view(), &y).mean()
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
    let ckpt = a.checkpoint(&config);
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
    let mut t = Trainer::open(spec, recipe.clone(), &ckpt).unwrap();
    assert_eq!(t.epochs_done, 0);
    t.epoch_with_checkpoint(&data, &ckpt, &config, &mut no_progress())
        .unwrap();
    assert!(!dir.join("m.ckpt.safetensors.tmp").exists());
    let t2 = Trainer::open(spec, recipe.clone(), &ckpt).unwrap();
    assert_eq!(t2.epochs_done, 1);
    // Another recipe or another model may not continue it.
    let longer = Recipe {
        epochs: 3,
        ..recipe.clone()
    };
    assert!(matches!(
        Trainer::open(spec, longer, &ckpt),
        Err(TrainError::Mismatch { .. })
    ));
    assert!(matches!(
        Trainer::open(ModelSpec::lenet5(ActivationKind::Splash), recipe, &ckpt),
        Err(TrainError::Mismatch { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoints_with_missing_or_misshapen_momentum_are_rejected() {
    let data = common::bars(20);
    let spec = ModelSpec::lenet5(ActivationKind::Relu);
    let recipe = small_recipe(2);
    let mut t = Trainer::new(spec, recipe);
    t.train_epoch(&data, &mut no_progress()).unwrap();
    let bytes = t.checkpoint(&ModelConfig::new(spec));
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
