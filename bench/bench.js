// Benchmarks splash's wasm core against TF.js on the same topologies and weights.
// Results go to the table and to globalThis.__bench (read by scripts/bench-browser.mjs).
// Prediction and attacks run in the page's build (pkg/, relaxed SIMD where the browser has it,
// as on the demo page; ?wasm=simd128 forces the plain one), training in the trainer's build.
import initTrainer, { Training, modelConstants } from '../pkg-train/splash.js';
import initPage, { Network } from '../pkg/splash.js';
import { wasmBuild } from '../wasm-build.js';
import { VARIANTS, modelFiles } from '../models.js';
import { DONE, FAILED, GO, IDLE } from './bench-pool.js';

const build = wasmBuild(location.search);

const tf = globalThis.tf;
const status = (t) => (document.getElementById('status').textContent = t);
// The core's constants (set once the module is loaded).
let PIX;
let CLASSES;
let MEAN;
let STD;

/** Parses safetensors bytes into {name: {shape, data: Float32Array}}, with the file's
 * metadata (strings) under `__metadata__`. */
function parseSafetensors(buf) {
  const view = new DataView(buf);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, n)));
  const out = { __metadata__: header.__metadata__ ?? {} };
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [s, e] = t.data_offsets;
    out[name] = { shape: t.shape, data: new Float32Array(buf.slice(8 + n + s, 8 + n + e)) };
  }
  return out;
}

/**
 * A TF.js forward pass (NHWC) with the same layers and weights as the splash model. Op by op
 * (`fused` false): conv/matMul, bias add, batchNorm and the activation as separate ops. As
 * TF.js users ship a model (`fused` true: what the converter makes of it): BatchNorm folded
 * into the preceding conv or dense weights, and conv/matMul + bias (+ relu for a ReLU network)
 * as one fused op; a SPLASH network's activation stays separate ops (TF.js has no fused
 * kernel for it).
 */
