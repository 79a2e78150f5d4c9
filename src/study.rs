//! The paper's comparison on MNIST: LeNet5 (or All-CNN) with each activation and several
//! seeds, one shared recipe; clean accuracy, white-box FGSM and transfer FGSM (adversarials
//! crafted on the ReLU model of the same seed) on the whole test set, the same for strong
//! attacks (PGD, Square) on its first digits with the worst case over all of them, and
//! wall time.
//!
//! The study resumes where it stopped: finished runs are read back from the results file and
//! not redone, and a run killed halfway continues from its last epoch checkpoint.

use crate::activation::ActivationKind;
use crate::attack::AttackSpec;
use crate::data::Dataset;
use crate::model::{Architecture, Model, ModelSpec};
use crate::robustness::{evaluate, EvalPlan, PlannedAttack};
use crate::train::{Recipe, Trainer};
use crate::weights::{self, ModelConfig, WeightsError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

/// The FGSM budgets of the study.
pub const STUDY_EPSILONS: [f32; 6] = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3];

/// What to run.
#[derive(Clone, Debug)]
pub struct StudyConfig {
    /// The network.
    pub architecture: Architecture,
    /// Activations to compare (ReLU is always trained: it is the transfer source).
    pub activations: Vec<ActivationKind>,
    /// Seeds; each activation is trained once per seed.
    pub seeds: Vec<u64>,
    /// The shared recipe (its `seed` is replaced by each run's seed).
    pub recipe: Recipe,
    /// FGSM budgets (also those of the strong attacks).
    pub epsilons: Vec<f32>,
    /// Strong attacks, run on the first `strong_test_digits` test digits.
    pub strong_attacks: Vec<AttackSpec>,
    /// Test digits for the strong attacks and the worst case.
    pub strong_test_digits: usize,
    /// Folder for checkpoints and trained weights.
    pub work_dir: PathBuf,
    /// The results JSON (read to resume, rewritten after every run).
    pub results: PathBuf,
    /// Stop (with [`StudyError::Interrupted`]) after this many epochs in this call; for
    /// testing the resume logic.
    pub stop_after_epochs: Option<usize>,
}

/// One trained and evaluated model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The activation.
    pub activation: ActivationKind,
    /// The seed.
    pub seed: u64,
    /// Accuracy on the test digits.
    pub clean_accuracy: f32,
    /// Accuracy under white-box FGSM, one per ε.
    pub white_box_accuracy: Vec<f32>,
    /// Accuracy on FGSM images crafted on the ReLU model of the same seed, one per ε
    /// (empty for ReLU itself, the source).
    pub transfer_accuracy: Vec<f32>,
    /// Seconds of training.
    pub train_seconds: f64,
    /// Seconds of evaluation.
    pub eval_seconds: f64,
    /// For SPLASH, each layer's (a⁺, a⁻).
    pub splash_coefficients: Option<Vec<([f32; 4], [f32; 4])>>,
    /// Robust accuracy under each strong attack, on the first strong-test digits.
    #[serde(default)]
    pub strong: Vec<StrongResult>,
    /// Per ε, robust under FGSM and every strong attack (white-box), on the same digits.
    #[serde(default)]
    pub worst_case_accuracy: Option<Vec<f32>>,
}

/// One strong attack's robust accuracy for one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StrongResult {
    /// The attack's name (see [`AttackSpec::name`]).
    pub attack: String,
    /// White-box, one per ε.
    pub white_box_accuracy: Vec<f32>,
    /// Crafted on the ReLU model of the same seed (gradient attacks only), one per ε.
    pub transfer_accuracy: Option<Vec<f32>>,
}

/// Everything the study measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudyResults {
    /// `lenet5` or `allcnn`.
    pub architecture: String,
    /// All-CNN's base width (absent for LeNet5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<usize>,
    /// The shared recipe (seed field: the first seed).
    pub recipe: Recipe,
    /// FGSM budgets.
    pub epsilons: Vec<f32>,
    /// Training digits.
    pub training_digits: usize,
    /// Test digits.
    pub test_digits: usize,
    /// The strong attacks' names.
    #[serde(default)]
    pub strong_attacks: Vec<String>,
    /// Test digits the strong attacks and the worst case use (the first ones).
    #[serde(default)]
    pub strong_test_digits: usize,
    /// Finished runs, in the order they finished.
    pub runs: Vec<RunResult>,
}

