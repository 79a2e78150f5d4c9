// The inference worker: owns the WebAssembly networks so that drawing never waits for them.
// The page runs one for everything and, for robustness curves, a few more (one per core),
// each with its own wasm instance. Attacks are described by the core's AttackSpec (sent as
// a plain object); its defaults, bounds and step-size rule live in Rust, not here.
// Messages in: {id, type, ...args}; out: {id, ok, result} | {id, ok: false, error}.
import { SETS, VARIANTS, modelFiles } from './models.js';
import init, { Network, attackLimits, describeAdversarialTraining, describeAttack, modelConstants, parseAttack, preprocessCanvas } from './pkg/splash.js';
import { wasmBuild } from './wasm-build.js';

// The relaxed-SIMD build where the browser has it (wasm-build.js); the page passes ?wasm= on.
const build = wasmBuild(self.location.search);
const wasmReady = init({ module_or_path: new URL(`./pkg/${build.file}`, import.meta.url) }).catch((e) => {
  throw new Error(`the WebAssembly module failed to load (${e.message || e}); rebuild it with scripts/serve.sh`);
});

const nets = new Map(); // model set (models.js) -> {splash: Network, relu: Network, info}
let PIXELS = 0; // the core's, once the module is loaded
// (A failed load is reported by every request, which awaits wasmReady; this branch must not
// leave an unhandled rejection of its own.)
wasmReady.then(() => {
  PIXELS = modelConstants().pixels;
}, () => {});

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
  const config = net.config();
  const xs = Float32Array.from({ length: 161 }, (_, i) => -4 + i * 0.05);
  return {
    name: net.name(),
    config,
    // How it was adversarially trained, in the core's words (null: it was not).
    adversarialTraining: config.recipe?.adversarial ? describeAdversarialTraining(config.recipe.adversarial).short : null,
    layers,
    sites: net.activationSites(),
    curveX: Array.from(xs),
    curves: layers.map((_, i) => Array.from(net.curve(i, xs))),
    coefficients: layers.map((_, i) => Array.from(net.coefficients(i))),
    eval: evalReport,
  };
}

const loading = new Map(); // model set -> its load, while it runs

/**
 * Loads the model set `arch` (models.js) from its files, or, given `custom` ({splash, relu}:
 * .safetensors bytes, trained in the page or a visitor's file), from those bytes under the
 * key `arch`. The core validates every file; a bad one is an error naming it.
 */
async function load({ arch, custom }) {
  if (nets.has(arch)) return nets.get(arch).info;
  if (custom) return loadSet(arch, custom);
  // The worker starts the page's first set by itself (`firstSet` below); the page's own
  // request for it, or any request for a set already loading, waits for that same load.
  if (!loading.has(arch)) {
    const job = loadSet(arch, null);
    loading.set(arch, job);
    job.then(
      () => loading.delete(arch),
      () => loading.delete(arch),
    );
  }
  return loading.get(arch);
}

async function loadSet(arch, custom) {
  // A set's four files download together, and while the module compiles.
  const files = custom
    ? VARIANTS.map((v) => ({ f: { weights: custom.names?.[v] ?? `the ${v} file` }, bytes: custom[v], report: { error: 'no evaluation report (trained here or loaded from a file)' } }))
    : await Promise.all(
        VARIANTS.map(async (v) => {
          const f = modelFiles(arch, v);
          const [bytes, report] = await Promise.all([fetchBytes(f.weights), fetchJson(f.report)]);
          return { f, bytes, report };
        }),
      );
  await wasmReady;
  if (nets.has(arch)) return nets.get(arch).info;
  const entry = { info: {}, bytes: {} };
  try {
    for (const [i, v] of VARIANTS.entries()) {
      const { f, bytes, report } = files[i];
      let net;
      try {
        net = new Network(bytes);
      } catch (e) {
        throw new Error(`${f.weights}: ${e.message}`);
      }
      entry[v] = net;
      if (!custom && net.name() !== f.name) throw new Error(`${f.weights} holds ${net.name()}, not ${f.name}`);
      entry.bytes[v] = bytes;
      entry.info[v] = describe(net, report);
    }
  } catch (e) {
    for (const v of VARIANTS) entry[v]?.free();
    throw e;
  }
  if (custom) {
    // One custom pair at a time: free the one it replaces.
    for (const [key, old] of nets) {
      if (key.startsWith('custom-')) {
        for (const v of VARIANTS) old[v].free();
        old.bent?.free();
        nets.delete(key);
      }
    }
  }
  nets.set(arch, entry);
  return entry.info;
}

