//! Native training with the WebAssembly build's kernels gives the page's weights bit for bit
//! (the wasm half of the check is in `tests/web.rs`). Its own test binary, because the kernel
//! switch holds for the whole process.
#![cfg(not(target_arch = "wasm32"))]

#[path = "common/tiny_run.rs"]
mod tiny_run;

use splash::data::Dataset;
use splash::model::ModelSpec;
use splash::train::{RunOptions, Trainer};
use splash::ActivationKind;

#[test]
fn native_training_repeats_the_wasm_run_bit_for_bit() {
    splash::nn::gemm::use_portable_kernels(true);
    let (images, labels) = tiny_run::digits();
    let data = Dataset::from_parts(images, labels).unwrap();
    let options: RunOptions = serde_json::from_str(tiny_run::OPTIONS).unwrap();
    let mut t = Trainer::new(
        ModelSpec::lenet5(ActivationKind::Splash),
        options.recipe().unwrap(),
    );
    while !t.finished() {
        t.train_epoch(&data, &mut |_, _, _| {}).unwrap();
    }
    let got = tiny_run::digest(&t.model.state());
    assert_eq!(
        got,
        tiny_run::EXPECTED,
        "the native run's weights digest is {got:#018x}; if training changed on purpose, put it \
         in tests/common/tiny_run.rs (the wasm test must then agree)"
    );
}