function tfModel(w, fused = false) {
  const raw = (name) => {
    const t = w[name];
    if (!t) throw new Error(`missing ${name}`);
    return t;
  };
  const { architecture: arch, activation } = w.__metadata__;
  if (activation !== 'relu' && activation !== 'splash') throw new Error(`the TF.js benchmark models have no ${activation} activation`);
  // The hinges as the file records them (splash checks them against its own on loading).
  const hinges = activation === 'splash' ? JSON.parse(w.__metadata__.hinges) : [];
  const layers = [];
  // Weights (OIHW for conv, (out, in) for dense) with BatchNorm `bn` folded in, if given.
  const folded = (name, bn) => {
    const W = raw(`${name}.weight`);
    const b = Float32Array.from(raw(`${name}.bias`).data);
    const data = Float32Array.from(W.data);
    if (bn) {
      const [m, v, g, beta] = ['running_mean', 'running_var', 'weight', 'bias'].map((k) => raw(`${bn}.${k}`).data);
      const per = data.length / b.length;
      for (let o = 0; o < b.length; o++) {
        const scale = g[o] / Math.sqrt(v[o] + 1e-5);
        for (let i = 0; i < per; i++) data[o * per + i] *= scale;
        b[o] = (b[o] - m[o]) * scale + beta[o];
      }
    }
    return { W: tf.tensor(data, W.shape), b: tf.tensor1d(b) };
  };
  const bnOp = (name) => {
    const [m, v, g, b] = ['running_mean', 'running_var', 'weight', 'bias'].map((k) => tf.tensor(raw(`${name}.${k}`).data, raw(`${name}.${k}`).shape));
    layers.push((x) => tf.batchNorm(x, m, v, b, g, 1e-5));
  };
  // SPLASH as a TF.js user writes it: Σₛ a⁺ₛ·relu(x − bₛ) + a⁻ₛ·relu(−x − bₛ), op by op.
  const splash = (k) => {
    const [ap, am] = ['a_plus', 'a_minus'].map((t) => Array.from(raw(`act${k}.${t}`).data, (a) => tf.scalar(a)));
    const b = hinges.map((h) => tf.scalar(h));
    return (x) => {
      const neg = tf.neg(x);
      let h = tf.mul(ap[0], tf.relu(x));
      h = tf.add(h, tf.mul(am[0], tf.relu(neg)));
      for (let s = 1; s < b.length; s++) {
        h = tf.add(h, tf.mul(ap[s], tf.relu(tf.sub(x, b[s]))));
        h = tf.add(h, tf.mul(am[s], tf.relu(tf.sub(neg, b[s]))));
      }
      return h;
    };
  };
  // The activation after BatchNorm `bn` (act<k> follows bn<k>).
  const act = (bn) => layers.push(activation === 'relu' ? (x) => tf.relu(x) : splash(bn.slice(2)));
  // conv → BN → activation (or a bare conv when `bn` is null).
  const conv = (name, stride, pad, bn) => {
    if (fused) {
      const { W, b } = folded(name, bn);
      const f = W.transpose([2, 3, 1, 0]); // OIHW → HWIO
      const fusedRelu = bn && activation === 'relu';
      layers.push((x) => tf.fused.conv2d({ x, filter: f, strides: stride, pad, bias: b, activation: fusedRelu ? 'relu' : 'linear' }));
      if (bn && !fusedRelu) act(bn);
      return;
    }
    const { W, b } = folded(name, null);
    const f = W.transpose([2, 3, 1, 0]);
    layers.push((x) => tf.add(tf.conv2d(x, f, stride, pad), b));
    if (bn) bnOp(bn), act(bn);
  };
  const dense = (name, bn) => {
    if (fused) {
      const { W, b } = folded(name, bn);
      const Wt = W.transpose();
      const fusedRelu = bn && activation === 'relu';
      layers.push((x) => tf.fused.matMul({ a: x, b: Wt, bias: b, activation: fusedRelu ? 'relu' : 'linear' }));
      if (bn && !fusedRelu) act(bn);
      return;
    }
    const { W, b } = folded(name, null);
    const Wt = W.transpose();
    layers.push((x) => tf.add(tf.matMul(x, Wt), b));
    if (bn) bnOp(bn), act(bn);
  };
  layers.push((x) => tf.div(tf.sub(x, MEAN), STD));
  if (arch === 'lenet5') {
    conv('conv1', 1, 2, 'bn1'), layers.push((x) => tf.maxPool(x, 2, 2, 'valid'));
    conv('conv2', 1, 0, 'bn2'), layers.push((x) => tf.maxPool(x, 2, 2, 'valid'));
    layers.push((x) => tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [x.shape[0], 400])); // PyTorch's (C, H, W) order
    dense('fc1', 'bn3'), dense('fc2', 'bn4'), dense('fc3', null);
  } else if (arch === 'allcnn') {
    const plan = [[1, 1, 1], [2, 1, 1], [3, 2, 1], [4, 1, 1], [5, 1, 1], [6, 2, 1], [7, 1, 0], [8, 1, 0]];
    for (const [i, s, p] of plan) conv(`conv${i}`, s, p, `bn${i}`);
    conv('conv9', 1, 0, null);
    layers.push((x) => tf.mean(x, [1, 2]));
  } else {
    throw new Error(`the TF.js benchmark models have no ${arch} architecture`);
  }
  return (x) => layers.reduce((h, f) => f(h), x);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** How many calls one timing sample makes: enough to last ≥ 10 ms, because
 * performance.now() is coarsened to 0.1 ms on pages that are not cross-origin isolated. */
async function repsFor(fn) {
  let reps = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await fn();
    if (performance.now() - t0 >= 10 || reps >= 4096) return reps;
    reps *= 2;
  }
}

/** Median milliseconds per call of `a` and of `b`, sampled alternately (a, b, a, b, …) so
 * that both see the same machine: a shared machine's speed drifts from second to second,
 * and timing one side after the other folds that drift into the ratio. */
async function timePair(a, b, { warmup = 3, samples = 21, budgetMs = 8000 } = {}) {
  for (let i = 0; i < warmup; i++) {
    await a();
    await b();
  }
  const [ra, rb] = [await repsFor(a), await repsFor(b)];
  const ta = [];
  const tb = [];
  const start = performance.now();
  while (ta.length < samples && (ta.length < 5 || performance.now() - start < budgetMs)) {
    for (const [fn, reps, ts] of [[a, ra, ta], [b, rb, tb]]) {
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) await fn();
      ts.push((performance.now() - t0) / reps);
    }
  }
  return [median(ta), median(tb)];
}

