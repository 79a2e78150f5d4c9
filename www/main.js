// The page: wires the panels to the worker and keeps the view's state in the URL.
import { engine } from './boot.js';
import { FIELD_BOUNDS, decodePixels, encodePixels, modelSet, readState, writeState } from './state.js';
import { STUDIES, VARIANTS, modelFiles, setOf } from './models.js';
import { PIXELS, argmax, coalesce, drawDigit, el, pct, throttle } from './util.js';
import { createPad } from './panels/draw.js';
import { createPredictions } from './panels/predictions.js';
import { createGallery, loadHeldout } from './panels/gallery.js';
import { renderAttack } from './panels/attack.js';
import { CURVE_ATTACKS, CURVE_EPSILONS, attacksFor, createRobustness, seedSpread, trainingComparison, verdict, verdictEpsilon, verdictTable } from './panels/robustness.js';
import { Pool, poolSize } from './pool.js';
import { createCurves } from './panels/curves.js';
import { createStrip } from './panels/strip.js';
import { createTravel } from './panels/travel.js';
import { createBend } from './panels/bend.js';
import { createTrainPanel } from './panels/train.js';

const $ = (id) => document.getElementById(id);
const state = readState();
const ARCH_NAMES = { lenet5: 'LeNet5', allcnn: 'All-CNN' };
const TRAINING_NAMES = { standard: 'standard training', adv: 'adversarial training (ε = 0.1)', 'adv-0.3': 'adversarial training (ε = 0.3)' };
/** The attack panel's loss for its method and goal: margin is PGD's and BIM's, and DLR is
 * defined against the true label, so a targeted attack takes cross-entropy instead. */
const attackLoss = () => {
  if (state.loss === 'margin' && state.method === 'apgd') return 'ce';
  if (state.loss === 'dlr' && state.goal === 'targeted') return 'ce';
  return state.loss;
};
const debug = (globalThis.__splash = { ready: false, errors: [] }); // read by the browser tests

// The explanation opens on a first visit only (a shared link with a query is still a first
// visit); from the next visit on it starts closed. Decided first, before this file yields to
// the worker (below), so that the page does not open it late.
const INTRO_SEEN = 'splash-intro-seen';
try {
  if (!localStorage.getItem(INTRO_SEEN)) {
    $('intro').open = true;
    localStorage.setItem(INTRO_SEEN, '1');
  }
} catch {
  // Storage blocked: keep the explanation closed.
}

// ---- status and errors --------------------------------------------------------------------
function setStatus(text, busy = false) {
  $('status').textContent = text;
  $('status').classList.toggle('busy', busy);
}
function showError(err) {
  const msg = err instanceof Error ? err.message : String(err);
  debug.errors.push(msg);
  $('error-text').textContent = msg;
  $('error-banner').hidden = false;
}
$('error-close').addEventListener('click', () => {
  $('error-banner').hidden = true;
});

engine.onFatal = (err) => {
  showError(err);
  setStatus('The inference worker stopped', false);
};
// The page's one copy of the image size (util.js) must be the core's.
let maxBent = null; // the core's bound on a bent SPLASH coefficient
engine
  .call('constants')
  .then((c) => {
    if (c.pixels !== PIXELS) showError(`util.js says ${PIXELS} pixels per image, the core ${c.pixels}`);
    maxBent = c.max_bent_coefficient;
    bend?.setLimit(maxBent);
    const build = document.getElementById('wasm-build');
    build.textContent = ` This browser runs its ${c.wasmDescription} build.`;
    build.dataset.build = c.wasm;
  })
  .catch(() => {}); // a module that fails to load is reported by the model loading

// ---- state ----------------------------------------------------------------------------------
let info = null; // per-variant descriptions of the loaded pair
// A pair that is not one of the page's model sets: trained in the page or loaded from a
// visitor's file ({key, bytes: {splash, relu}, names, how: {splash, relu}}), or null.
let custom = null;
let customSerial = 0;
/** The key of the pair every panel uses (a model set, or the custom pair's key). */
const currentSet = () => custom?.key ?? modelSet(state);
/** The worker request that loads the current pair. */
const loadRequest = () => (custom ? { arch: custom.key, custom: { ...custom.bytes, names: custom.names } } : { arch: modelSet(state) });
let input = null; // {pixels: Float32Array, label: number|null, source: 'drawn'|'gallery'}
let heldout = null;
let gallery = null;
// The URL mirrors the view, written at most every 300 ms: browsers limit how often a page
// may call history.replaceState (WebKit throws after 100 calls in 30 s), and a throw here
// must never stop the update that asked for the write.
let saveTimer = null;
const save = () => {
  clearTimeout(saveTimer);
  debug.urlPending = true;
  saveTimer = setTimeout(() => {
    try {
      writeState(state);
    } catch {
      // Over the browser's limit: the next change writes the whole state again.
    }
    debug.urlPending = false;
  }, 300);
};

