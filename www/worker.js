// The inference worker: owns the WebAssembly networks so that drawing never waits for them.
// Messages in: {id, type, ...args}; out: {id, ok, result} | {id, ok: false, error} | {id, progress}.
import init, { Network, preprocessCanvas } from './pkg/splash.js';

const wasmReady = init().catch((e) => {
  throw new Error(`the WebAssembly module failed to load (${e.message || e}); rebuild it with scripts/serve.sh`);
});

const VARIANTS = ['splash', 'relu'];
const nets = new Map(); // arch -> {splash: Network, relu: Network, info}
let heldout = null; // {images: Uint8Array, labels: Uint8Array}
const cancelled = new Set();
const PIXELS = 784;

async function fetchBytes(path) {
  const url = new URL(path, self.location.href);
  let res;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`could not fetch ${path}: ${e.message}`);
  }
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}${res.status === 404 ? ' (file missing: run scripts/train-models.sh or check out the committed weights)' : ''}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function fetchJson(path) {
  try {
    return JSON.parse(new TextDecoder().decode(await fetchBytes(path)));
  } catch (e) {
    return { error: e.message };
  }
}

function describe(net, evalReport) {
  const layers = net.activationLayerNames();
  const xs = Float32Array.from({ length: 161 }, (_, i) => -4 + i * 0.05);
  return {
    name: net.name(),
    config: JSON.parse(net.configJson()),
    layers,
    curveX: Array.from(xs),
    curves: layers.map((_, i) => Array.from(net.curve(i, xs))),
    coefficients: layers.map((_, i) => Array.from(net.coefficients(i))),
    eval: evalReport,
  };
}

async function load({ arch }) {
  await wasmReady;
  if (!nets.has(arch)) {
    const entry = { info: {} };
    for (const v of VARIANTS) {
      const bytes = await fetchBytes(`models/${arch}-${v}.safetensors`);
      let net;
      try {
        net = new Network(bytes);
      } catch (e) {
        throw new Error(`models/${arch}-${v}.safetensors: ${e.message}`);
      }
      if (net.name() !== `${arch}-${v}`) throw new Error(`models/${arch}-${v}.safetensors holds ${net.name()}`);
      entry[v] = net;
      entry.info[v] = describe(net, await fetchJson(`models/${arch}-${v}.eval.json`));
    }
    nets.set(arch, entry);
  }
  return nets.get(arch).info;
}

function pair(arch) {
  const entry = nets.get(arch);
  if (!entry) throw new Error(`model ${arch} is not loaded`);
  return entry;
}

function checkPixels(pixels) {
  if (!(pixels instanceof Float32Array) || pixels.length === 0 || pixels.length % PIXELS !== 0) {
    throw new Error('expected 28×28 images as a Float32Array');
  }
}

function predict({ arch, pixels }) {
  checkPixels(pixels);
  const p = pair(arch);
  const out = {};
  for (const v of VARIANTS) out[v] = p[v].predict(pixels);
  // Pre-activations of the SPLASH network for this digit, one array per activation layer.
  out.preActivations = p.info.splash.layers.map((_, i) => p.splash.preActivations(i));
  return out;
}

function attackParams({ eps, method, steps }) {
  if (!(eps >= 0 && eps <= 0.5)) throw new Error(`ε must be between 0 and 0.5, got ${eps}`);
  if (method === 'fgsm') return { steps: 1, step: eps, random: false };
  const n = Math.round(steps);
  if (!(n >= 1 && n <= 100)) throw new Error(`steps must be between 1 and 100, got ${steps}`);
  // Step size 2.5·ε/steps (Madry et al.), so the walk can reach the ε-ball's surface.
  return { steps: n, step: eps === 0 ? 0 : (2.5 * eps) / n, random: method === 'pgd' };
}

function attack({ arch, pixels, label, targeted, target, eps, method, steps, source, seed }) {
  checkPixels(pixels);
  const p = pair(arch);
  const a = attackParams({ eps, method, steps });
  const cls = Uint32Array.of(targeted ? target : label);
  const craft = (v) => p[v].attack(pixels, cls, targeted, eps, a.steps, a.step, a.random, seed >>> 0);
  const rows = [];
  for (const victim of VARIANTS) {
    const crafter = source === 'transfer' ? VARIANTS.find((v) => v !== victim) : victim;
    const adv = craft(crafter);
    rows.push({ victim, crafter, adv, clean: p[victim].predict(pixels), probs: p[victim].predict(adv) });
  }
  return { rows };
}

async function heldoutDigits() {
  if (!heldout) {
    const [images, labels] = await Promise.all([fetchBytes('data/heldout-images.bin'), fetchBytes('data/heldout-labels.bin')]);
    if (images.length !== labels.length * PIXELS) throw new Error('data/heldout-images.bin does not match its labels');
    heldout = { images, labels };
  }
  return heldout;
}

const argmax = (a, off) => {
  let best = 0;
  for (let k = 1; k < 10; k++) if (a[off + k] > a[off + best]) best = k;
  return best;
};

async function robustness({ arch, n, epsilons, source }, id) {
  const p = pair(arch);
  const { images, labels } = await heldoutDigits();
  const total = Math.min(n, labels.length);
  const correct = Object.fromEntries(VARIANTS.map((v) => [v, new Array(epsilons.length).fill(0)]));
  const eps = Float32Array.from(epsilons);
  const chunk = arch === 'allcnn' ? 10 : 25;
  for (let start = 0; start < total; start += chunk) {
    if (cancelled.has(id)) {
      cancelled.delete(id);
      return { cancelled: true, done: start, total, correct };
    }
    const end = Math.min(total, start + chunk);
    const m = end - start;
    const x = new Float32Array(m * PIXELS);
    for (let i = 0; i < x.length; i++) x[i] = images[start * PIXELS + i] / 255;
    const y = Uint32Array.from(labels.subarray(start, end));
    for (const victim of VARIANTS) {
      const crafter = source === 'transfer' ? VARIANTS.find((v) => v !== victim) : victim;
      const advs = p[crafter].fgsmSweep(x, y, eps);
      for (let e = 0; e < epsilons.length; e++) {
        const probs = p[victim].predict(advs.subarray(e * m * PIXELS, (e + 1) * m * PIXELS));
        for (let i = 0; i < m; i++) if (argmax(probs, i * 10) === y[i]) correct[victim][e]++;
      }
    }
    postMessage({ id, progress: { done: end, total, correct } });
    await new Promise((r) => setTimeout(r, 0)); // let a cancel message in
  }
  return { cancelled: false, done: total, total, correct };
}

function preprocess({ rgba, width, height }) {
  return preprocessCanvas(rgba, width, height);
}

const handlers = { load, predict, attack, robustness, preprocess, heldout: heldoutDigits };

self.onmessage = async ({ data }) => {
  const { id, type, ...args } = data;
  if (type === 'cancel') {
    cancelled.add(args.target);
    return;
  }
  try {
    await wasmReady;
    const handler = handlers[type];
    if (!handler) throw new Error(`unknown request ${type}`);
    const result = await handler(args, id);
    postMessage({ id, ok: true, result });
  } catch (e) {
    postMessage({ id, ok: false, error: e && e.message ? e.message : String(e) });
  }
};