function digits(n, seed) {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const x = new Float32Array(n * PIX);
  for (let i = 0; i < x.length; i++) x[i] = rnd() < 0.2 ? rnd() : 0;
  return x;
}

/** The four TF.js configurations each model is measured against: backend, and whether the
 * model is built as TF.js users ship it (fused) or op by op. */
const PEERS = [['wasm', true], ['wasm', false], ['cpu', true], ['cpu', false]];
/** The networks measured: both variants of the standard LeNet5 and All-CNN sets (their
 * files as www/models.js names them). */
const MODELS = ['lenet5', 'allcnn'].flatMap((set) => VARIANTS.map((v) => modelFiles(set, v)));
const peerName = (backend, fused) => `tfjs-${backend}${fused ? ' fused' : ''}`;

/** The network of `model` (an entry of MODELS) for both sides: splash's Network and the
 * parsed tensors TF.js builds its models from. */
async function loadModel(model) {
  const buf = await (await fetch(new URL(`../${model.weights}`, location.href))).arrayBuffer();
  return { buf, net: new Network(new Uint8Array(buf)), weights: parseSafetensors(buf) };
}

/** TF.js's FGSM step (untargeted, ε) on `t` (NHWC) with labels `y` through `forward`. */
function tfFgsm(forward, t, y, eps) {
  const onehot = tf.oneHot(tf.tensor1d(Array.from(y), 'int32'), 10);
  const gradFn = tf.grad((x) => tf.losses.softmaxCrossEntropy(onehot, forward(x)));
  return () => tf.tidy(() => tf.clipByValue(tf.add(t, tf.mul(eps, tf.sign(gradFn(t)))), 0, 1)).data();
}

/** Largest |a[i] − b[i]|. */
function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function benchModel(model, rows) {
  const { net, weights } = await loadModel(model);
  const x1 = digits(1, 7);
  const x64 = digits(64, 11);
  const label = Uint32Array.of(3);
  const eps = 0.1;

  const splashPredict1 = () => net.predict(x1);
  const fgsmSpec = { method: 'fgsm', epsilon: eps, early_stop: false };
  const splashFgsm1 = () => net.attack(x1, label, false, fgsmSpec).free();
  const splashPredict64 = () => net.predict(x64);
  const pSplash = net.predict(x1);

  for (const [backend, fused] of PEERS) {
    await tf.setBackend(backend);
    await tf.ready();
    const forward = tfModel(weights, fused);
    const t1 = tf.tensor4d(x1, [1, 28, 28, 1]);
    const t64 = tf.tensor4d(x64, [64, 28, 28, 1]);
    const predict = (t) => tf.tidy(() => tf.softmax(forward(t))).data();
    const fgsm = tfFgsm(forward, t1, label, eps);
    const maxDiff = maxAbsDiff(await predict(t1), pSplash);
    const sp = {};
    const tfr = {};
    [sp.predict1, tfr.predict1] = await timePair(splashPredict1, () => predict(t1));
    // A fused model's gradient needs kernels the wasm backend lacks (its FusedConv2D
    // gradient asks for the filter's): then the FGSM row is left out for that peer.
    let fgsmError = null;
    try {
      await fgsm();
      [sp.fgsm1, tfr.fgsm1] = await timePair(splashFgsm1, fgsm);
    } catch (e) {
      fgsmError = e.message;
      sp.fgsm1 = tfr.fgsm1 = NaN;
    }
    [sp.predict64, tfr.predict64] = await timePair(splashPredict64, () => predict(t64), { warmup: 2 });
    tf.dispose([t1, t64]);
    rows.push({
      model: model.name,
      backend: peerName(backend, fused),
      maxProbDiff: maxDiff,
      fgsmError,
      splash: sp,
      tfjs: tfr,
      ratio: {
        predict1: sp.predict1 / tfr.predict1,
        fgsm1: sp.fgsm1 / tfr.fgsm1,
        throughput64: (64 / sp.predict64) / (64 / tfr.predict64),
      },
    });
  }
  net.free();
}