// ---- panels ---------------------------------------------------------------------------------
let predictions;
let robustness;
let curves;
let travel;
let bend;
// The held-out digits download while the panels are built (shown at the end of this file).
const heldoutLoading = loadHeldout();
// Building the charts takes this thread a few hundred ms, and the worker (boot.js) needs it
// for a moment to start: so it yields once first. Not on a visit served by the service
// worker, where everything is at hand and the yield only delayed the first bars (measured:
// README, "How quickly the page answers").
const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));
const strip = createStrip($('strip'), [$('predict-panel'), $('attack-results')]);
try {
  if (!navigator.serviceWorker?.controller) await nextTask();
  predictions = createPredictions();
  predictions.clear();
  curves = createCurves($('curves'), $('coeffs'));
  robustness = createRobustness($('curve-chart'));
  travel = createTravel($('travel-chart'));
  bend = createBend($('bend'), { onChange: () => bendSoon() });
  if (maxBent) bend.setLimit(maxBent);
} catch (e) {
  showError(e);
}

const pad = createPad($('pad'), {
  onStroke: () => {
    $('pad-hint').hidden = true;
    drawnChanged();
  },
  onEnd: () => drawnChanged(),
});
$('brush').addEventListener('input', (e) => pad.setBrush(Number(e.target.value)));

function clearInput() {
  pad.clear();
  drawnLabel = null;
  drawingSerial++;
  $('pad-hint').hidden = false;
  input = null;
  state.digit = null;
  state.drawn = null;
  state.truth = null;
  save();
  gallery?.select(null);
  drawDigit($('preview'), new Float32Array(PIXELS));
  $('digit-source').textContent = '—';
  predictions?.clear();
  strip.clear();
  travel?.clear();
  runBend();
  curves?.setPreActivations(null);
  $('attack-results').replaceChildren(Object.assign(document.createElement('p'), { className: 'placeholder', textContent: 'Draw or pick a digit, then attack.' }));
  updateLabelChoices();
}
$('clear').addEventListener('click', clearInput);

// Drawing: preprocess in the worker (the core's own preprocessing), then predict, at most
// one request in flight and about 12 per second, so the pen never waits.
const classifyDrawing = coalesce(async () => {
  if (pad.isEmpty()) return;
  const img = pad.read();
  let pixels;
  try {
    pixels = await engine.call('preprocess', { rgba: img.data, width: img.width, height: img.height }, { transfer: [img.data.buffer] });
  } catch (e) {
    input = null;
    predictions?.clear(e.message.includes('empty') ? 'draw a digit' : e.message);
    return;
  }
  if (state.digit !== null) {
    state.digit = null;
    gallery?.select(null);
  }
  if (input?.source !== 'drawn') {
    drawnLabel = null;
    drawingSerial++;
  }
  state.drawn = encodePixels(pixels);
  state.truth = drawnLabel;
  save();
  input = { pixels, label: null, source: 'drawn', key: `drawn-${drawingSerial}` };
  $('digit-source').textContent = 'your drawing';
  drawDigit($('preview'), pixels);
  await refresh();
});
const drawnChanged = throttle(() => classifyDrawing(), 80);

function pickDigit(i) {
  if (!heldout) return;
  if (!(i >= 0 && i < heldout.count)) {
    showError(`there is no held-out digit #${i} (there are ${heldout.count})`);
    state.digit = null;
    save();
    return;
  }
  const bytes = heldout.image(i);
  const pixels = Float32Array.from(bytes, (v) => v / 255);
  input = { pixels, label: heldout.labels[i], source: 'gallery', key: `digit-${i}` };
  state.digit = i;
  state.drawn = null;
  state.truth = null;
  save();
  gallery.select(i);
  drawDigit($('preview'), pixels);
  pad.show($('preview'));
  $('pad-hint').hidden = true;
  $('digit-source').textContent = `held-out digit #${i}, label ${input.label}`;
  refresh();
}

