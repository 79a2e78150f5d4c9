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