/** For each model: splash against the fastest TF.js configuration of each measurement. */
function fastest(rows) {
  const out = [];
  for (const model of [...new Set(rows.map((r) => r.model))]) {
    const mine = rows.filter((r) => r.model === model);
    const best = (key, better) => {
      const ok = mine.filter((r) => Number.isFinite(r.tfjs[key]));
      return ok.reduce((a, r) => (better(r.tfjs[key], a.tfjs[key]) ? r : a), ok[0]);
    };
    const p1 = best('predict1', (a, b) => a < b);
    const f1 = best('fgsm1', (a, b) => a < b);
    const t64 = best('predict64', (a, b) => a < b);
    out.push({
      model,
      predict1: { peer: p1.backend, ratio: p1.ratio.predict1 },
      fgsm1: { peer: f1.backend, ratio: f1.ratio.fgsm1 },
      throughput64: { peer: t64.backend, ratio: t64.ratio.throughput64 },
    });
  }
  return out;
}

// ---- agreement check (bench.html?check): no timing ----------------------------------------
// Every TF.js configuration of every model against splash on the same inputs: probabilities
// on a batch, and (where TF.js has the gradient) the FGSM image. tests/e2e/bench.test.mjs
// reads it: a benchmark against a model that computes something else measures nothing.
async function checkModel(model, rows) {
  const { net, weights } = await loadModel(model);
  const n = 16;
  const x = digits(n, 13);
  const y = Uint32Array.from({ length: n }, (_, i) => i % 10);
  const eps = 0.1;
  const pSplash = net.predict(x);
  const adv = net.attack(x, y, false, { method: 'fgsm', epsilon: eps, early_stop: false });
  const advSplash = adv.adversarial;
  adv.free();
  for (const [backend, fused] of PEERS) {
    await tf.setBackend(backend);
    await tf.ready();
    const forward = tfModel(weights, fused);
    const t = tf.tensor4d(x, [n, 28, 28, 1]);
    const p = await tf.tidy(() => tf.softmax(forward(t))).data();
    const row = { model: model.name, backend: peerName(backend, fused), maxProbDiff: maxAbsDiff(p, pSplash) };
    try {
      const advTf = await tfFgsm(forward, t, y, eps)();
      let same = 0;
      for (let i = 0; i < advTf.length; i++) same += Math.abs(advTf[i] - advSplash[i]) < 1e-6 ? 1 : 0;
      row.fgsmSameFraction = same / advTf.length;
    } catch (e) {
      row.fgsmError = e.message;
    }
    t.dispose();
    rows.push(row);
  }
  net.free();
}

/** A table row of `cells` as `tag` ('th' or 'td') elements. */
function tr(cells, tag) {
  const r = document.createElement('tr');
  for (const c of cells) r.append(Object.assign(document.createElement(tag), { textContent: c }));
  return r;
}

function render(rows) {
  const ms = (v) => `${v.toFixed(2)} ms`;
  const head = ['model', 'peer', 'predict b=1 splash', 'peer', 'ratio', 'FGSM step b=1 splash', 'peer', 'ratio', 'b=64 img/s splash', 'peer', 'ratio', 'max |Δp|'];
  const table = document.getElementById('results');
  table.replaceChildren();
  table.append(tr(head, 'th'));
  for (const r of rows) {
    table.append(
      tr(
        [
          r.model,
          r.backend,
          ms(r.splash.predict1),
          ms(r.tfjs.predict1),
          r.ratio.predict1.toFixed(2),
          r.fgsmError ? '—' : ms(r.splash.fgsm1),
          r.fgsmError ? `cannot: ${r.fgsmError}` : ms(r.tfjs.fgsm1),
          r.fgsmError ? '—' : r.ratio.fgsm1.toFixed(2),
          (64000 / r.splash.predict64).toFixed(0),
          (64000 / r.tfjs.predict64).toFixed(0),
          r.ratio.throughput64.toFixed(2),
          r.maxProbDiff.toExponential(1),
        ],
        'td',
      ),
    );
  }
}

function renderFastest(summary) {
  const table = document.getElementById('fastest');
  table.replaceChildren(tr(['model', 'predict b=1: fastest peer', 'ratio', 'FGSM step b=1: fastest peer', 'ratio', 'b=64 img/s: fastest peer', 'ratio'], 'th'));
  for (const r of summary) {
    const cells = [r.predict1, r.fgsm1, r.throughput64].flatMap((c) => [c.peer, c.ratio.toFixed(2)]);
    table.append(tr([r.model, ...cells], 'td'));
  }
}

/** LeNet5-ReLU as a TF.js user writes it for training: tf.layers with BatchNorm, compiled
 * with SGD + Nesterov momentum, trained with trainOnBatch (NHWC, normalised input). */