// ---- predictions and activations -----------------------------------------------------------
let lastPrediction = null;
const refresh = coalesce(async () => {
  if (!input || !info) return;
  const current = input;
  try {
    const out = await engine.call('predict', { arch: currentSet(), pixels: current.pixels });
    if (current !== input) return;
    lastPrediction = out;
    debug.input = Array.from(current.pixels);
    debug.predictions = { splash: Array.from(out.splash), relu: Array.from(out.relu) };
    predictions.update(out);
    // For scripts/bench-responsiveness.mjs: when bars were first and last updated.
    if (!performance.getEntriesByName('splash:first-predictions').length) performance.mark('splash:first-predictions');
    performance.clearMarks('splash:predictions');
    performance.mark('splash:predictions');
    strip.setAnswers(current.pixels, out);
    strip.setAttack('');
    curves.setPreActivations(out.preActivations);
    updateLabelChoices();
    await runAttack();
    runBend();
  } catch (e) {
    showError(e);
  }
});

// ---- attack ---------------------------------------------------------------------------------
function fillSelect(sel, options, value) {
  sel.replaceChildren(...options.map(([v, text]) => Object.assign(document.createElement('option'), { value: String(v), textContent: text })));
  sel.value = String(value);
}
fillSelect($('target'), [...Array(10).keys()].map((k) => [k, String(k)]), state.target);

// The true label of a gallery digit is known; a drawn digit's comes from the visitor, never
// from a network's guess (that would make one side of the comparison the judge).
let drawnLabel = null;
function trueLabel() {
  if (input?.source === 'gallery') return input.label;
  return drawnLabel;
}
function updateLabelChoices() {
  const sel = $('label');
  if (input?.source === 'gallery') {
    fillSelect(sel, [[input.label, `${input.label} (true label)`]], input.label);
    sel.disabled = true;
  } else {
    const guess = lastPrediction && input ? ` — SPLASH says ${argmax(lastPrediction.splash)}, ReLU says ${argmax(lastPrediction.relu)}` : '';
    fillSelect(sel, [['', `which digit did you draw?${guess}`], ...[...Array(10).keys()].map((k) => [k, String(k)])], drawnLabel ?? '');
    sel.disabled = !input;
  }
}
$('label').addEventListener('change', (e) => {
  drawnLabel = e.target.value === '' ? null : Number(e.target.value);
  if (input?.source === 'drawn') {
    state.truth = drawnLabel;
    save();
  }
  runAttack();
});

function syncControls() {
  $('eps').value = String(state.eps);
  $('eps-value').textContent = state.eps.toFixed(2);
  $('method').value = state.method;
  $('steps').value = String(state.steps);
  $('restarts').value = String(state.restarts);
  $('loss').value = attackLoss();
  $('loss').querySelector('option[value=margin]').disabled = state.method === 'apgd';
  $('loss').querySelector('option[value=dlr]').disabled = state.goal === 'targeted';
  for (const r of document.querySelectorAll('input[name=training][value="adv-0.3"]')) r.disabled = !setOf(state.arch, 'adv-0.3');
  $('queries').value = String(state.queries);
  $('curve-attack').value = state.curve;
  $('restarts-label').classList.toggle('hidden', !['pgd', 'apgd', 'square'].includes(state.method));
  $('loss-label').classList.toggle('hidden', !['bim', 'pgd', 'apgd'].includes(state.method));
  $('queries-label').classList.toggle('hidden', state.method !== 'square');
  $('attack-run').classList.toggle('hidden', !['pgd', 'apgd', 'square'].includes(state.method));
  $('goal').value = state.goal;
  $('target').value = String(state.target);
  $('source').value = state.source;
  $('curve-n').value = String(state.n);
  $('steps-label').classList.toggle('hidden', !['bim', 'pgd', 'apgd'].includes(state.method));
  $('target-label').classList.toggle('hidden', state.goal !== 'targeted');
  for (const r of document.querySelectorAll('input[name=arch]')) r.checked = r.value === state.arch;
  for (const r of document.querySelectorAll('input[name=training]')) r.checked = r.value === state.training;
}

/** The attack panel's AttackSpec (bounds, defaults and the step-size rule are the core's). */
function attackSpec(seed) {
  const spec = { method: state.method, epsilon: state.eps, seed };
  const iterative = ['bim', 'pgd', 'apgd'].includes(state.method);
  if (iterative) spec.steps = state.steps;
  if (['pgd', 'apgd', 'square'].includes(state.method)) spec.restarts = state.restarts;
  if (state.method === 'square') spec.queries = state.queries;
  // FGSM uses cross-entropy and Square the margin (the core's defaults for them).
  if (iterative) spec.loss = attackLoss();
  // Show the full-strength perturbation of a gradient attack; Square stops at success, so
  // its query count says how hard the digit was to break.
  spec.early_stop = state.method === 'square';
  return spec;
}

