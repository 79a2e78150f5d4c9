// The training worker: trains one network (the page runs one per network, so both cores
// work) with the core's trainer, step by step, and reports as it goes. The core reads no
// clock in WebAssembly; the time per chunk of steps is measured here.
// Messages in: {type: 'start', options, activation, start, evaluation} | {type: 'pause'} |
// {type: 'resume'} | {type: 'weights'}.
// Messages out: {type: 'ready', digits, watch} | {type: 'progress', ...} | {type: 'curves', ...} |
// {type: 'eval', ...} | {type: 'epoch', ...} | {type: 'paused'} | {type: 'done'} |
// {type: 'weights', bytes} | {type: 'weights', error} | {type: 'error', message}.
import init, { Training, modelConstants } from './pkg-train/splash.js';

const CHUNK_MS = 120; // steps run between two reports (and two chances to pause)
const EVALS_PER_EPOCH = 4; // held-out accuracy this often (on a slice), and at each epoch end

let training = null;
let running = false;
let job = null; // {activation, evaluation, xs, heldout, steps so far}

async function fetchBytes(path) {
  const res = await fetch(new URL(path, self.location.href));
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} (run scripts/build.sh to write www/data)`);
  return new Uint8Array(await res.arrayBuffer());
}

const post = (msg, transfer = []) => postMessage(msg, transfer);

/** Held-out accuracy of the network as it is now, on the first `n` gallery digits. */
function heldoutAccuracy(n) {
  const net = training.network();
  try {
    const { images, labels } = job.heldout;
    const m = Math.min(n, labels.length);
    return net.accuracy(images.subarray(0, m * job.pixels), labels.subarray(0, m));
  } finally {
    net.free();
  }
}

/** Robust accuracy under the core's watch attack (adversarial training only). */
function robustAccuracy() {
  if (!job.watch) return null;
  const net = training.network();
  try {
    const { images, labels } = job.heldout;
    const { spec } = job.watch;
    const m = Math.min(job.evaluation.robustDigits, labels.length);
    const pixels = Float32Array.from(images.subarray(0, m * job.pixels), (v) => v / 255);
    const r = net.robustness(pixels, Uint32Array.from(labels.subarray(0, m)), spec, Float32Array.of(spec.epsilon));
    const flags = r.robust;
    r.free();
    return flags.reduce((a, b) => a + b, 0) / m;
  } finally {
    net.free();
  }
}

function sendCurves() {
  post({ type: 'curves', step: job.globalStep, curves: training.curves(job.xs) });
}

async function start({ options, activation, start: startBytes, evaluation, xs }) {
  await init();
  const [images, labels, hImages, hLabels] = await Promise.all(
    ['data/train-images.bin', 'data/train-labels.bin', 'data/heldout-images.bin', 'data/heldout-labels.bin'].map(fetchBytes),
  );
  training?.free();
  training = new Training(options, activation, startBytes ?? new Uint8Array(0), images, labels);
  job = { pixels: modelConstants().pixels, activation, evaluation, xs: Float32Array.from(xs), heldout: { images: hImages, labels: hLabels }, globalStep: 0, stepsPerChunk: 1, nextEval: 0 };
  job.watch = training.watchAttack() ?? null;
  post({ type: 'ready', digits: labels.length, watch: job.watch?.name ?? null });
  sendCurves();
  post({ type: 'eval', epoch: 0, accuracy: heldoutAccuracy(evaluation.sliceDigits), robust: robustAccuracy() });
  running = true;
  loop();
}

async function loop() {
  try {
    while (running && !training.finished()) {
      const t0 = performance.now();
      const r = training.step(job.stepsPerChunk);
      const ms = performance.now() - t0;
      const ran = r.step - (job.lastStep ?? 0);
      job.lastStep = r.epoch_end ? 0 : r.step;
      job.globalStep += ran;
      job.epochMs = (job.epochMs ?? 0) + ms;
      // Aim for CHUNK_MS per chunk, whatever the speed of this machine and recipe.
      job.stepsPerChunk = Math.max(1, Math.min(64, Math.round((job.stepsPerChunk * CHUNK_MS) / Math.max(1, ms))));
      post({ type: 'progress', epoch: r.epoch, step: r.step, steps: r.steps, loss: r.loss, ran, ms, globalStep: job.globalStep });
      sendCurves();
      const fraction = r.step / r.steps;
      if (!r.epoch_end && fraction >= job.nextEval + 1 / EVALS_PER_EPOCH) {
        job.nextEval = Math.floor(fraction * EVALS_PER_EPOCH) / EVALS_PER_EPOCH;
        post({ type: 'eval', epoch: r.epoch - 1 + fraction, accuracy: heldoutAccuracy(job.evaluation.sliceDigits) });
      }
      if (r.epoch_end) {
        const stats = training.finishEpoch(job.epochMs / 1000);
        job.nextEval = 0;
        job.epochMs = 0;
        post({
          type: 'epoch',
          stats,
          accuracy: heldoutAccuracy(Infinity),
          heldoutDigits: job.heldout.labels.length,
          robust: robustAccuracy(),
        });
      }
      // Let 'pause' and 'weights' messages in.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    if (training.finished()) post({ type: 'done' });
    else post({ type: 'paused' });
  } catch (e) {
    running = false;
    post({ type: 'error', message: e?.message ?? String(e) });
  }
}

self.onmessage = async ({ data }) => {
  try {
    if (data.type === 'start') await start(data);
    else if (data.type === 'pause') running = false;
    else if (data.type === 'resume') {
      if (!training) throw new Error('nothing to resume: start a run first');
      if (!running) {
        running = true;
        loop();
      }
    } else if (data.type === 'weights') {
      // Answered as 'weights' either way: a failed download does not stop the run.
      if (!training) post({ type: 'weights', error: 'no network has been trained yet' });
      else {
        const bytes = training.weights();
        post({ type: 'weights', bytes }, [bytes.buffer]);
      }
    } else throw new Error(`unknown request ${data.type}`);
  } catch (e) {
    running = false;
    post({ type: 'error', message: e?.message ?? String(e) });
  }
};