impl StudyResults {
    /// The network the study trained (its `architecture` and `width`).
    pub fn network(&self) -> Result<Architecture, String> {
        Architecture::from_parts(&self.architecture, self.width)
    }

    /// Checks that every run has one accuracy per ε, each a fraction in [0, 1], so a
    /// report never indexes past a list or prints a number that is not an accuracy.
    pub fn validate(&self) -> Result<(), String> {
        self.network()?;
        let n = self.epsilons.len();
        let check = |run: &RunResult, what: &str, v: &[f32], may_be_empty: bool| {
            let who = format!("{}-s{}", run.activation.name(), run.seed);
            if !(v.len() == n || (may_be_empty && v.is_empty())) {
                return Err(format!(
                    "{who}: {what} has {} values for {n} budgets",
                    v.len()
                ));
            }
            match v.iter().find(|a| !(0.0..=1.0).contains(*a)) {
                Some(a) => Err(format!("{who}: {what} holds {a}, not an accuracy")),
                None => Ok(()),
            }
        };
        for run in &self.runs {
            if !(0.0..=1.0).contains(&run.clean_accuracy) {
                return Err(format!(
                    "{}-s{}: clean accuracy {} is not an accuracy",
                    run.activation.name(),
                    run.seed,
                    run.clean_accuracy
                ));
            }
            check(run, "white-box accuracy", &run.white_box_accuracy, false)?;
            check(run, "transfer accuracy", &run.transfer_accuracy, true)?;
            for st in &run.strong {
                check(run, &st.attack, &st.white_box_accuracy, false)?;
                if let Some(t) = &st.transfer_accuracy {
                    check(run, &format!("{} transfer", st.attack), t, true)?;
                }
            }
            if let Some(w) = &run.worst_case_accuracy {
                check(run, "worst case", w, false)?;
            }
        }
        Ok(())
    }
}

/// Errors of the study.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The results file belongs to another configuration.
    #[error(
        "{path} was made with another recipe, data or ε list; use another output or delete it"
    )]
    Mismatch {
        /// The results file.
        path: PathBuf,
    },
    /// The results file cannot be parsed.
    #[error("{path}: {reason}")]
    BadResults {
        /// The results file.
        path: PathBuf,
        /// The parse error.
        reason: String,
    },
    /// Stopped on request ([`StudyConfig::stop_after_epochs`]).
    #[error("stopped after the requested number of epochs; run again to resume")]
    Interrupted,
    /// A checkpoint or weights file failed.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// An attack's settings were rejected.
    #[error(transparent)]
    Attack(#[from] crate::attack::AttackError),
    /// Training failed (a bad recipe, divergence, a mismatched checkpoint).
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    /// A trained model in the work directory was trained on other digits.
    #[error("{path} was trained on other digits than this study's ({now}: another --limit, --exclude or --data); delete it or use another work directory")]
    StaleData {
        /// The model file.
        path: PathBuf,
        /// This study's training digits.
        now: String,
    },
    /// A trained model in the work directory was made with another model or recipe.
    #[error("{path} was trained with another model or recipe than this study's; delete it or use another work directory")]
    StaleModel {
        /// The weights file.
        path: PathBuf,
    },
}

/// Progress of the study.
#[derive(Clone, Debug)]
pub enum StudyEvent {
    /// A finished run was found in the results file and is skipped.
    Skipped(ActivationKind, u64),
    /// A run starts (or resumes after `epochs_done` epochs).
    Training(ActivationKind, u64, usize),
    /// An epoch finished.
    Epoch(ActivationKind, u64, usize, f32),
    /// A run was evaluated.
    Finished(RunResult),
}

struct Runner<'a> {
    cfg: &'a StudyConfig,
    train: &'a Dataset,
    epochs_left: Option<usize>,
}