let attackSeed = 1;
const runAttack = coalesce(async () => {
  if (!input || !info) return;
  const targeted = state.goal === 'targeted';
  const label = trueLabel();
  debug.awaitingLabel = label === null && !targeted;
  if (debug.awaitingLabel) {
    $('attack-results').replaceChildren(el('p', { class: 'placeholder', text: 'Which digit did you draw? Choose the true label above: an untargeted attack needs it, and it is never taken from either network.' }));
    delete debug.attack;
    return;
  }
  const settings = { eps: state.eps, method: state.method, steps: state.steps, goal: state.goal, target: state.target, source: state.source, label };
  const current = input;
  $('attack-results').classList.add('stale');
  $('attack-busy').hidden = false;
  try {
    const result = await engine.call('attack', {
      arch: currentSet(),
      pixels: current.pixels,
      label: label ?? 0,
      targeted,
      target: state.target,
      spec: attackSpec(attackSeed),
      source: state.source,
    });
    if (current !== input) return;
    debug.attack = { settings, about: result.about, rows: result.rows.map((r) => ({ victim: r.victim, crafter: r.crafter, adv: Array.from(r.adv), probs: Array.from(r.probs), queries: r.queries, trace: Array.from(r.trace) })) };
    renderAttack($('attack-results'), { result, input: current, settings });
    travel.update(result.rows, info.splash.layers);
    runBend();
    if (targeted) $('breaking-now').textContent = 'The breaking point is measured for untargeted attacks.';
    else updateBreaking();
    // One short sentence for screen readers instead of the whole panel.
    $('attack-summary').textContent = [...document.querySelectorAll('#attack-results .attack-row')]
      .map((card) => `${card.querySelector('h3').textContent}: ${card.querySelector('.verdict').firstChild.textContent}`)
      .join('. ');
    const short = { splash: 'SPLASH', relu: 'ReLU' };
    strip.setAttack(`${result.about.name} at ε = ${state.eps.toFixed(2)}: ${result.rows
      .map((r) => {
        const now = argmax(r.probs);
        const fooled = targeted ? now === state.target : now !== label;
        return `${short[r.victim]} ${fooled ? `fooled → ${now}` : `holds (${now})`}`;
      })
      .join(' · ')}`);
  } catch (e) {
    showError(e);
  } finally {
    $('attack-results').classList.remove('stale');
    $('attack-busy').hidden = true;
  }
});
const attackSoon = throttle(() => runAttack(), 60);

// ---- bend a curve ---------------------------------------------------------------------------
const runBend = coalesce(async () => {
  if (!bend || !info) return;
  const { layer, coefficients } = bend.current();
  if (!bend.bent()) curves.setBent(layer, null);
  if (!input) {
    bend.say('Draw or pick a digit to try a curve.', true);
    return;
  }
  const current = input;
  const label = trueLabel();
  const targeted = state.goal === 'targeted';
  try {
    const r = await engine.call('bend', { arch: currentSet(), layer, coefficients, pixels: current.pixels, label, targeted, target: state.target, spec: attackSpec(attackSeed) });
    if (current !== input) return;
    if (bend.bent()) curves.setBent(layer, r.curve);
    const top = argmax(r.probs);
    const learnedTop = lastPrediction ? argmax(lastPrediction.splash) : null;
    const parts = [`With ${bend.bent() ? 'this bent' : 'the learned'} curve in ${info.splash.layers[layer]}, SPLASH says ${top} (${pct(r.probs[top])})${bend.bent() && learnedTop !== null ? `; with the learned one it says ${learnedTop}` : ''}.`];
    if (r.advProbs) {
      const now = argmax(r.advProbs);
      const fooled = targeted ? now === state.target : now !== label;
      parts.push(`Under the attack above (${state.method}, ε = ${state.eps.toFixed(2)}, white-box on this network) it is ${fooled ? `fooled: ${now}` : `not fooled: ${now}`} (${pct(r.advProbs[now])}).`);
    } else {
      parts.push('Choose the true label above to see the attack on it.');
    }
    bend.say(parts.join(' '));
    debug.bend = { layer, coefficients, probs: Array.from(r.probs), advProbs: r.advProbs ? Array.from(r.advProbs) : null, curve: r.curve };
  } catch (e) {
    showError(e);
  }
});
const bendSoon = throttle(() => runBend(), 60);

