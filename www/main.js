// The page: wires the panels to the worker and keeps the view's state in the URL.
import { Engine } from './client.js';
import { readState, writeState } from './state.js';
import { argmax, coalesce, drawDigit, pct, throttle } from './util.js';
import { createPad } from './panels/draw.js';
import { createPredictions } from './panels/predictions.js';
import { createGallery, loadHeldout } from './panels/gallery.js';
import { renderAttack } from './panels/attack.js';
import { CURVE_EPSILONS, createRobustness } from './panels/robustness.js';
import { createCurves } from './panels/curves.js';

const $ = (id) => document.getElementById(id);
const state = readState();
const debug = (globalThis.__splash = { ready: false, errors: [] }); // read by the browser tests

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

const engine = new Engine((err) => {
  showError(err);
  setStatus('The inference worker stopped', false);
});

// ---- state ----------------------------------------------------------------------------------
let info = null; // per-variant descriptions of the loaded pair
let input = null; // {pixels: Float32Array, label: number|null, source: 'drawn'|'gallery'}
let heldout = null;
let gallery = null;
const save = () => writeState(state);

// ---- panels ---------------------------------------------------------------------------------
let predictions;
let robustness;
let curves;
try {
  predictions = createPredictions();
  robustness = createRobustness($('curve-chart'));
  curves = createCurves($('curves'), $('coeffs'));
  predictions.clear();
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
  $('pad-hint').hidden = false;
  input = null;
  state.digit = null;
  save();
  gallery?.select(null);
  drawDigit($('preview'), new Float32Array(784));
  $('digit-source').textContent = '—';
  predictions?.clear();
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
    save();
    gallery?.select(null);
  }
  input = { pixels, label: null, source: 'drawn' };
  $('digit-source').textContent = 'your drawing';
  drawDigit($('preview'), pixels);
  await refresh();
});
const drawnChanged = throttle(() => classifyDrawing(), 80);