impl Runner<'_> {
    fn paths(&self, act: ActivationKind, seed: u64) -> (PathBuf, PathBuf) {
        let stem = format!("{}-{}-s{seed}", self.cfg.architecture.name(), act.name());
        (
            self.cfg.work_dir.join(format!("{stem}.ckpt.safetensors")),
            self.cfg.work_dir.join(format!("{stem}.safetensors")),
        )
    }

    /// The trained model for (act, seed) and its training seconds: loaded if it exists,
    /// otherwise trained (resuming from a checkpoint if there is one).
    fn trained(
        &mut self,
        act: ActivationKind,
        seed: u64,
        events: &mut dyn FnMut(StudyEvent),
    ) -> Result<(Model, f64), StudyError> {
        let (ckpt, done) = self.paths(act, seed);
        let spec = ModelSpec {
            architecture: self.cfg.architecture,
            activation: act,
        };
        let recipe = Recipe {
            seed,
            ..self.cfg.recipe.clone()
        };
        if done.exists() {
            let (model, config) = weights::load_file(&done)?;
            // Only a model of this study's network and recipe may be reused.
            let stored: Option<Recipe> = config
                .recipe
                .as_ref()
                .and_then(|r| serde_json::from_value(r.clone()).ok());
            if config.spec != spec || stored.as_ref() != Some(&recipe) {
                return Err(StudyError::StaleModel { path: done });
            }
            // ... and trained on this study's digits: their fingerprint where the file
            // records it; files written before it was recorded, their count.
            let record = |key: &str| config.recipe.as_ref().map(|r| r[key].clone());
            let same_digits =
                match record("training_data").and_then(|v| v.as_str().map(String::from)) {
                    Some(fingerprint) => fingerprint == self.train.fingerprint(),
                    None => {
                        record("training_digits").and_then(|v| v.as_u64())
                            == Some(self.train.len() as u64)
                    }
                };
            if !same_digits {
                return Err(StudyError::StaleData {
                    path: done,
                    now: self.train.fingerprint(),
                });
            }
            let secs = config
                .recipe
                .as_ref()
                // `train_seconds`; files written before it was recorded by `splash train`
                // have only `train_seconds_this_run`.
                .and_then(|r| {
                    r["train_seconds"]
                        .as_f64()
                        .or_else(|| r["train_seconds_this_run"].as_f64())
                })
                .unwrap_or(0.0);
            return Ok((model, secs));
        }
        let config = ModelConfig::new(spec);
        let mut trainer = Trainer::open(spec, recipe, self.train, &ckpt)?;
        events(StudyEvent::Training(act, seed, trainer.epochs_done));
        while !trainer.finished() {
            if self.epochs_left == Some(0) {
                return Err(StudyError::Interrupted);
            }
            let stats =
                trainer.epoch_with_checkpoint(self.train, &ckpt, &config, &mut |_, _, _| {})?;
            self.epochs_left = self.epochs_left.map(|n| n - 1);
            events(StudyEvent::Epoch(act, seed, stats.epoch, stats.loss));
        }
        let config = trainer.final_config(&config, None, self.train, None);
        weights::write_atomic(&done, &weights::save(&trainer.model, &config))?;
        std::fs::remove_file(&ckpt)?;
        Ok((trainer.model, trainer.seconds_trained))
    }
}

/// What the study measures on each run: FGSM on every test digit, then each strong attack
/// on the first `strong_digits`, with the worst case over all of them.
pub fn study_plan(cfg: &StudyConfig, strong_digits: usize) -> EvalPlan {
    let mut attacks = vec![PlannedAttack {
        spec: AttackSpec::fgsm(0.0),
        digits: None,
    }];
    attacks.extend(cfg.strong_attacks.iter().map(|spec| PlannedAttack {
        spec: spec.clone(),
        digits: Some(strong_digits),
    }));
    EvalPlan {
        attacks,
        epsilons: cfg.epsilons.clone(),
        transfer_digits: None,
    }
}