// ---- breaking point -------------------------------------------------------------------------
// Per digit and attack, each network's smallest fooling ε; a tally over the visitor's digits.
const BREAK_MAX = 0.5;
const BREAK_TOL = 0.005;
const tally = new Map(); // `${digit}|${attack}` -> {splash, relu} (breaks_at or null)
let drawingSerial = 0; // one number per drawing (a new one after Clear)
let breakFor = null; // {input, name} of the breaking point shown
const fmtEps = (b) => (b.breaks_at === null ? `holds up to ${BREAK_MAX}` : b.breaks_at === 0 ? 'wrong already at ε = 0' : `ε ≈ ${b.breaks_at.toFixed(3)}`);
const updateBreaking = coalesce(async () => {
  if (!input || !info) return;
  const label = trueLabel();
  if (label === null) {
    $('breaking-now').textContent = 'Choose the true label above to see where each network breaks.';
    return;
  }
  const spec = { ...attackSpec(1), early_stop: true };
  delete spec.epsilon;
  const name = JSON.stringify(spec);
  if (breakFor?.input === input && breakFor.name === name && breakFor.set === currentSet()) return;
  const current = input;
  $('breaking-now').textContent = 'searching…';
  try {
    const set = currentSet();
    const b = await engine.call('breakingPoints', { arch: set, pixels: current.pixels, label, spec, maxEpsilon: BREAK_MAX, tolerance: BREAK_TOL });
    if (current !== input || set !== currentSet()) return;
    breakFor = { input: current, name, set };
    tally.set(`${set}|${current.key}|${name}`, { splash: b.splash.breaks_at, relu: b.relu.breaks_at, attack: name, set });
    $('breaking-now').textContent = `SPLASH: ${fmtEps(b.splash)} · ReLU: ${fmtEps(b.relu)}`;
    const same = [...tally.values()].filter((t) => t.attack === name && t.set === set);
    const later = (a, c) => same.filter((t) => (t[a] ?? Infinity) > (t[c] ?? Infinity)).length;
    const mean = (v) => {
      const xs = same.map((t) => t[v] ?? BREAK_MAX);
      return (xs.reduce((x, y) => x + y, 0) / xs.length).toFixed(3);
    };
    $('breaking-tally').textContent = `Your ${same.length} digit${same.length === 1 ? '' : 's'} with this attack: SPLASH broke later on ${later('splash', 'relu')}, ReLU on ${later('relu', 'splash')}; mean breaking ε SPLASH ${mean('splash')}, ReLU ${mean('relu')} (a network that holds to ${BREAK_MAX} counts as ${BREAK_MAX}).`;
    debug.breaking = { label, spec, splash: b.splash, relu: b.relu, tally: same.length };
  } catch (e) {
    showError(e);
  }
});

$('eps').addEventListener('input', (e) => {
  state.eps = Number(e.target.value);
  $('eps-value').textContent = state.eps.toFixed(2);
  save();
  attackSoon();
});
for (const [id, key, parse] of [
  ['method', 'method', String],
  ['loss', 'loss', String],
  ['goal', 'goal', String],
  ['target', 'target', Number],
  ['source', 'source', String],
]) {
  $(id).addEventListener('change', (e) => {
    state[key] = parse(e.target.value);
    save();
    syncControls();
    if (key === 'source') {
      stopCurve('the mode changed');
      showReference();
    }
    runAttack();
  });
}
for (const [key, [lo, hi]] of Object.entries(FIELD_BOUNDS)) {
  Object.assign($(key), { min: String(lo), max: String(hi) });
  $(key).addEventListener('change', (e) => {
    const v = Number(e.target.value);
    if (!(Number.isInteger(v) && v >= lo && v <= hi)) {
      showError(`${key} must be a whole number from ${lo} to ${hi}`);
      e.target.value = String(state[key]);
      return;
    }
    state[key] = v;
    save();
    runAttack();
  });
}
$('attack-run').addEventListener('click', () => {
  attackSeed++;
  if (!input) showError('Draw or pick a digit first.');
  runAttack();
});

// ---- robustness curve and verdict ----------------------------------------------------------
fillSelect($('curve-attack'), CURVE_ATTACKS, state.curve);
const pool = new Pool(engine, showError);
let curveRun = null; // {done: Promise, cancel, why}

function showReference() {
  if (!info) return;
  $('curve-reference').textContent = robustness.setReference(info, state.source, state.curve);
  $('verdict-table').replaceChildren(verdictTable(info, state.source));
}

/** The seed studies' results by model set, as they arrive (optional: none, no sentence). */
const studies = new Map();
for (const [set, { file }] of Object.entries(STUDIES)) {
  fetch(file)
    .then((r) => (r.ok ? r.json() : null))
    .then((study) => {
      if (!study) return;
      studies.set(set, study);
      if (set === currentSet() && !custom && info) showVerdict();
    })
    .catch(() => undefined);
}