function tfLenet5() {
  const l = tf.layers;
  const model = tf.sequential({
    layers: [
      l.conv2d({ inputShape: [28, 28, 1], filters: 6, kernelSize: 5, padding: 'same' }),
      l.batchNormalization({ epsilon: 1e-5, momentum: 0.9 }),
      l.activation({ activation: 'relu' }),
      l.maxPooling2d({ poolSize: 2 }),
      l.conv2d({ filters: 16, kernelSize: 5 }),
      l.batchNormalization({ epsilon: 1e-5, momentum: 0.9 }),
      l.activation({ activation: 'relu' }),
      l.maxPooling2d({ poolSize: 2 }),
      l.flatten(),
      l.dense({ units: 120 }),
      l.batchNormalization({ epsilon: 1e-5, momentum: 0.9 }),
      l.activation({ activation: 'relu' }),
      l.dense({ units: 84 }),
      l.batchNormalization({ epsilon: 1e-5, momentum: 0.9 }),
      l.activation({ activation: 'relu' }),
      l.dense({ units: 10 }),
    ],
  });
  model.compile({ optimizer: tf.train.momentum(0.05, 0.9, true), loss: tf.losses.softmaxCrossEntropy });
  return model;
}

/** Training throughput, LeNet5-ReLU, batch 64, SGD with Nesterov momentum, no augmentation:
 * splash's Training (the page's training panel) against TF.js trainOnBatch on each backend
 * that can train it, one step per call, alternating. */
async function benchTraining(rows) {
  const BATCH = 64;
  const STEPS = 32; // digits = 32 batches; epochs roll over as they end
  const x = digits(BATCH * STEPS, 5);
  const labels = Uint8Array.from({ length: BATCH * STEPS }, (_, i) => (i * 7) % 10);
  const bytes = Uint8Array.from(x, (v) => Math.round(v * 255));
  const options = { epochs: 10000, batch_size: BATCH, learning_rate: 0.05, seed: 1, augment: false };
  const training = new Training(options, 'relu', new Uint8Array(0), bytes, labels);
  const splashStep = () => {
    if (training.step(1).epoch_end) training.finishEpoch(0);
  };
  for (const backend of ['wasm', 'cpu']) {
    await tf.setBackend(backend);
    await tf.ready();
    const row = { arch: 'lenet5', backend: `tfjs-${backend}`, batch: BATCH };
    const model = tfLenet5();
    const xs = tf.tidy(() => tf.div(tf.sub(tf.tensor4d(x.subarray(0, BATCH * PIX), [BATCH, 28, 28, 1]), MEAN), STD));
    const ys = tf.oneHot(tf.tensor1d(Array.from(labels.subarray(0, BATCH)), 'int32'), 10);
    try {
      const tfStep = async () => {
        await model.trainOnBatch(xs, ys);
      };
      await tfStep();
      [row.splashMs, row.tfjsMs] = await timePair(splashStep, tfStep, { warmup: 2, samples: 9, budgetMs: 15000 });
      row.ratio = row.tfjsMs / row.splashMs;
    } catch (e) {
      row.error = e.message;
    }
    tf.dispose([xs, ys]);
    model.dispose();
    rows.push(row);
  }
  training.free();
}

function renderTraining(rows) {
  const table = document.getElementById('train-results');
  table.replaceChildren();
  table.append(tr(['model', 'peer', 'batch', 'splash img/s', 'peer img/s', 'ratio (splash / peer)'], 'th'));
  for (const r of rows) {
    const ips = (ms) => (ms ? ((r.batch * 1000) / ms).toFixed(0) : '—');
    table.append(tr([r.arch, r.backend, String(r.batch), ips(r.splashMs), r.error ? `cannot train: ${r.error}` : ips(r.tfjsMs), r.ratio ? r.ratio.toFixed(2) : '—'], 'td'));
  }
}

