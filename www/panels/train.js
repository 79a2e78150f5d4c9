// Panel 6: train a SPLASH and a ReLU LeNet5 side by side in the browser (one worker each,
// the core's trainer), watch loss, held-out accuracy and SPLASH's curves move, replay the
// curves, then use or download what was trained. Also: load a .safetensors file of your own.
import { CHART_BASE, COLORS, chartLib, describeChart, el, pct } from '../util.js';

const XS = Array.from({ length: 81 }, (_, i) => -4 + i * 0.1);
const MAX_SNAPSHOTS = 600; // curve snapshots kept for the replay (thinned beyond this)
const SLICE_DIGITS = 500; // held-out digits for the accuracy measured within an epoch
const ROBUST_DIGITS = 200; // held-out digits for the per-epoch robustness figure (the core names the attack)

/** Reads the form into the core's RunOptions (the core validates every value). */
export function runOptions(form) {
  const num = (id) => Number(form.querySelector(`#${id}`).value);
  const adv = form.querySelector('#train-adv').value;
  return {
    epochs: num('train-epochs'),
    batch_size: num('train-batch'),
    learning_rate: num('train-lr'),
    seed: num('train-seed'),
    augment: form.querySelector('#train-augment').checked,
    adversarial: adv === 'none' ? null : { kind: adv, epsilon: num('train-adv-eps'), steps: num('train-adv-steps'), warmup_epochs: Math.min(1, num('train-epochs') / 2) },
  };
}

function lineChart(canvas, { y, yMin, yMax, percent, points = 0 }) {
  const Chart = chartLib();
  const set = (label, color, dash = []) => ({ label, data: [], borderColor: color, backgroundColor: color, borderDash: dash, pointRadius: points, borderWidth: 2 });
  return new Chart(canvas, {
    type: 'line',
    data: { datasets: [set('SPLASH', COLORS.splash), set('ReLU', COLORS.relu)] },
    options: {
      ...CHART_BASE,
      scales: {
        x: { type: 'linear', min: 0, title: { display: true, text: 'epoch' } },
        y: { min: yMin, max: yMax, title: { display: true, text: y }, ticks: percent ? { callback: (v) => `${Math.round(v * 100)}%` } : {} },
      },
      plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
    },
  });
}

/**
 * The panel. `onUse({splash, relu})` hands the trained pair's bytes to the page;
 * `onUpload(bytes, side, fileName)` a visitor's file (resolves, or rejects with the core's
 * message); `pretrained()` resolves with the pretrained LeNet5 pair's bytes.
 */