function pickDigit(i) {
  if (!heldout || i < 0 || i >= heldout.count) return;
  const bytes = heldout.image(i);
  const pixels = Float32Array.from(bytes, (v) => v / 255);
  input = { pixels, label: heldout.labels[i], source: 'gallery' };
  state.digit = i;
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
    const out = await engine.call('predict', { arch: state.arch, pixels: current.pixels });
    if (current !== input) return;
    lastPrediction = out;
    debug.input = Array.from(current.pixels);
    debug.predictions = { splash: Array.from(out.splash), relu: Array.from(out.relu) };
    predictions.update(out);
    curves.setPreActivations(out.preActivations);
    updateLabelChoices();
    await runAttack();
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

function autoLabel() {
  if (input?.label !== null && input?.label !== undefined) return input.label;
  return lastPrediction ? argmax(lastPrediction.splash) : null;
}
let labelOverride = null;
function updateLabelChoices() {
  const auto = autoLabel();
  const autoText = auto === null ? 'auto' : `auto (${auto}${input?.source === 'gallery' ? ', true label' : ', predicted'})`;
  fillSelect($('label'), [['auto', autoText], ...[...Array(10).keys()].map((k) => [k, String(k)])], labelOverride ?? 'auto');
}
$('label').addEventListener('change', (e) => {
  labelOverride = e.target.value === 'auto' ? null : Number(e.target.value);
  runAttack();
});

function syncControls() {
  $('eps').value = String(state.eps);
  $('eps-value').textContent = state.eps.toFixed(2);
  $('method').value = state.method;
  $('steps').value = String(state.steps);
  $('goal').value = state.goal;
  $('target').value = String(state.target);
  $('source').value = state.source;
  $('curve-n').value = String(state.n);
  $('steps-label').classList.toggle('hidden', state.method === 'fgsm');
  $('target-label').classList.toggle('hidden', state.goal !== 'targeted');
  for (const r of document.querySelectorAll('input[name=arch]')) r.checked = r.value === state.arch;
}

let attackSeed = 1;
const runAttack = coalesce(async () => {
  if (!input || !info) return;
  const label = labelOverride ?? autoLabel();
  if (label === null) return;
  const settings = { eps: state.eps, method: state.method, steps: state.steps, goal: state.goal, target: state.target, source: state.source, label };
  const current = input;
  try {
    const result = await engine.call('attack', {
      arch: state.arch,
      pixels: current.pixels,
      label,
      targeted: state.goal === 'targeted',
      target: state.target,
      eps: state.eps,
      method: state.method,
      steps: state.steps,
      source: state.source,
      seed: attackSeed,
    });
    if (current !== input) return;
    debug.attack = { settings, rows: result.rows.map((r) => ({ victim: r.victim, crafter: r.crafter, adv: Array.from(r.adv), probs: Array.from(r.probs) })) };
    renderAttack($('attack-results'), { result, input: current, settings });
  } catch (e) {
    showError(e);
  }
});
const attackSoon = throttle(() => runAttack(), 60);

$('eps').addEventListener('input', (e) => {
  state.eps = Number(e.target.value);
  $('eps-value').textContent = state.eps.toFixed(2);
  save();
  attackSoon();
});
for (const [id, key, parse] of [
  ['method', 'method', String],
  ['goal', 'goal', String],
  ['target', 'target', Number],
  ['source', 'source', String],
]) {
  $(id).addEventListener('change', (e) => {
    state[key] = parse(e.target.value);
    save();
    syncControls();
    if (key === 'source' && info) robustness.setReference(info, state.source);
    runAttack();
  });
}
$('steps').addEventListener('change', (e) => {
  const v = Math.round(Number(e.target.value));
  if (!(v >= 1 && v <= 100)) {
    showError('steps must be a whole number from 1 to 100');
    e.target.value = String(state.steps);
    return;
  }
  state.steps = v;
  save();
  runAttack();
});
$('attack-run').addEventListener('click', () => {
  attackSeed++;
  if (!input) showError('Draw or pick a digit first.');
  runAttack();
});

// ---- robustness curve -----------------------------------------------------------------------
let curveJob = null;
$('curve-n').addEventListener('change', (e) => {
  state.n = Number(e.target.value);
  save();
});
$('curve-run').addEventListener('click', async () => {
  if (!info || curveJob) return;
  const n = state.n;
  $('curve-run').disabled = true;
  $('curve-cancel').disabled = false;
  $('curve-progress').value = 0;
  $('curve-status').textContent = `0 / ${n}`;
  robustness.setLive(null, 0);
  const started = performance.now();
  const job = engine.call(
    'robustness',
    { arch: state.arch, n, epsilons: CURVE_EPSILONS, source: state.source },
    {
      onProgress: ({ done, total, correct }) => {
        $('curve-progress').value = done / total;
        $('curve-status').textContent = `${done} / ${total} digits`;
        robustness.setLive(correct, done);
      },
    },
  );
  curveJob = job;
  try {
    const r = await job;
    robustness.setLive(r.correct, r.done);
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    $('curve-status').textContent = r.cancelled
      ? `cancelled after ${r.done} digits`
      : `${r.done} digits in ${secs} s · clean: SPLASH ${pct(r.correct.splash[0] / r.done)}, ReLU ${pct(r.correct.relu[0] / r.done)}`;
    debug.curve = r;
  } catch (e) {
    showError(e);
    $('curve-status').textContent = 'failed';
  } finally {
    curveJob = null;
    $('curve-run').disabled = false;
    $('curve-cancel').disabled = true;
  }
});
$('curve-cancel').addEventListener('click', () => {
  if (curveJob) engine.cancel(curveJob.id);
});

// ---- model loading --------------------------------------------------------------------------
async function loadArch(arch) {
  setStatus(`Loading ${arch === 'lenet5' ? 'LeNet5' : 'All-CNN'}…`, true);
  for (const r of document.querySelectorAll('input[name=arch]')) r.disabled = true;
  try {
    info = await engine.call('load', { arch });
    state.arch = arch;
    save();
    for (const v of ['splash', 'relu']) document.querySelector(`[data-role=${v}-name]`).textContent = info[v].name;
    const acc = (v) => (info[v].config.test_accuracy ? pct(info[v].config.test_accuracy, 2) : 'n/a');
    $('accuracy-note').textContent = `Test accuracy on the 10,000 MNIST test digits: SPLASH ${acc('splash')}, ReLU ${acc('relu')}.`;
    curves.render(info.splash);
    robustness.setReference(info, state.source);
    robustness.setLive(null, 0);
    $('curve-status').textContent = '';
    setStatus('Ready');
    debug.ready = true;
    debug.arch = arch;
    if (input) await refresh();
  } catch (e) {
    info = null;
    showError(e);
    setStatus('Models not loaded');
    predictions?.clear('model not loaded');
  } finally {
    for (const r of document.querySelectorAll('input[name=arch]')) r.disabled = false;
    syncControls();
  }
}
for (const r of document.querySelectorAll('input[name=arch]')) {
  r.addEventListener('change', () => {
    debug.ready = false;
    loadArch(r.value);
  });
}

// ---- start ----------------------------------------------------------------------------------
// Offline support (sw.js). A browser without service workers, or one that blocks them, just
// has no offline copy.
if ('serviceWorker' in navigator) {
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
drawDigit($('preview'), new Float32Array(784));
if (!new URLSearchParams(location.search).toString()) $('intro').open = true;
loadHeldout()
  .then((data) => {
    heldout = data;
    gallery = createGallery($('gallery'), $('gallery-filter'), $('gallery-more'), data, { onPick: pickDigit });
  })
  .catch(showError)
  .finally(async () => {
    await loadArch(state.arch);
    if (state.digit !== null && heldout) pickDigit(state.digit);
  });