// ---- threads on both sides (bench.html?isolated) ---------------------------------------
// With ?isolated the server makes the page cross-origin isolated, so TF.js's wasm backend
// runs its threaded build (XNNPACK's thread pool: the calling thread and THREADS − 1 others
// share each operation, handing work over through shared memory). splash is run the same way
// from JavaScript: the main thread predicts its share of the batch while THREADS − 1 workers
// predict theirs, the work handed over through a SharedArrayBuffer and Atomics (no messages,
// whose round trip cost ~1 ms per call in Chromium). Batch-64 throughput only, alternating
// samples.
const ISOLATED = new URLSearchParams(location.search).has('isolated');
// ?check: agreement only, no timing (with ?isolated: the threaded pool against one thread).
const CHECK = new URLSearchParams(location.search).has('check');
const THREADS = navigator.hardwareConcurrency || 2;

/**
 * splash on `n` threads: `net` on the calling thread and n − 1 bench workers, each with its
 * own copy of the network in `weights` and shared buffers for up to `maxBatch` images.
 * predict(x) gives each worker an equal share (copied into its input buffer), predicts the
 * rest here, waits for the workers (spinning, as XNNPACK's pool does) and returns all the
 * probabilities in order.
 */
async function sharedPool(n, net, weights, maxBatch) {
  const workers = Array.from({ length: n - 1 }, () => {
    const worker = new Worker(new URL('./bench-worker.js', import.meta.url), { type: 'module' });
    const buffers = {
      control: new SharedArrayBuffer(8),
      input: new SharedArrayBuffer(maxBatch * PIX * 4),
      output: new SharedArrayBuffer(maxBatch * CLASSES * 4),
    };
    return { worker, buffers, control: new Int32Array(buffers.control), input: new Float32Array(buffers.input), output: new Float32Array(buffers.output), error: null };
  });
  await Promise.all(
    workers.map(
      (w) =>
        new Promise((resolve, reject) => {
          w.worker.onmessage = ({ data }) => {
            if (data.ok) return resolve();
            w.error = data.error;
            reject(new Error(data.error));
          };
          w.worker.onerror = (e) => reject(new Error(e.message || 'a benchmark worker failed to start'));
          w.worker.postMessage({ weights: weights.slice(0), build: build.file, pixels: PIX, ...w.buffers });
        }),
    ),
  );
  return {
    predict(x) {
      const batch = x.length / PIX;
      if (!Number.isInteger(batch) || batch > maxBatch) throw new Error(`the pool takes up to ${maxBatch} whole images`);
      const per = Math.ceil(batch / n);
      const probs = new Float32Array(batch * CLASSES);
      const shares = workers.map((w, i) => {
        const [lo, hi] = [Math.min(batch, (i + 1) * per), Math.min(batch, (i + 2) * per)];
        w.input.set(x.subarray(lo * PIX, hi * PIX));
        Atomics.store(w.control, 1, hi - lo);
        Atomics.store(w.control, 0, GO);
        Atomics.notify(w.control, 0);
        return [w, lo, hi];
      });
      probs.set(net.predict(x.subarray(0, Math.min(batch, per) * PIX)));
      const deadline = performance.now() + 60000;
      for (const [w, lo, hi] of shares) {
        let state;
        while ((state = Atomics.load(w.control, 0)) === GO) {
          if (performance.now() > deadline) throw new Error('a benchmark worker did not answer within 60 s');
        }
        Atomics.store(w.control, 0, IDLE);
        if (state === FAILED) throw new Error(`a benchmark worker failed${w.error ? `: ${w.error}` : ''}`);
        probs.set(w.output.subarray(0, (hi - lo) * CLASSES), lo * CLASSES);
      }
      return probs;
    },
    close: () => workers.forEach((w) => w.worker.terminate()),
  };
}

async function benchThreads(model, rows) {
  const { buf, net, weights } = await loadModel(model);
  const x64 = digits(64, 11);
  const pool = await sharedPool(THREADS, net, buf, 64);
  try {
    // The pool's probabilities must be the single-threaded ones (same build, same images).
    const diff = maxAbsDiff(pool.predict(x64), net.predict(x64));
    if (!(diff === 0)) throw new Error(`${model.name}: the threaded splash probabilities differ from one thread's by ${diff}`);
    if (CHECK) return rows.push({ model: model.name, splashThreads: THREADS, maxProbDiff: diff });
    for (const fused of [true, false]) {
      const forward = tfModel(weights, fused);
      const t64 = tf.tensor4d(x64, [64, 28, 28, 1]);
      const predict = () => tf.tidy(() => tf.softmax(forward(t64))).data();
      const [splashMs, tfjsMs] = await timePair(async () => pool.predict(x64), predict, { warmup: 2 });
      t64.dispose();
      rows.push({ model: model.name, peer: peerName('wasm', fused), threads: tf.wasm.getThreadsCount(), splashThreads: THREADS, splashMs, tfjsMs, ratio: tfjsMs / splashMs });
    }
  } finally {
    pool.close();
    net.free();
  }
}