export function createTrainPanel(root, { onUse, onUpload, pretrained, onError }) {
  const $ = (id) => root.querySelector(`#${id}`);
  const form = $('train-form');
  const workers = {};
  const status = {}; // per network: {epoch, step, steps, images, ms, done, paused, accuracy}
  let run = null; // {options, started, snapshots: [], epochs}
  const charts = {
    loss: lineChart($('train-loss'), { y: 'training loss' }),
    acc: lineChart($('train-acc'), { y: 'held-out accuracy', yMin: 0, yMax: 1, percent: true, points: 2.5 }),
    robust: lineChart($('train-robust'), { y: 'robust accuracy (held-out)', yMin: 0, yMax: 1, percent: true, points: 3 }),
  };
  const curveCharts = [];
  const debug = (globalThis.__splash ??= {});

  const syncForm = () => {
    const adv = $('train-adv').value;
    $('train-adv-eps-label').classList.toggle('hidden', adv === 'none');
    $('train-adv-steps-label').classList.toggle('hidden', adv !== 'pgd');
    $('train-robust-box').classList.toggle('hidden', !run?.options.adversarial);
  };
  $('train-adv').addEventListener('change', syncForm);

  function setButtons() {
    const active = run && !run.finished && !run.failed;
    const anyRunning = active && Object.values(status).some((s) => !s.paused && !s.done);
    $('train-start').disabled = Boolean(active);
    $('train-pause').disabled = !active;
    $('train-pause').textContent = active && !anyRunning ? 'Resume' : 'Pause';
    $('train-reset').disabled = !run;
    const have = run && !run.failed && Object.values(status).every((s) => s.epochsDone > 0 || s.done);
    for (const id of ['train-use', 'train-download-splash', 'train-download-relu']) $(id).disabled = !have;
    for (const input of form.querySelectorAll('input, select')) input.disabled = Boolean(active);
  }

  function curvesView(n) {
    const box = $('train-curves');
    box.replaceChildren();
    curveCharts.length = 0;
    const Chart = chartLib();
    for (let i = 0; i < n; i++) {
      const canvas = el('canvas', { 'aria-label': `SPLASH activation of layer ${i + 1} during training` });
      box.append(el('div', { class: 'curve-card' }, [el('h3', { text: `act${i + 1}` }), el('div', { class: 'chart-box act small' }, [canvas])]));
      curveCharts.push(
        new Chart(canvas, {
          type: 'line',
          data: {
            datasets: [
              { label: 'SPLASH h(x) now', data: [], borderColor: COLORS.splash, pointRadius: 0, borderWidth: 2.5 },
              { label: 'at the start', data: [], borderColor: COLORS.grey, borderDash: [5, 4], pointRadius: 0, borderWidth: 1.5 },
            ],
          },
          options: { ...CHART_BASE, scales: { x: { type: 'linear', min: -4, max: 4 } }, plugins: { legend: { display: false } } },
        }),
      );
    }
  }

  function showSnapshot(k) {
    const snaps = run?.snapshots;
    if (!snaps?.length) return;
    const s = snaps[Math.max(0, Math.min(snaps.length - 1, k))];
    const first = snaps[0];
    const n = XS.length;
    curveCharts.forEach((chart, i) => {
      chart.data.datasets[0].data = XS.map((x, j) => ({ x, y: s.curves[i * n + j] }));
      chart.data.datasets[1].data = XS.map((x, j) => ({ x, y: first.curves[i * n + j] }));
      chart.update();
    });
    $('train-replay-label').textContent = `after ${s.step} step${s.step === 1 ? '' : 's'} (epoch ${s.epoch.toFixed(2)})`;
  }

  const titles = new Map([
    [charts.loss, ['Training loss against epoch', (v) => v.toFixed(3)]],
    [charts.acc, ['Held-out accuracy against epoch', (v) => pct(v)]],
    [charts.robust, ['Robust accuracy on held-out digits against epoch', (v) => pct(v)]],
  ]);
  /** The attack the core watches adversarial training with (e.g. "pgd-10"), in the labels. */
  function showWatch(name) {
    run.watch = name.toUpperCase();
    const title = `${run.watch} robust accuracy on held-out digits against epoch`;
    titles.set(charts.robust, [title, (v) => pct(v)]);
    charts.robust.options.scales.y.title.text = `${run.watch} robust accuracy (held-out)`;
    charts.robust.update();
    $('train-robust').setAttribute('aria-label', title);
  }
  function addPoint(chart, v, x, y) {
    chart.data.datasets[v === 'splash' ? 0 : 1].data.push({ x, y });
    chart.update();
    const [title, fy] = titles.get(chart);
    describeChart(chart, { title, x: (e) => `epoch ${e.toFixed(2)}`, y: fy });
  }

  function updateStatus() {
    const s = Object.values(status);
    if (!s.length) return;
    const steps = s.map((t) => ((t.epochsDone ?? 0) * (t.steps || 1) + (t.epochEnd ? 0 : t.step ?? 0)) / ((t.steps || 1) * run.options.epochs));
    const fraction = Math.min(...steps);
    $('train-progress').value = fraction;
    const rate = s.map((t) => (t.ms > 0 ? (t.images / t.ms) * 1000 : 0));
    const slowest = Math.min(...rate);
    const left = s.map((t, i) => ((1 - steps[i]) * (t.steps || 1) * run.options.epochs * run.options.batch_size) / Math.max(1, rate[i]));
    const state = run.failed ? 'failed' : s.every((t) => t.done) ? 'finished' : s.every((t) => t.paused || t.done) ? 'paused' : 'training';
    const epoch = Math.min(...s.map((t) => t.epoch ?? 1));
    $('train-status').textContent = `${state} · epoch ${Math.min(epoch, run.options.epochs)} of ${run.options.epochs} · ${Math.round(slowest)} images/s per network${state === 'training' ? ` · about ${Math.ceil(Math.max(...left))} s left` : ''}`;
    debug.training = { state, fraction, status: JSON.parse(JSON.stringify(status)), snapshots: run.snapshots.length, options: run.options };
  }

  function onMessage(v, msg) {
    const s = status[v];
    switch (msg.type) {
      case 'ready':
        s.digits = msg.digits;
        if (msg.watch) showWatch(msg.watch);
        break;
      case 'progress':
        Object.assign(s, { epoch: msg.epoch, step: msg.step, steps: msg.steps, epochEnd: msg.step === msg.steps });
        s.images += msg.ran * run.options.batch_size;
        s.ms += msg.ms;
        addPoint(charts.loss, v, msg.epoch - 1 + msg.step / msg.steps, msg.loss);
        break;
      case 'curves':
        if (v !== 'splash') break;
        if (!curveCharts.length) curvesView(msg.curves.length / XS.length);
        run.snapshots.push({ step: msg.step, epoch: (status.splash.epoch ?? 1) - 1 + (status.splash.step ?? 0) / (status.splash.steps || 1), curves: msg.curves });
        if (run.snapshots.length > MAX_SNAPSHOTS) run.snapshots = run.snapshots.filter((_, k) => k % 2 === 0 || k === run.snapshots.length - 1);
        $('train-replay').max = String(run.snapshots.length - 1);
        $('train-replay').value = String(run.snapshots.length - 1);
        $('train-replay').disabled = false;
        showSnapshot(run.snapshots.length - 1);
        debug.trainingCurves = { first: run.snapshots[0].curves, last: msg.curves, xs: XS };
        break;
      case 'eval':
        addPoint(charts.acc, v, msg.epoch, msg.accuracy);
        if (msg.robust !== undefined && msg.robust !== null) addPoint(charts.robust, v, msg.epoch, msg.robust);
        break;
      case 'epoch':
        s.epochsDone = msg.stats.epoch;
        s.accuracy = msg.accuracy;
        addPoint(charts.acc, v, msg.stats.epoch, msg.accuracy);
        if (msg.robust !== null) addPoint(charts.robust, v, msg.stats.epoch, msg.robust);
        (s.epochs ??= []).push({ ...msg.stats, heldout: msg.accuracy, robust: msg.robust });
        $(`train-result-${v}`).textContent = `${v === 'splash' ? 'SPLASH' : 'ReLU'} after epoch ${msg.stats.epoch}: held-out accuracy ${pct(msg.accuracy)} on ${msg.heldoutDigits.toLocaleString('en')} digits${msg.robust !== null ? `, ${run.watch} robust ${pct(msg.robust)} on ${ROBUST_DIGITS}` : ''} (training loss ${msg.stats.loss.toFixed(3)}).`;
        break;
      case 'paused':
        s.paused = true;
        break;
      case 'done':
        s.done = true;
        if (Object.values(status).every((t) => t.done)) run.finished = true;
        break;
      case 'weights': {
        const p = pendingWeights[v];
        delete pendingWeights[v];
        if (msg.error) p?.reject(new Error(msg.error));
        else p?.resolve(msg.bytes);
        return;
      }
      case 'error':
        // Both stop: a run that cannot go on for one network is no comparison.
        if (!run.failed) onError(new Error(`training ${v === 'splash' ? 'SPLASH' : 'ReLU'}: ${msg.message}`));
        run.failed = true;
        s.paused = true;
        stopWorkers();
        $('train-status').textContent = `stopped: ${msg.message}`;
        setButtons();
        return;
      default:
    }
    updateStatus();
    setButtons();
  }

  function stopWorkers() {
    for (const w of Object.values(workers)) w.terminate();
    for (const k of Object.keys(workers)) delete workers[k];
  }

  async function start() {
    const options = runOptions(form);
    stopWorkers();
    let startBytes = { splash: null, relu: null };
    if ($('train-from').value === 'pretrained') {
      try {
        startBytes = await pretrained();
      } catch (e) {
        onError(e);
        return;
      }
    }
    run = { options, snapshots: [], finished: false, started: performance.now() };
    for (const c of Object.values(charts)) {
      for (const d of c.data.datasets) d.data = [];
      c.options.scales.x.max = options.epochs;
      c.update();
    }
    for (const v of ['splash', 'relu']) {
      status[v] = { images: 0, ms: 0, epochsDone: 0, paused: false, done: false };
      $(`train-result-${v}`).textContent = '';
      const w = new Worker(new URL('../train-worker.js', import.meta.url), { type: 'module' });
      w.onmessage = ({ data }) => onMessage(v, data);
      w.onerror = (e) => onMessage(v, { type: 'error', message: e.message || 'the training worker could not start' });
      workers[v] = w;
      const evaluation = { sliceDigits: SLICE_DIGITS, robustDigits: ROBUST_DIGITS };
      w.postMessage({ type: 'start', options, activation: v, start: startBytes[v], evaluation, xs: XS });
    }
    syncForm();
    setButtons();
    updateStatus();
  }

  const pendingWeights = {}; // network -> {resolve, reject} of the request in flight
  function weights(v) {
    return new Promise((resolve, reject) => {
      const w = workers[v];
      if (!w) return reject(new Error('train the networks first'));
      pendingWeights[v] = { resolve, reject };
      w.postMessage({ type: 'weights' });
    });
  }

  $('train-start').addEventListener('click', () => start());
  $('train-pause').addEventListener('click', () => {
    const resume = $('train-pause').textContent === 'Resume';
    for (const [v, w] of Object.entries(workers)) {
      if (status[v].done) continue;
      status[v].paused = !resume;
      w.postMessage({ type: resume ? 'resume' : 'pause' });
    }
    setButtons();
    updateStatus();
  });
  $('train-reset').addEventListener('click', () => {
    stopWorkers();
    run = null;
    for (const k of Object.keys(status)) delete status[k];
    for (const c of Object.values(charts)) {
      for (const d of c.data.datasets) d.data = [];
      c.update();
    }
    $('train-curves').replaceChildren();
    curveCharts.length = 0;
    $('train-replay').disabled = true;
    $('train-replay-label').textContent = '';
    $('train-progress').value = 0;
    $('train-status').textContent = '';
    for (const v of ['splash', 'relu']) $(`train-result-${v}`).textContent = '';
    delete debug.training;
    setButtons();
  });
  $('train-replay').addEventListener('input', (e) => showSnapshot(Number(e.target.value)));
  $('train-use').addEventListener('click', async () => {
    try {
      const [splash, relu] = await Promise.all([weights('splash'), weights('relu')]);
      await onUse({ splash, relu });
    } catch (e) {
      onError(e);
    }
  });
  for (const v of ['splash', 'relu']) {
    $(`train-download-${v}`).addEventListener('click', async () => {
      try {
        const bytes = await weights(v);
        const a = el('a', { href: URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' })), download: `lenet5-${v}-trained-here.safetensors` });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
      } catch (e) {
        onError(e);
      }
    });
  }

  // ---- bring your own weights ---------------------------------------------------------------
  const MAX_FILE_BYTES = 64 << 20; // far above any model the core accepts; refuse before reading
  async function upload(file) {
    const msg = $('weights-message');
    const side = $('weights-side').value;
    msg.classList.remove('error');
    if (!file) return;
    if (file.size > MAX_FILE_BYTES) {
      msg.textContent = `${file.name}: ${(file.size / 2 ** 20).toFixed(0)} MB is far larger than any network splash can load; not read.`;
      msg.classList.add('error');
      return;
    }
    msg.textContent = `checking ${file.name}…`;
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const { name, notes } = await onUpload(bytes, side, file.name);
      msg.textContent = [`${file.name} (${name}) is now the ${side === 'splash' ? 'left' : 'right'} network in every panel.`, ...notes].join(' ');
    } catch (e) {
      msg.textContent = `${file.name} was not loaded: ${e.message}`;
      msg.classList.add('error');
    }
  }
  $('weights-file').addEventListener('change', (e) => {
    upload(e.target.files[0]);
    e.target.value = '';
  });
  const zone = $('drop-zone');
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    upload(e.dataTransfer?.files?.[0]);
  });

  syncForm();
  setButtons();
  return { upload };
}