function showVerdict() {
  if (custom) {
    const text = `Now showing ${custom.how.splash} (left) and ${custom.how.relu} (right). No evaluation report comes with them: measure them with the robustness curve (panel 4), then compare with the pretrained models.`;
    for (const id of ['verdict', 'verdict-panel']) $(id).textContent = text;
    debug.verdict = { text };
    return;
  }
  const eps = verdictEpsilon(info);
  const v = info && verdict(info, eps);
  const t = twin && verdict(twin.info, eps);
  const adv = state.training !== 'standard';
  const compared = adv ? trainingComparison(t, v, eps) : trainingComparison(v, t, eps);
  const head = adv ? `Adversarially trained ${ARCH_NAMES[state.arch]} (${trainingAttack(info.splash)}): ` : `${ARCH_NAMES[state.arch]}, standard training: `;
  const study = studies.get(currentSet());
  const spread = study ? seedSpread(study, STUDIES[currentSet()].report, STUDIES[currentSet()].epsilons) : null;
  const text = v ? `${head}${v.text}${compared ? ` ${compared}` : ''}${spread ? ` ${spread}` : ''}` : 'The eval reports of these models hold no strong-attack results, so no verdict is shown.';
  for (const id of ['verdict', 'verdict-panel']) $(id).textContent = text;
  debug.verdict = v && { ...v, text, compared };
}

/** Stops a running curve (its live line no longer matches what the page shows). */
function stopCurve(why) {
  if (!curveRun) return;
  curveRun.why = why;
  curveRun.cancel();
  robustness.setLive(null, 0);
}

$('curve-n').addEventListener('change', (e) => {
  state.n = Number(e.target.value);
  save();
});
$('curve-attack').addEventListener('change', (e) => {
  state.curve = e.target.value;
  save();
  stopCurve('the attack changed');
  showReference();
});
$('curve-run').addEventListener('click', async () => {
  if (!info || curveRun || !heldout) return;
  const n = Math.min(state.n, heldout.count);
  const load = loadRequest();
  const attacks = attacksFor(state.curve, info);
  const chunk = state.arch === 'allcnn' ? 8 : 20;
  const jobs = [];
  for (let start = 0; start < n; start += chunk) {
    const end = Math.min(n, start + chunk);
    const pixels = Float32Array.from(heldout.images.subarray(start * PIXELS, end * PIXELS), (v) => v / 255);
    jobs.push({ pixels, labels: Uint32Array.from(heldout.labels.subarray(start, end)), specs: attacks, epsilons: CURVE_EPSILONS, source: state.source });
  }
  const counts = { splash: new Array(CURVE_EPSILONS.length).fill(0), relu: new Array(CURVE_EPSILONS.length).fill(0) };
  let done = 0;
  $('curve-run').disabled = true;
  $('curve-cancel').disabled = false;
  $('curve-progress').value = 0;
  $('curve-status').textContent = `0 / ${n}`;
  robustness.setLive(null, 0);
  const started = performance.now();
  const run = pool.run({
    load,
    jobs,
    size: state.workers ?? poolSize(),
    onResult: (job, r) => {
      done += job.labels.length;
      for (const v of ['splash', 'relu']) r[v].worst.forEach((c, i) => (counts[v][i] += c));
      $('curve-progress').value = done / n;
      $('curve-status').textContent = `${done} / ${n} digits`;
      if (curveRun === handle) robustness.setLive(counts, done);
    },
  });
  const handle = { cancel: run.cancel, why: null };
  curveRun = handle;
  try {
    const r = await run;
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    if (r.cancelled) {
      $('curve-status').textContent = `cancelled after ${done} digits${handle.why ? ` (${handle.why})` : ''}`;
    } else {
      $('curve-status').textContent = `${done} digits in ${secs} s on ${run.workers} workers · clean: SPLASH ${pct(counts.splash[0] / done)}, ReLU ${pct(counts.relu[0] / done)}`;
    }
    debug.curve = { cancelled: r.cancelled, why: handle.why, done, total: n, counts, attacks, arch: load.arch, seconds: Number(secs), workers: run.workers };
  } catch (e) {
    showError(e);
    $('curve-status').textContent = 'failed';
  } finally {
    curveRun = null;
    $('curve-run').disabled = false;
    $('curve-cancel').disabled = true;
  }
});
$('curve-cancel').addEventListener('click', () => stopCurve('cancelled'));

// ---- model loading --------------------------------------------------------------------------
const switches = () => document.querySelectorAll('input[name=arch], input[name=training]');
let twin = null; // the other training's SPLASH description and eval reports, once loaded