function renderThreads(rows) {
  const table = document.getElementById('thread-results');
  table.replaceChildren(tr(['model', 'peer', 'TF.js threads', 'splash threads', 'b=64 img/s splash', 'peer', 'ratio'], 'th'));
  for (const r of rows) table.append(tr([r.model, r.peer, String(r.threads), String(r.splashThreads), (64000 / r.splashMs).toFixed(0), (64000 / r.tfjsMs).toFixed(0), r.ratio.toFixed(2)], 'td'));
}

async function mainThreads() {
  if (!globalThis.crossOriginIsolated) throw new Error('?isolated: the page is not cross-origin isolated (serve it with scripts/serve.mjs, which sends COOP/COEP for it)');
  // TF.js caps its thread pool at navigator.hardwareConcurrency / 2, assuming two hardware
  // threads per core (tfjs-backend-wasm's backend.cc: min(setThreadsCount, cores / 2)): one
  // thread on this 2-core machine, whatever setThreadsCount asks. Its strongest configuration
  // uses every core, so it is told of twice as many logical cores before it starts.
  Object.defineProperty(navigator, 'hardwareConcurrency', { value: 2 * THREADS, configurable: true });
  tf.wasm.setThreadsCount(THREADS);
  await tf.setBackend('wasm');
  await tf.ready();
  if (tf.wasm.getThreadsCount() !== THREADS) throw new Error(`TF.js runs ${tf.wasm.getThreadsCount()} threads, not ${THREADS}`);
  const rows = [];
  for (const model of MODELS) {
    status(`Running ${model.name} with threads…`);
    await benchThreads(model, rows);
    if (!CHECK) renderThreads(rows);
  }
  document.getElementById('thread-notes').textContent = `Threads on both sides: TF.js's threaded wasm build, splash's ${build.description} build on ${THREADS} threads (this page's thread and ${THREADS - 1} worker${THREADS > 2 ? 's' : ''}, the batch split evenly and handed over through shared memory). ${navigator.userAgent}.`;
  status('Done');
  globalThis.__bench = { threads: rows, wasm: build.name, tfjs: tf.version.tfjs, userAgent: navigator.userAgent };
}

async function mainCheck() {
  const rows = [];
  for (const model of MODELS) {
    status(`Checking ${model.name}…`);
    await checkModel(model, rows);
  }
  status('Done');
  globalThis.__bench = { check: rows, wasm: build.name, tfjs: tf.version.tfjs };
}

async function main() {
  try {
    if (!tf) throw new Error('vendor/tfjs/tf.min.js did not load (run scripts/build.sh)');
    tf.wasm.setWasmPaths(new URL('vendor/tfjs/', location.href).href);
    await initTrainer();
    await initPage({ module_or_path: new URL(`../pkg/${build.file}`, location.href) });
    ({ pixels: PIX, classes: CLASSES, mnist_mean: MEAN, mnist_std: STD } = modelConstants());
    document.getElementById('threads').hidden = !ISOLATED;
    if (ISOLATED) return await mainThreads();
    if (CHECK) return await mainCheck();
    const rows = [];
    for (const model of MODELS) {
      status(`Running ${model.name}…`);
      await benchModel(model, rows);
      render(rows);
    }
    const summary = fastest(rows);
    renderFastest(summary);
    status('Running training…');
    const training = [];
    await benchTraining(training);
    renderTraining(training);
    document.getElementById('notes').textContent = `Medians over alternating samples of splash and TF.js after warm-up; ratio < 1 means splash is faster (for img/s, > 1). splash's ${build.description} build (${build.name}); TF.js ${tf.version.tfjs}; ${navigator.userAgent}.`;
    status('Done');
    globalThis.__bench = { rows, fastest: summary, training, wasm: build.name, tfjs: tf.version.tfjs, userAgent: navigator.userAgent };
  } catch (e) {
    status(`Failed: ${e.message}`);
    globalThis.__bench = { error: e.message };
  }
}
main();