/// Runs (or resumes) the study and returns every finished run.
pub fn run_study(
    cfg: &StudyConfig,
    train: &Dataset,
    test: &Dataset,
    events: &mut dyn FnMut(StudyEvent),
) -> Result<StudyResults, StudyError> {
    std::fs::create_dir_all(&cfg.work_dir)?;
    let fresh = StudyResults {
        architecture: cfg.architecture.name().into(),
        width: cfg.architecture.width(),
        recipe: Recipe {
            seed: cfg.seeds.first().copied().unwrap_or(0),
            ..cfg.recipe.clone()
        },
        epsilons: cfg.epsilons.clone(),
        training_digits: train.len(),
        test_digits: test.len(),
        strong_attacks: cfg.strong_attacks.iter().map(AttackSpec::name).collect(),
        strong_test_digits: cfg.strong_test_digits.min(test.len()),
        runs: Vec::new(),
    };
    let strong_digits = fresh.strong_test_digits;
    let mut results = if cfg.results.exists() {
        let text = std::fs::read_to_string(&cfg.results)?;
        let old: StudyResults =
            serde_json::from_str(&text).map_err(|e| StudyError::BadResults {
                path: cfg.results.clone(),
                reason: e.to_string(),
            })?;
        old.validate().map_err(|reason| StudyError::BadResults {
            path: cfg.results.clone(),
            reason,
        })?;
        let same = StudyResults {
            runs: Vec::new(),
            ..old.clone()
        } == fresh;
        if !same {
            return Err(StudyError::Mismatch {
                path: cfg.results.clone(),
            });
        }
        old
    } else {
        fresh
    };
    let mut runner = Runner {
        cfg,
        train,
        epochs_left: cfg.stop_after_epochs,
    };
    let mut order = vec![ActivationKind::Relu];
    order.extend(
        cfg.activations
            .iter()
            .filter(|&&a| a != ActivationKind::Relu),
    );
    for &seed in &cfg.seeds {
        for &act in &order {
            if results
                .runs
                .iter()
                .any(|r| r.activation == act && r.seed == seed)
            {
                events(StudyEvent::Skipped(act, seed));
                continue;
            }
            let (mut model, train_seconds) = runner.trained(act, seed, events)?;
            let started = Instant::now();
            // ReLU is the transfer source; every other activation is also attacked with
            // images crafted on the ReLU model of the same seed.
            let mut relu = if act == ActivationKind::Relu {
                None
            } else {
                Some(runner.trained(ActivationKind::Relu, seed, events)?.0)
            };
            let relu_name = ModelSpec {
                architecture: cfg.architecture,
                activation: ActivationKind::Relu,
            }
            .slug();
            let e = evaluate(
                &mut model,
                relu.as_mut().map(|r| (r, relu_name.as_str())),
                test,
                &study_plan(cfg, strong_digits),
                &mut |_| {},
            )?;
            let by_name = |n: &str| e.attacks.iter().find(|c| c.name == n);
            let fgsm = &e.attacks[0];
            let strong = e.attacks[1..=cfg.strong_attacks.len()]
                .iter()
                .map(|c| StrongResult {
                    attack: c.name.clone(),
                    white_box_accuracy: c.white_box_accuracy.clone(),
                    transfer_accuracy: c.transfer.as_ref().map(|t| t.accuracy.clone()),
                })
                .collect();
            let worst_case_accuracy = by_name("worst").map(|w| w.white_box_accuracy.clone());
            let clean_accuracy = e.clean_accuracy;
            let white = fgsm.white_box_accuracy.clone();
            let transfer = fgsm
                .transfer
                .as_ref()
                .map_or_else(Vec::new, |t| t.accuracy.clone());
            let splash_coefficients = (act == ActivationKind::Splash).then(|| {
                model
                    .activation_layers()
                    .iter()
                    .filter_map(|(_, l)| {
                        l.activation()
                            .as_splash()
                            .map(|s| (s.a_plus(), s.a_minus()))
                    })
                    .collect()
            });
            let run = RunResult {
                activation: act,
                seed,
                clean_accuracy,
                white_box_accuracy: white,
                transfer_accuracy: transfer,
                train_seconds,
                eval_seconds: started.elapsed().as_secs_f64(),
                splash_coefficients,
                strong,
                worst_case_accuracy,
            };
            results.runs.push(run.clone());
            weights::write_atomic(
                &cfg.results,
                (serde_json::to_string_pretty(&results).expect("serialisable") + "\n").as_bytes(),
            )?;
            events(StudyEvent::Finished(run));
        }
    }
    Ok(results)
}