/** The training the current one is compared with: standard for adversarially trained
 * networks, ε = 0.1 adversarial training for standard ones. */
const otherTraining = () => (state.training === 'standard' ? 'adv' : 'standard');

/** Loads `arch` trained as `training` ('standard' or 'adv') into every panel; on failure
 * the pair shown before stays. */
async function loadModels(arch, training, pair = null) {
  const next = { arch, training };
  // The curve's status belongs to the networks shown until now: cleared here, at the switch,
  // not once the new ones have loaded, which used to wipe the "cancelled … (the architecture
  // changed)" of a run stopped by this switch whenever its last chunks returned first.
  $('curve-status').textContent = '';
  setStatus(pair ? 'Loading your networks…' : `Loading ${ARCH_NAMES[arch]}, ${TRAINING_NAMES[training]}…`, true);
  for (const r of switches()) r.disabled = true;
  try {
    info = await engine.call('load', pair ? { arch: pair.key, custom: { ...pair.bytes, names: pair.names } } : { arch: modelSet(next) });
    custom = pair;
    if (!pair) Object.assign(state, next);
    save();
    // The digit shown goes to the new networks at once; the panels below are redrawn while
    // the worker answers (its answer is handled after them).
    const answered = input ? refresh() : null;
    twin = null;
    const adv = training !== 'standard';
    const tag = (v) => (pair ? ` (${pair.tag[v]})` : { standard: '', adv: ' (adv.)', 'adv-0.3': ' (adv. ε = 0.3)' }[training]);
    for (const v of VARIANTS) document.querySelector(`[data-role=${v}-name]`).textContent = `${info[v].name}${tag(v)}`;
    const acc = (v) => (info[v].config.test_accuracy ? pct(info[v].config.test_accuracy, 2) : 'n/a');
    $('accuracy-note').textContent = pair
      ? `Showing ${pair.how.splash} and ${pair.how.relu}. ${$('train-result-splash').textContent} ${$('train-result-relu').textContent}`.trim()
      : `${adv ? `Adversarially trained (${trainingAttack(info.splash)}). ` : ''}Test accuracy on the 10,000 MNIST test digits: SPLASH ${acc('splash')}, ReLU ${acc('relu')}.`;
    $('custom-note').hidden = !pair;
    curves.render(info.splash);
    bend.setModel(info.splash);
    showReference();
    showVerdict();
    robustness.setLive(null, 0);
    setStatus('Ready');
    debug.ready = true;
    debug.arch = arch;
    debug.training = training;
    debug.custom = pair ? { key: pair.key, how: pair.how } : null;
    await answered;
    offerOffline();
    if (!pair) loadTwin();
    return true;
  } catch (e) {
    if (pair) {
      setStatus(custom ? 'Still showing your networks' : `Still showing ${ARCH_NAMES[state.arch]}, ${TRAINING_NAMES[state.training]}`);
      throw e;
    }
    showError(e);
    offerOffline();
    if (info) {
      setStatus(`Still showing ${ARCH_NAMES[state.arch]}, ${TRAINING_NAMES[state.training]}`);
      debug.ready = true;
    } else {
      setStatus('Models not loaded');
      predictions?.clear('model not loaded');
    }
  } finally {
    for (const r of switches()) r.disabled = false;
    syncControls();
  }
}

/** How the adversarially trained SPLASH network was trained (the core reads its recipe). */
const trainingAttack = (d) => d.adversarialTraining ?? 'recipe not recorded';

/** The same architecture trained the other way: its SPLASH curves are drawn thin beside the
 * current ones and its reports feed the verdict. Optional: a missing twin changes nothing. */
async function loadTwin() {
  const shown = currentSet();
  const other = { arch: state.arch, training: otherTraining() };
  try {
    const t = await engine.call('load', { arch: modelSet(other) });
    if (currentSet() !== shown) return;
    twin = { training: other.training, info: t };
    curves.render(info.splash, { info: t.splash, label: `SPLASH, ${TRAINING_NAMES[other.training]}` });
    if (lastPrediction) curves.setPreActivations(lastPrediction.preActivations);
    runBend();
    showVerdict();
    debug.twin = other.training;
  } catch {
    debug.twin = null;
  }
}

for (const r of switches()) {
  r.addEventListener('change', () => {
    debug.ready = false;
    stopCurve(r.name === 'arch' ? 'the architecture changed' : 'the training changed');
    const next = { arch: state.arch, training: state.training, [r.name]: r.value };
    // All-CNN has no ε = 0.3 twins: switching to it keeps adversarial training at ε = 0.1.
    if (!setOf(next.arch, next.training)) next.training = 'adv';
    loadModels(next.arch, next.training);
  });
}