/** The .safetensors bytes of both networks of a loaded (or loadable) set. */
async function bytes({ arch }) {
  await load({ arch });
  const { bytes: b } = pair(arch);
  return { splash: b.splash.slice(), relu: b.relu.slice() };
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

/** Validates an attack (a plain AttackSpec object) in the core and describes it. */
function describe_({ spec }) {
  return describeAttack(spec);
}

function attack({ arch, pixels, label, targeted, target, spec, source }) {
  checkPixels(pixels);
  const p = pair(arch);
  const cls = Uint32Array.of(targeted ? target : label);
  const rows = [];
  for (const victim of VARIANTS) {
    const crafter = source === 'transfer' ? VARIANTS.find((v) => v !== victim) : victim;
    const r = p[crafter].attack(pixels, cls, targeted, spec);
    const adv = r.adversarial;
    const queries = r.queries[0];
    r.free();
    const trace = p[victim].perturbationTrace(pixels, adv);
    rows.push({ victim, crafter, adv, queries, trace, clean: p[victim].predict(pixels), probs: p[victim].predict(adv) });
  }
  return { rows, about: describe_({ spec }) };
}

/**
 * Each network's breaking point on one digit: the smallest ε (to within `tolerance`) at
 * which the attack, white-box, fools it; bisection in the core.
 */
function breakingPoints({ arch, pixels, label, spec, maxEpsilon, tolerance }) {
  checkPixels(pixels);
  const p = pair(arch);
  return Object.fromEntries(VARIANTS.map((v) => [v, p[v].breakingPoint(pixels, label, spec, maxEpsilon, tolerance)]));
}

/**
 * Robustness of one chunk of digits under each attack in `specs` at every ε: per network,
 * per ε, the number of digits robust under each attack and under all of them (the worst
 * case). White-box: each network attacked with its own gradient; transfer: crafted on the
 * other one.
 */
function robustChunk({ arch, pixels, labels, specs, epsilons, source }) {
  checkPixels(pixels);
  const p = pair(arch);
  const m = labels.length;
  const eps = Float32Array.from(epsilons);
  const out = {};
  for (const victim of VARIANTS) {
    const crafter = source === 'transfer' ? VARIANTS.find((v) => v !== victim) : victim;
    const all = new Uint8Array(eps.length * m).fill(1);
    const each = [];
    for (const spec of specs) {
      // A name such as 'pgd-40-r5-margin' is read by the core; an object is an AttackSpec.
      const attack = typeof spec === 'string' ? parseAttack(spec) : spec;
      const r = crafter === victim
        ? p[victim].robustness(pixels, labels, attack, eps)
        : p[crafter].robustnessTransfer(p[victim], pixels, labels, attack, eps);
      const flags = r.robust;
      r.free();
      const counts = new Array(eps.length).fill(0);
      for (let e = 0; e < eps.length; e++) {
        for (let i = 0; i < m; i++) {
          const ok = flags[e * m + i];
          counts[e] += ok;
          all[e * m + i] &= ok;
        }
      }
      each.push(counts);
    }
    const worst = new Array(eps.length).fill(0);
    for (let e = 0; e < eps.length; e++) for (let i = 0; i < m; i++) worst[e] += all[e * m + i];
    out[victim] = { each, worst };
  }
  return out;
}

/**
 * "Bend a curve": a copy of the SPLASH network with one layer's coefficients replaced; its
 * curve for that layer, its answer on the digit and, given an attack, the attacked answer.
 */
function bend({ arch, layer, coefficients, pixels, label, targeted, target, spec }) {
  checkPixels(pixels);
  const p = pair(arch);
  p.bent ??= new Network(p.bytes.splash);
  // Every layer back to its learned curve, then the one being bent.
  p.info.splash.coefficients.forEach((c, i) => p.bent.setCoefficients(i, Float32Array.from(c)));
  p.bent.setCoefficients(layer, Float32Array.from(coefficients));
  const out = { curve: Array.from(p.bent.curve(layer, Float32Array.from(p.info.splash.curveX))), probs: p.bent.predict(pixels) };
  if (spec && (targeted || label !== null)) {
    const r = p.bent.attack(pixels, Uint32Array.of(targeted ? target : label), targeted, spec);
    const adv = r.adversarial;
    r.free();
    out.advProbs = p.bent.predict(adv);
  }
  return out;
}

function preprocess({ rgba, width, height }) {
  return preprocessCanvas(rgba, width, height);
}

const limits = () => attackLimits();
const constants = () => ({ ...modelConstants(), wasm: build.name, wasmDescription: build.description });

// The set the page will show first (client.js: `firstSet`), loaded before it is asked for.
const firstSet = new URLSearchParams(self.location.search).get('set');
if (SETS.includes(firstSet)) load({ arch: firstSet }).catch(() => {}); // the page's own request reports errors

const handlers = { load, bytes, predict, attack, breakingPoints, robustChunk, bend, preprocess, describe: describe_, limits, constants };

self.onmessage = async ({ data }) => {
  const { id, type, ...args } = data;
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
