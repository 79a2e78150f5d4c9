//! The study's resume logic on a tiny configuration: a run killed halfway is picked up on
//! the next call, finished runs are not redone, and the results equal an uninterrupted run.
#![cfg(not(target_arch = "wasm32"))] // native: files, threads and the clock

use splash::activation::ActivationKind;
use splash::data::Dataset;
use splash::model::Architecture;
use splash::study::{run_study, StudyConfig, StudyError, StudyEvent};
use splash::train::Recipe;

/// A few hundred synthetic digits: a bar whose column is the label, with some jitter.
fn bars(n: usize, seed: usize) -> Dataset {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let label = (i % 10) as u8;
        let mut img = vec![0u8; 784];
        let shift = (i * 7 + seed) % 3;
        for y in 4 + shift..22 + shift {
            img[y * 28 + 3 + 2 * label as usize + shift] = 255;
        }
        images.extend(img);
        labels.push(label);
    }
    Dataset { images, labels }
}

fn config(dir: &std::path::Path, stop: Option<usize>) -> StudyConfig {
    StudyConfig {
        architecture: Architecture::Lenet5,
        activations: vec![
            ActivationKind::Relu,
            ActivationKind::Splash,
            ActivationKind::Apl,
        ],
        seeds: vec![1],
        recipe: Recipe {
            epochs: 2,
            batch_size: 32,
            augment: None,
            ..Recipe::default()
        },
        epsilons: vec![0.1, 0.3],
        strong_attacks: vec!["pgd-5".parse().unwrap(), "square-20".parse().unwrap()],
        strong_test_digits: 30,
        work_dir: dir.join("work"),
        results: dir.join("results.json"),
        stop_after_epochs: stop,
    }
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("splash-study-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn study_resumes_a_run_killed_halfway_and_skips_finished_runs() {
    let (train, test) = (bars(300, 0), bars(100, 1));

    let straight_dir = tmp("straight");
    let straight = run_study(&config(&straight_dir, None), &train, &test, &mut |_| {}).unwrap();
    assert_eq!(straight.runs.len(), 3);

    // Killed after 3 epochs: ReLU (2 epochs) finished, SPLASH stopped after its first epoch.
    let dir = tmp("resumed");
    let err = run_study(&config(&dir, Some(3)), &train, &test, &mut |_| {}).unwrap_err();
    assert!(matches!(err, StudyError::Interrupted));
    let partial: splash::study::StudyResults =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(partial.runs.len(), 1);
    assert!(dir.join("work/lenet5-splash-s1.ckpt.safetensors").exists());

    let mut events = Vec::new();
    let resumed = run_study(&config(&dir, None), &train, &test, &mut |e| events.push(e)).unwrap();
    assert!(matches!(
        events[0],
        StudyEvent::Skipped(ActivationKind::Relu, 1)
    ));
    assert!(events
        .iter()
        .any(|e| matches!(e, StudyEvent::Training(ActivationKind::Splash, 1, 1))));
    assert!(!dir.join("work/lenet5-splash-s1.ckpt.safetensors").exists());
    assert_eq!(resumed.runs.len(), 3);
    for (a, b) in straight.runs.iter().zip(&resumed.runs) {
        assert_eq!(a.activation, b.activation);
        assert_eq!(a.clean_accuracy, b.clean_accuracy, "{:?}", a.activation);
        assert_eq!(a.white_box_accuracy, b.white_box_accuracy);
        assert_eq!(a.transfer_accuracy, b.transfer_accuracy);
        assert_eq!(a.splash_coefficients, b.splash_coefficients);
    }
    // Strong attacks ran on the first 30 digits; the worst case is below each of them.
    for run in &resumed.runs {
        assert_eq!(run.strong.len(), 2);
        assert_eq!(run.strong[0].attack, "pgd-5");
        // Transfer from the ReLU model of the same seed, so none for ReLU itself.
        assert_eq!(
            run.strong[0].transfer_accuracy.is_some(),
            run.activation != ActivationKind::Relu
        );
        assert!(
            run.strong[1].transfer_accuracy.is_none(),
            "no transfer for Square"
        );
        let worst = run.worst_case_accuracy.as_ref().unwrap();
        for s in &run.strong {
            assert!(worst.iter().zip(&s.white_box_accuracy).all(|(w, a)| w <= a));
        }
    }
    assert_eq!(resumed.strong_test_digits, 30);
    // ReLU is the transfer source and has no transfer accuracy (its white-box accuracy
    // used to be recorded there); SPLASH records its learned coefficients.
    assert_eq!(resumed.runs[0].activation, ActivationKind::Relu);
    assert!(resumed.runs[0].transfer_accuracy.is_empty());
    assert_eq!(
        resumed.runs[1].transfer_accuracy.len(),
        resumed.epsilons.len()
    );
    assert_eq!(
        resumed.runs[1].splash_coefficients.as_ref().unwrap().len(),
        4
    );

    // A third call has nothing left to do.
    let mut trained = false;
    run_study(&config(&dir, None), &train, &test, &mut |e| {
        trained |= matches!(e, StudyEvent::Training(..));
    })
    .unwrap();
    assert!(!trained);

    // Another recipe against the same results file is refused, not mixed in.
    let mut other = config(&dir, None);
    other.recipe.learning_rate = 0.01;
    assert!(matches!(
        run_study(&other, &train, &test, &mut |_| {}),
        Err(StudyError::Mismatch { .. })
    ));
    let _ = std::fs::remove_dir_all(straight_dir);
    let _ = std::fs::remove_dir_all(dir);
}

/// The study trains All-CNN when asked: its runs have All-CNN's SPLASH layers (eight), its
/// weights files say so, the results record the width, and LeNet5 results are not mixed in.
#[test]
fn study_runs_all_cnn_and_keeps_its_results_apart() {
    let (train, test) = (bars(120, 2), bars(40, 3));
    let dir = tmp("allcnn");
    let mut cfg = config(&dir, None);
    cfg.architecture = Architecture::Allcnn { width: 4 };
    cfg.activations = vec![ActivationKind::Relu, ActivationKind::Splash];
    cfg.recipe.epochs = 1;
    let results = run_study(&cfg, &train, &test, &mut |_| {}).unwrap();
    assert_eq!(results.architecture, "allcnn");
    assert_eq!(results.width, Some(4));
    assert_eq!(results.runs.len(), 2);
    assert_eq!(
        results.runs[1].splash_coefficients.as_ref().unwrap().len(),
        8
    );
    let (model, _) =
        splash::weights::load_file(&dir.join("work/allcnn-splash-s1.safetensors")).unwrap();
    assert_eq!(
        model.spec(),
        splash::ModelSpec::allcnn(4, ActivationKind::Splash)
    );
    // The same results file with LeNet5 asked for is refused.
    let mut lenet = cfg.clone();
    lenet.architecture = Architecture::Lenet5;
    assert!(matches!(
        run_study(&lenet, &train, &test, &mut |_| {}),
        Err(StudyError::Mismatch { .. })
    ));
    let _ = std::fs::remove_dir_all(dir);
}

/// A model left in the work directory by a run with another recipe is refused, not reported
/// as this study's result.
#[test]
fn study_refuses_a_model_trained_with_another_recipe() {
    let (train, test) = (bars(100, 4), bars(30, 5));
    let dir = tmp("stale");
    let mut one = config(&dir, None);
    one.activations = vec![ActivationKind::Relu];
    one.recipe.epochs = 1;
    run_study(&one, &train, &test, &mut |_| {}).unwrap();
    let mut three = one.clone();
    three.recipe.epochs = 3;
    three.results = dir.join("other-results.json");
    let err = run_study(&three, &train, &test, &mut |_| {}).unwrap_err();
    assert!(matches!(err, StudyError::StaleModel { .. }), "{err}");
    assert!(err.to_string().contains("another model or recipe"));
    let _ = std::fs::remove_dir_all(dir);
}

/// A model in the work directory trained on other digits (another --limit, --exclude or
/// --data: here the same count of other digits, then fewer) is refused, not reused and
/// labelled with this study's digits.
#[test]
fn study_refuses_a_model_trained_on_other_digits() {
    let (train, test) = (bars(100, 4), bars(30, 5));
    let dir = tmp("other-digits");
    let mut one = config(&dir, None);
    one.activations = vec![ActivationKind::Relu];
    one.recipe.epochs = 1;
    run_study(&one, &train, &test, &mut |_| {}).unwrap();
    for (what, other) in [
        ("other digits", bars(100, 6)),
        ("fewer digits", bars(60, 4)),
    ] {
        let mut again = one.clone();
        again.results = dir.join(format!("{what}.json"));
        let err = run_study(&again, &other, &test, &mut |_| {}).unwrap_err();
        assert!(matches!(err, StudyError::StaleData { .. }), "{what}: {err}");
        assert!(err.to_string().contains("other digits"), "{what}: {err}");
    }
    // The same digits again: reused.
    let mut same = one.clone();
    same.results = dir.join("same.json");
    run_study(&same, &train, &test, &mut |_| {}).unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn adversarial_study_records_its_recipe_and_never_reuses_clean_models() {
    use splash::train::Adversarial;
    let (train, test) = (bars(100, 6), bars(30, 7));
    let dir = tmp("adversarial");
    let mut clean = config(&dir, None);
    clean.activations = vec![ActivationKind::Relu, ActivationKind::Splash];
    clean.recipe.epochs = 1;
    run_study(&clean, &train, &test, &mut |_| {}).unwrap();
    // The same study adversarially trained, in the same work directory: the clean models
    // there must not be passed off as adversarially trained ones.
    let mut adv = clean.clone();
    adv.recipe.adversarial = Some(Adversarial::pgd(0.1, 2));
    adv.results = dir.join("adv-results.json");
    let err = run_study(&adv, &train, &test, &mut |_| {}).unwrap_err();
    assert!(matches!(err, StudyError::StaleModel { .. }), "{err}");
    adv.work_dir = dir.join("adv-work");
    let results = run_study(&adv, &train, &test, &mut |_| {}).unwrap();
    assert_eq!(results.runs.len(), 2);
    assert_eq!(results.recipe.adversarial, adv.recipe.adversarial);
    let back: splash::study::StudyResults =
        serde_json::from_str(&std::fs::read_to_string(&adv.results).unwrap()).unwrap();
    assert_eq!(back.recipe.adversarial, adv.recipe.adversarial);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_results_file_with_short_or_impossible_lists_is_refused() {
    let (train, test) = (bars(60, 8), bars(20, 9));
    let dir = tmp("validate");
    let mut cfg = config(&dir, None);
    cfg.activations = vec![ActivationKind::Relu];
    cfg.recipe.epochs = 1;
    let results = run_study(&cfg, &train, &test, &mut |_| {}).unwrap();
    assert!(results.validate().is_ok());
    let mut short = results.clone();
    short.runs[0].white_box_accuracy.pop();
    assert!(short
        .validate()
        .unwrap_err()
        .contains("values for 2 budgets"));
    let mut impossible = results.clone();
    impossible.runs[0].strong[0].white_box_accuracy[0] = f32::NAN;
    assert!(impossible
        .validate()
        .unwrap_err()
        .contains("not an accuracy"));
    // run_study refuses to resume from such a file instead of reporting from it.
    std::fs::write(&cfg.results, serde_json::to_string(&short).unwrap()).unwrap();
    let err = run_study(&cfg, &train, &test, &mut |_| {}).unwrap_err();
    assert!(matches!(err, StudyError::BadResults { .. }), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
