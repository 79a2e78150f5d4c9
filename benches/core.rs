//! Criterion benchmarks of the core's hot paths: convolution forward and backward, predict,
//! one FGSM step, and one training step. `cargo bench --bench core` prints the figures.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use ndarray::{Array4, ArrayD};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use splash::activation::ActivationLayer;
use splash::attack::{fgsm, Goal};
use splash::loss::cross_entropy;
use splash::model::{Model, ModelSpec};
use splash::nn::{Conv2d, Layer, MaxPool2d, Mode, Need, Pass};
use splash::parallel::on_pool;
use splash::ActivationKind;

fn random(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    ArrayD::from_shape_fn(shape.to_vec(), |_| r.gen_range(0.0f32..1.0))
}

fn images(n: usize) -> Array4<f32> {
    random(&[n, 1, 28, 28], 1).into_dimensionality().unwrap()
}

fn specs() -> [(&'static str, ModelSpec); 4] {
    [
        ("lenet5-relu", ModelSpec::lenet5(ActivationKind::Relu)),
        ("lenet5-splash", ModelSpec::lenet5(ActivationKind::Splash)),
        ("allcnn-relu", ModelSpec::allcnn(16, ActivationKind::Relu)),
        (
            "allcnn-splash",
            ModelSpec::allcnn(16, ActivationKind::Splash),
        ),
    ]
}

fn conv(c: &mut Criterion) {
    let mut g = c.benchmark_group("conv2d");
    // LeNet5's second conv and All-CNN's widest 3×3 conv, batch 64.
    for (name, cin, cout, k, pad, side) in [
        ("lenet5.conv2", 6, 16, 5, 0, 14),
        ("allcnn.conv5", 32, 32, 3, 1, 14),
    ] {
        let mut layer = Conv2d::new(cin, cout, k, 1, pad, &mut ChaCha8Rng::seed_from_u64(2));
        let x = random(&[64, cin, side, side], 3);
        g.throughput(Throughput::Elements(64));
        g.bench_function(BenchmarkId::new("forward", name), |b| {
            b.iter_batched(
                || x.clone(),
                |x| layer.forward(x, Pass::Train).unwrap(),
                BatchSize::LargeInput,
            )
        });
        let y = layer.forward(x.clone(), Pass::Train).unwrap();
        let dy = random(y.shape(), 4);
        g.bench_function(BenchmarkId::new("backward", name), |b| {
            b.iter(|| layer.backward(&dy, Need::All).unwrap())
        });
    }
    // LeNet5's first pooling layer, batch 64.
    let mut pool = MaxPool2d::new(2);
    let x = random(&[64, 6, 28, 28], 5);
    g.bench_function(BenchmarkId::new("forward", "lenet5.pool1"), |b| {
        b.iter_batched(
            || x.clone(),
            |x| pool.forward(x, Pass::Train).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.finish();
    // The activation after LeNet5's first conv, batch 64: SPLASH against ReLU.
    let mut g = c.benchmark_group("activation");
    let x = random(&[64, 6, 28, 28], 6);
    let dy = random(&[64, 6, 28, 28], 7);
    for kind in ActivationKind::DEMO {
        let mut layer = ActivationLayer::new(kind.build(6));
        g.bench_function(BenchmarkId::new("forward", kind.name()), |b| {
            b.iter_batched(
                || x.clone(),
                |x| layer.forward(x, Pass::Train).unwrap(),
                BatchSize::LargeInput,
            )
        });
        layer.forward(x.clone(), Pass::Train).unwrap();
        g.bench_function(BenchmarkId::new("backward", kind.name()), |b| {
            b.iter(|| layer.backward(&dy, Need::All).unwrap())
        });
    }
    g.finish();
}

fn models(c: &mut Criterion) {
    let mut g = c.benchmark_group("model");
    for (name, spec) in specs() {
        let mut m = Model::new(spec, 1);
        let x1 = images(1);
        let x64 = images(64);
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("predict_b1", name), |b| {
            b.iter(|| m.predict(&x1).unwrap())
        });
        g.bench_function(BenchmarkId::new("fgsm_step_b1", name), |b| {
            b.iter(|| fgsm(&mut m, &x1, Goal::Untargeted(&[3]), 0.1).unwrap())
        });
        g.throughput(Throughput::Elements(64));
        g.bench_function(BenchmarkId::new("predict_b64", name), |b| {
            b.iter(|| m.predict(&x64).unwrap())
        });
        let labels: Vec<usize> = (0..64).map(|i| i % 10).collect();
        // As the trainer runs it: on a pool thread, without the input gradient.
        g.bench_function(BenchmarkId::new("train_step_b64", name), |b| {
            b.iter(|| {
                on_pool(|| {
                    m.zero_grad();
                    let logits = m.forward(&x64, Mode::Train).unwrap();
                    let ce = cross_entropy(logits.view(), &labels);
                    m.backward_params(&(ce.grad_sum(&labels) / 64.0)).unwrap()
                })
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = conv, models
}
criterion_main!(benches);
