//! The command-line tool refuses what would report a number it did not measure, or take the
//! machine down, before doing any work.
#![cfg(feature = "cli")]

use std::process::Command;

const WEIGHTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/www/models/lenet5-relu.safetensors"
);

/// Runs `splash` with `args` and `SPLASH_DATA` set to `data` (or unset): whether it
/// succeeded, and what it printed on standard error.
fn splash(args: &[&str], data: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_splash"));
    cmd.args(args);
    match data {
        Some(d) => cmd.env("SPLASH_DATA", d),
        None => cmd.env_remove("SPLASH_DATA"),
    };
    let out = cmd.output().expect("run splash");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `splash eval` of the committed LeNet5-ReLU on a data folder that does not exist, with
/// `extra` arguments: whatever it refuses is refused before the data is read.
fn eval(extra: &[&str]) -> (bool, String) {
    let mut args = vec!["eval", "--weights", WEIGHTS, "--data", "/nonexistent"];
    args.extend_from_slice(extra);
    splash(&args, None)
}

#[test]
fn zero_digits_are_refused_not_reported_as_zero_percent() {
    for (ok, err) in [
        eval(&["--limit", "0"]),
        eval(&["--transfer-digits", "0"]),
        splash(
            &["study", "--data", "/nonexistent", "--test-limit", "0"],
            None,
        ),
        splash(&["study", "--data", "/nonexistent", "--limit", "0"], None),
    ] {
        assert!(!ok);
        assert!(err.contains("at least 1"), "{err}");
    }
}

#[test]
fn threads_are_bounded_by_the_machine() {
    let args = "train --model lenet5 --activation relu --data /nonexistent --out /nonexistent/x.safetensors --threads 100000";
    let (ok, err) = splash(&args.split(' ').collect::<Vec<_>>(), None);
    assert!(!ok);
    assert!(err.contains("per core"), "{err}");
}

#[test]
fn attack_names_are_read_whatever_their_case() {
    // The name is checked before the data is read: a bad one fails on its name, a good one
    // gets as far as the missing data.
    let (ok, err) = eval(&["--attacks", "PGD-10-R2-R3"]);
    assert!(!ok);
    assert!(err.contains("restarts given twice"), "{err}");
    let (ok, err) = eval(&["--attacks", "PGD-10"]);
    assert!(!ok);
    assert!(err.contains("/nonexistent"), "{err}");
}

#[test]
fn the_data_directory_defaults_to_splash_data() {
    let (ok, err) = splash(
        &["eval", "--weights", WEIGHTS],
        Some("/nonexistent/from-env"),
    );
    assert!(!ok);
    assert!(err.contains("/nonexistent/from-env"), "{err}");
}

/// `splash study` and `splash eval` run one evaluation: on the model a small study trained,
/// `eval` with the study's attacks, digits and budgets gives the study's numbers exactly.
#[test]
fn eval_and_study_agree_on_the_same_model_attacks_and_digits() {
    #[path = "common/mod.rs"]
    mod common;
    let Some(data) = common::mnist_dir() else {
        return;
    };
    let data = data.to_str().unwrap();
    let dir = std::env::temp_dir().join(format!("splash-cli-agree-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let (results, work, report) = (d("results.json"), d("work"), d("report.md"));
    let study = format!(
        "study --model lenet5 --activations relu,splash --seeds 1 --epochs 2 --limit 1500 \
         --test-limit 120 --strong-attacks pgd-3,square-30 --strong-test-digits 40 \
         --epsilons 0.1,0.2 --results {results} --work-dir {work} --report {report}"
    );
    let (ok, err) = splash(&study.split_whitespace().collect::<Vec<_>>(), Some(data));
    assert!(ok, "{err}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    let run = r["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["activation"] == "splash")
        .unwrap();
    let out = d("eval.json");
    let eval = format!(
        "eval --weights {work}/lenet5-splash-s1.safetensors \
         --transfer-from {work}/lenet5-relu-s1.safetensors \
         --attacks fgsm,pgd-3@40,square-30@40 --limit 120 --epsilons 0.1,0.2 --out {out}"
    );
    let (ok, err) = splash(&eval.split_whitespace().collect::<Vec<_>>(), Some(data));
    assert!(ok, "{err}");
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let curve = |n: &str| {
        e["attacks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(run["clean_accuracy"], e["clean_accuracy"]);
    assert_eq!(
        run["white_box_accuracy"],
        curve("fgsm")["white_box_accuracy"]
    );
    assert_eq!(
        run["transfer_accuracy"],
        curve("fgsm")["transfer"]["accuracy"]
    );
    for (k, n) in ["pgd-3", "square-30"].into_iter().enumerate() {
        let s = &run["strong"][k];
        assert_eq!(s["attack"], n);
        assert_eq!(
            s["white_box_accuracy"],
            curve(n)["white_box_accuracy"],
            "{n}"
        );
        let t = &curve(n)["transfer"];
        let t = if t.is_null() { t } else { &t["accuracy"] };
        assert_eq!(&s["transfer_accuracy"], t, "{n}");
    }
    assert_eq!(
        run["worst_case_accuracy"],
        curve("worst")["white_box_accuracy"]
    );
    eprintln!("study and eval agree: {run}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Problems with where results go, or with a second weights file, are reported with their
/// path and before any work: an unwritable --out used to surface only after training.
#[test]
fn output_and_file_errors_name_the_file_and_come_first() {
    let (ok, err) = splash(
        &[
            "train",
            "--model",
            "lenet5",
            "--activation",
            "relu",
            "--data",
            "/nonexistent/data",
            "--out",
            "/nonexistent/dir/x.safetensors",
        ],
        None,
    );
    assert!(!ok);
    assert!(
        err.contains("cannot write /nonexistent/dir/x.safetensors"),
        "{err}"
    );
    let bad =
        std::env::temp_dir().join(format!("splash-corrupt-{}.safetensors", std::process::id()));
    std::fs::write(&bad, b"not a safetensors file").unwrap();
    let (ok, err) = eval(&["--transfer-from", bad.to_str().unwrap()]);
    std::fs::remove_file(&bad).unwrap();
    assert!(!ok);
    assert!(
        err.contains(&format!("{}: not a valid safetensors file", bad.display())),
        "{err}"
    );
}