// ---- networks trained here or brought by the visitor ---------------------------------------
/** Shows `bytes` ({splash, relu}) in every panel; `how` says where each came from. */
async function useCustom(bytes, how, tag, names) {
  stopCurve('the networks changed');
  const pair = { key: `custom-${++customSerial}`, bytes, how, tag, names };
  const ok = await loadModels(state.arch, state.training, pair);
  if (ok) setStatus(`Showing ${how.splash} and ${how.relu}`);
}
$('use-pretrained').addEventListener('click', () => {
  stopCurve('the networks changed');
  loadModels(state.arch, state.training);
});
try {
  createTrainPanel($('train-panel'), {
    pretrained: () => engine.call('bytes', { arch: 'lenet5' }),
    onError: showError,
    onUse: async ({ splash, relu }) => {
      await useCustom({ splash, relu }, { splash: 'the SPLASH network trained here', relu: 'the ReLU network trained here' }, { splash: 'trained here', relu: 'trained here' }, { splash: 'SPLASH trained here', relu: 'ReLU trained here' });
      $('predict-panel').scrollIntoView({ block: 'start' });
    },
    onUpload: async (bytes, side, fileName) => {
      const base = custom ?? { bytes: await engine.call('bytes', { arch: modelSet(state) }), how: { splash: 'the pretrained SPLASH network', relu: 'the pretrained ReLU network' }, tag: { splash: '', relu: '' }, names: { splash: 'pretrained SPLASH', relu: 'pretrained ReLU' } };
      // Checked by the core before anything changes: a bad file leaves the page as it was.
      await useCustom({ ...base.bytes, [side]: bytes }, { ...base.how, [side]: `your file ${fileName}` }, { ...base.tag, [side]: 'your file' }, { ...base.names, [side]: fileName });
      const arch = (v) => info[v].config.spec.architecture;
      const notes = [];
      if (arch('splash') !== arch('relu')) notes.push(`The two sides now differ in architecture (${info.splash.name} against ${info.relu.name}), so a difference between them is not SPLASH's alone.`);
      if (side === 'splash' && info.splash.config.spec.activation !== 'splash') notes.push(`Its activation is ${info.splash.config.spec.activation}, not SPLASH; panel 5 shows that activation.`);
      return { name: info[side].name, notes };
    },
  });
} catch (e) {
  showError(e);
}

// ---- start ----------------------------------------------------------------------------------
// Offline support (sw.js). A browser without service workers, or one that blocks them, just
// has no offline copy. Registered once the first networks are shown (or failed to load):
// on a first visit its install downloads every file of the page, which would otherwise
// compete with the files the first bars need.
let offlineAsked = false;
function offerOffline() {
  if (offlineAsked || !('serviceWorker' in navigator)) return;
  offlineAsked = true;
  navigator.serviceWorker
    .register('sw.js')
    .then(() => navigator.serviceWorker.ready)
    .then(() => {
      debug.offlineReady = true;
    })
    .catch(() => {});
}
syncControls();
updateLabelChoices();
drawDigit($('preview'), new Float32Array(PIXELS));
// The top verdict: three lines, or all of it on request.
$('verdict-more').addEventListener('click', () => {
  const clamped = $('verdict').classList.toggle('clamped');
  $('verdict-more').textContent = clamped ? 'Show all' : 'Show less';
  $('verdict-more').setAttribute('aria-expanded', String(!clamped));
});
// The models and the held-out digits load side by side.
// A digit named in the URL is shown as soon as the digits are there; its bars follow once
// the networks are (loadModels).
heldoutLoading
  .then((data) => {
    heldout = data;
    gallery = createGallery($('gallery'), $('gallery-filter'), $('gallery-more'), data, { onPick: pickDigit });
    if (state.digit !== null) pickDigit(state.digit);
  })
  .catch(showError);
/** A drawing shared in the URL: shown as if just drawn, with the visitor's label. */
function showSharedDrawing() {
  const pixels = decodePixels(state.drawn);
  if (!pixels) return;
  drawingSerial++;
  drawnLabel = state.truth;
  input = { pixels, label: null, source: 'drawn', key: `drawn-${drawingSerial}` };
  drawDigit($('preview'), pixels);
  pad.show($('preview'));
  $('pad-hint').hidden = true;
  $('digit-source').textContent = 'a shared drawing';
  updateLabelChoices();
  refresh();
}
if (state.digit === null && state.drawn) showSharedDrawing();
loadModels(state.arch, state.training);
