// End-to-end tests of the demo page in headless Debian Chromium (playwright-core).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, argmax, drawStroke, nativePredict, openPage, screenshot, serviceWorkerLists, startBrowser, startServer, trackedPage, waitReady } from './harness.mjs';

/** Waits until the page's URL, written at most every 300 ms, matches `re`. */
async function urlMatches(page, re) {
  await page.waitForFunction((src) => new RegExp(src).test(location.href), re.source, { timeout: 10000 });
}


let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await startBrowser();
});
after(async () => {
  await browser?.close();
  server?.stop();
});

const SEVEN = [
  [0.25, 0.22],
  [0.72, 0.22],
  [0.62, 0.45],
  [0.5, 0.65],
  [0.42, 0.85],
];

async function attackState(page, predicate) {
  await page.waitForFunction(predicate, null, { timeout: 60000 });
  return page.evaluate(() => globalThis.__splash.attack);
}

function checkAttack(attack, input, eps) {
  assert.equal(attack.rows.length, 2);
  for (const row of attack.rows) {
    let max = 0;
    for (let i = 0; i < 784; i++) {
      assert.ok(row.adv[i] >= 0 && row.adv[i] <= 1, 'adversarial pixel outside [0, 1]');
      max = Math.max(max, Math.abs(row.adv[i] - input[i]));
    }
    assert.ok(max <= eps + 1e-6, `${row.victim}: max |x' - x| = ${max} > ${eps}`);
    assert.ok(max > 0 || eps === 0, `${row.victim}: the attack changed nothing`);
    // How far the perturbation travelled: one value per activation layer, then the logits.
    assert.ok(row.trace.length >= 5 && row.trace.every((v) => Number.isFinite(v) && v >= 0), `${row.victim}: trace ${row.trace}`);
    assert.equal(row.trace.at(-1) > 0, max > 0, `${row.victim}: logits trace ${row.trace.at(-1)} for a change of ${max}`);
  }
}

describe('splash demo page', () => {
  test('draws a digit; both predictions equal the native core on the same 28×28 input', async () => {
    const { page, problems } = await openPage(browser.context, server.url);
    await waitReady(page);
    await drawStroke(page, SEVEN);
    await page.waitForFunction(() => globalThis.__splash.predictions && document.querySelector('#top-splash')?.dataset.prediction !== undefined);
    await page.waitForTimeout(300); // the last throttled prediction
    const { input, predictions } = await page.evaluate(() => ({ input: globalThis.__splash.input, predictions: globalThis.__splash.predictions }));
    assert.equal(input.length, 784);
    assert.ok(input.some((v) => v > 0.9), 'the preview has ink');
    for (const v of ['splash', 'relu']) {
      const [native] = nativePredict(`lenet5-${v}.safetensors`, [input]);
      const page10 = predictions[v];
      assert.equal(argmax(page10), argmax(native), `${v}: page and native disagree`);
      for (let k = 0; k < 10; k++) assert.ok(Math.abs(page10[k] - native[k]) < 1e-4, `${v}[${k}]: ${page10[k]} vs ${native[k]}`);
      const shown = await page.locator(`#top-${v}`).getAttribute('data-prediction');
      assert.equal(Number(shown), argmax(native));
    }
    assert.equal(await page.locator('#pad-hint').isVisible(), false);
    await screenshot(page, 'drawn-seven');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('pen and touch strokes draw too; Clear empties the canvas and predicts nothing', async () => {
    const { page, problems } = await openPage(browser.context, server.url);
    await waitReady(page);
    await drawStroke(page, [[0.5, 0.15], [0.5, 0.85]], 'pen');
    await page.waitForFunction(() => document.querySelector('#top-splash')?.dataset.prediction !== undefined);
    await page.click('#clear');
    await page.waitForFunction(() => document.querySelector('#top-splash')?.dataset.prediction === undefined);
    assert.match(await page.locator('#top-splash').textContent(), /draw a digit/);
    assert.equal(await page.locator('#pad-hint').isVisible(), true);
    await drawStroke(page, [[0.3, 0.5], [0.7, 0.5]], 'touch');
    await page.waitForFunction(() => document.querySelector('#top-relu')?.dataset.prediction !== undefined);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('a gallery digit is classified, attacked untargeted and targeted within ε, and fooled/held is reported right', async () => {
    const { page, problems } = await openPage(browser.context, server.url);
    await waitReady(page);
    await page.click('#gallery button[data-index="3"]');
    await page.waitForFunction(() => /label 3/.test(document.getElementById('digit-source').textContent));
    await urlMatches(page, /digit=3/);
    // Untargeted FGSM, ε = 0.2.
    await page.$eval('#eps', (e) => {
      e.value = '0.2';
      e.dispatchEvent(new Event('input', { bubbles: true }));
    });
    let attack = await attackState(page, () => globalThis.__splash.attack?.settings.eps === 0.2);
    const input = await page.evaluate(() => globalThis.__splash.input);
    assert.equal(attack.settings.label, 3, 'the true label of the held-out digit is attacked');
    checkAttack(attack, input, 0.2);
    for (const row of attack.rows) {
      const fooled = argmax(row.probs) !== 3;
      const card = page.locator(`.attack-row[data-victim=${row.victim}]`);
      assert.equal(await card.getAttribute('data-fooled'), String(fooled));
      assert.match(await card.locator('.verdict').textContent(), fooled ? /fooled/ : /held/);
    }
    await urlMatches(page, /eps=0.2/);
    // Targeted BIM towards 8, ε = 0.3, 10 steps.
    await page.selectOption('#method', 'bim');
    await page.selectOption('#goal', 'targeted');
    await page.selectOption('#target', '8');
    await page.$eval('#eps', (e) => {
      e.value = '0.3';
      e.dispatchEvent(new Event('input', { bubbles: true }));
    });
    attack = await attackState(page, () => {
      const s = globalThis.__splash.attack?.settings;
      return s && s.goal === 'targeted' && s.target === 8 && s.method === 'bim' && s.eps === 0.3;
    });
    checkAttack(attack, input, 0.3);
    for (const row of attack.rows) {
      const hit = argmax(row.probs) === 8;
      assert.equal(await page.locator(`.attack-row[data-victim=${row.victim}]`).getAttribute('data-fooled'), String(hit));
    }
    // Transfer mode: each network sees the image crafted on the other.
    await page.selectOption('#source', 'transfer');
    attack = await attackState(page, () => globalThis.__splash.attack?.settings.source === 'transfer');
    for (const row of attack.rows) assert.notEqual(row.victim, row.crafter);
    checkAttack(attack, input, 0.3);
    const download = page.locator('.attack-row .download').first();
    assert.match(await download.getAttribute('href'), /^data:image\/png;base64,/);
    await screenshot(page, 'attack-targeted-transfer');
    // The state is in the URL: reopening it restores the view.
    await urlMatches(page, /goal=targeted/);
    const shared = page.url();
    const again = await openPage(browser.context, shared);
    await waitReady(again.page);
    await again.page.waitForFunction(() => globalThis.__splash.attack?.settings.target === 8);
    assert.equal(await again.page.locator('#goal').inputValue(), 'targeted');
    assert.equal(await again.page.locator('#method').inputValue(), 'bim');
    await again.page.close();
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('a small robustness curve runs on the worker pool and plots next to the reference', async () => {
    const { page, problems } = await openPage(browser.context, `${server.url}?n=100`);
    await waitReady(page);
    await page.click('#curve-run');
    await page.waitForFunction(() => globalThis.__splash.curve, null, { timeout: 120000 });
    const curve = await page.evaluate(() => globalThis.__splash.curve);
    assert.equal(curve.done, 100);
    assert.equal(curve.cancelled, false);
    assert.deepEqual(curve.attacks, ['fgsm']);
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    assert.equal(curve.workers, Math.max(1, Math.min(8, cores)));
    for (const v of ['splash', 'relu']) {
      assert.equal(curve.counts[v].length, 7);
      assert.ok(curve.counts[v][0] >= 95, `${v}: clean accuracy ${curve.counts[v][0]}/100`);
      // FGSM's accuracy at each ε is the test set's (the committed eval report) to within
      // sampling: 100 digits, at most ±16 points (over 3 sd). An attack that moved no pixel,
      // or the wrong way, keeps the clean count and fails here.
      const report = JSON.parse(readFileSync(join(ROOT, 'www', 'models', `lenet5-${v}.eval.json`), 'utf8'));
      const fgsm = report.attacks.find((a) => a.name === 'fgsm');
      fgsm.epsilons.forEach((eps, i) => {
        const expected = 100 * fgsm.white_box_accuracy[i];
        assert.ok(Math.abs(curve.counts[v][i + 1] - expected) <= 16, `${v}: FGSM at ε = ${eps} leaves ${curve.counts[v][i + 1]} of 100, the test set ${expected.toFixed(1)} %`);
      });
    }
    const datasets = await page.evaluate(() => Chart.getChart('curve-chart').data.datasets.map((d) => d.data.length));
    assert.deepEqual(datasets, [7, 7, 7, 7]);
    // The chart's text alternative reads out what it draws.
    const label = await page.locator('#curve-chart').getAttribute('aria-label');
    const clean = `${Math.round(curve.counts.splash[0]).toFixed(1)}%`;
    assert.match(label, /^Robust accuracy against ε\. SPLASH \(here\): ε 0 → /);
    assert.ok(label.includes(`ε 0 → ${clean}`), `${label} lacks SPLASH's clean ${clean}`);
    assert.match(label, /ReLU \(test set, [\d,]+ digits\): ε 0 → \d/);
    assert.match(await page.locator('#curves canvas').first().getAttribute('aria-label'), /Learned activation of act1 against ReLU; slopes: x<−2\.5 /);
    assert.match(await page.locator('#curve-status').textContent(), /100 digits/);
    // Cancelling a long run stops it early.
    await page.selectOption('#curve-n', '2000');
    await page.click('#curve-run');
    await page.waitForFunction(() => document.getElementById('curve-progress').value > 0);
    await page.click('#curve-cancel');
    await page.waitForFunction(() => /cancelled/.test(document.getElementById('curve-status').textContent), null, { timeout: 60000 });
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('a PGD curve runs on every core, plots the PGD reference, and a change of architecture cancels it', async () => {
    const { page, problems } = await openPage(browser.context, `${server.url}?n=100&curve=pgd-40`);
    await waitReady(page);
    // The dashed reference is PGD-40 from the eval report, not FGSM.
    const report = await page.evaluate(async () => (await fetch('models/lenet5-splash.eval.json')).json());
    const pgd = report.attacks.find((a) => a.name === 'pgd-40');
    const ref = await page.evaluate(() => Chart.getChart('curve-chart').data.datasets[2].data.map((p) => p.y));
    assert.deepEqual(ref, [report.clean_accuracy, ...pgd.white_box_accuracy]);
    assert.match(await page.locator('#curve-reference').textContent(), /PGD-40/);
    await page.click('#curve-run');
    await page.waitForFunction(() => globalThis.__splash.curve, null, { timeout: 180000 });
    const curve = await page.evaluate(() => globalThis.__splash.curve);
    assert.deepEqual(curve.attacks, ['pgd-40']);
    assert.equal(curve.done, 100);
    for (const v of ['splash', 'relu']) {
      // PGD leaves (almost) nothing at ε = 0.2 on these clean-trained models.
      assert.ok(curve.counts[v][4] <= 5, `${v}: ${curve.counts[v][4]} of 100 survive PGD-40 at ε = 0.2`);
    }
    await screenshot(page, 'robustness-pgd');
    // A run in progress is cancelled when the architecture changes, and its live line goes.
    await page.selectOption('#curve-n', '2000');
    await page.click('#curve-run');
    await page.waitForFunction(() => document.getElementById('curve-progress').value > 0, null, { timeout: 60000 });
    // All-CNN's files are held back until the cancelled run has said so, then released: the
    // message must outlive the new networks' arrival (it used to be cleared once they had
    // loaded, which lost it whenever the cancelled run stopped first).
    let release;
    const held = new Promise((resolve) => (release = resolve));
    await page.route('**/models/allcnn-*', async (route) => {
      await held;
      await route.continue();
    });
    await page.check('input[name=arch][value=allcnn]');
    await page.waitForFunction(() => /cancelled.*architecture changed/.test(document.getElementById('curve-status').textContent), null, { timeout: 60000 });
    const live = await page.evaluate(() => Chart.getChart('curve-chart').data.datasets.slice(0, 2).map((d) => d.data.length));
    assert.deepEqual(live, [0, 0]);
    release();
    await page.waitForFunction(() => globalThis.__splash.ready && globalThis.__splash.arch === 'allcnn', null, { timeout: 60000 });
    assert.match(await page.locator('#curve-status').textContent(), /cancelled.*architecture changed/);
    await page.unroute('**/models/allcnn-*');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('the verdict is written from the eval reports and names the strong attacks', async () => {
    const { page, problems } = await openPage(browser.context, server.url);
    await waitReady(page);
    const v = await page.evaluate(() => globalThis.__splash.verdict);
    const report = await page.evaluate(async () => (await fetch('models/lenet5-relu.eval.json')).json());
    const pgd = report.attacks.find((a) => a.name === 'pgd-40');
    assert.equal(v.numbers.rp, pgd.white_box_accuracy[pgd.epsilons.indexOf(0.1)]);
    const top = await page.locator('#verdict').textContent();
    assert.match(top, /PGD-40 leaves SPLASH [\d.]+%, ReLU [\d.]+%/);
    assert.match(top, /FGSM/);
    assert.equal(top, await page.locator('#verdict-panel').textContent());
    assert.ok((await page.locator('#verdict-table tbody tr').count()) >= 4);
    // The spread over seeds comes from the study's results (docs/study/results.json).
    await page.waitForFunction(() => /over \d+ seeds/.test(document.querySelector('#verdict').textContent));
    const study = JSON.parse(readFileSync(join(ROOT, 'docs/study/results.json'), 'utf8'));
    const k = study.epsilons.indexOf(0.1);
    const worst = (act) => study.runs.filter((r) => r.activation === act).map((r) => r.worst_case_accuracy[k]);
    const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
    const sd = (v) => Math.sqrt(v.reduce((a, b) => a + (b - mean(v)) ** 2, 0) / (v.length - 1));
    const [s, r] = [worst('splash'), worst('relu')];
    const spread = `at ε = 0.1 SPLASH ${(100 * mean(s)).toFixed(1)} ± ${(100 * sd(s)).toFixed(1)}%, ReLU ${(100 * mean(r)).toFixed(1)} ± ${(100 * sd(r)).toFixed(1)}%`;
    assert.ok((await page.locator('#verdict').textContent()).includes(spread), spread);
    assert.match(await page.locator('#verdict').textContent(), /over 3 seeds of 8-epoch runs \(docs\/REPRODUCTION\.md\)/);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('a Square attack stays within ε and reports its queries', async () => {
    const { page, problems } = await openPage(browser.context, `${server.url}?digit=2&method=square&eps=0.3&queries=300`);
    await waitReady(page);
    const attack = await attackState(page, () => globalThis.__splash.attack?.settings.method === 'square');
    const input = await page.evaluate(() => globalThis.__splash.input);
    checkAttack(attack, input, 0.3);
    assert.equal(attack.about.uses_gradient, false);
    assert.equal(attack.about.name, 'square-300');
    for (const row of attack.rows) {
      assert.ok(row.queries >= 1 && row.queries <= 300, `${row.victim}: ${row.queries} queries`);
      const card = page.locator(`.attack-row[data-victim=${row.victim}]`);
      assert.equal(await card.getAttribute('data-queries'), String(row.queries));
    }
    assert.match(await page.locator('.attack-about').textContent(), /needs no gradient/);
    assert.equal(await page.locator('#queries-label').isVisible(), true);
    assert.equal(await page.locator('#steps-label').isVisible(), false);
    // A bad setting is refused with a message, and the last good one stays.
    await page.fill('#queries', '0');
    await page.locator('#queries').dispatchEvent('change');
    await page.waitForSelector('#error-banner:not([hidden])');
    assert.match(await page.locator('#error-text').textContent(), /queries must be a whole number/);
    assert.equal(await page.locator('#queries').inputValue(), '300');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('the breaking point is bracketed by direct attacks at its two ends', async () => {
    const { page, problems } = await openPage(browser.context, `${server.url}?digit=4&method=pgd&steps=10`);
    await waitReady(page);
    await page.waitForFunction(() => globalThis.__splash.breaking, null, { timeout: 60000 });
    const b = await page.evaluate(() => globalThis.__splash.breaking);
    assert.equal(b.label, 4);
    for (const v of ['splash', 'relu']) {
      const { holds_at: lo, breaks_at: hi } = b[v];
      assert.ok(hi !== null && hi - lo <= 0.005 + 1e-6 && hi > lo, `${v}: ${lo}..${hi}`);
      // The same attack run directly at both ends (the page's own attack path).
      for (const [eps, fooled] of [[hi, true], [lo, false]]) {
        const out = await page.evaluate(async ({ eps, spec }) => {
          const { Engine } = await import('./client.js');
          const e = new Engine();
          await e.call('load', { arch: 'lenet5' });
          const px = globalThis.__splash.input;
          const r = await e.call('attack', { arch: 'lenet5', pixels: Float32Array.from(px), label: 4, targeted: false, target: 0, spec: { ...spec, epsilon: eps }, source: 'white' });
          e.worker.terminate();
          return r.rows.map((row) => ({ victim: row.victim, top: row.probs.indexOf(Math.max(...row.probs)) }));
        }, { eps, spec: b.spec });
        const top = out.find((o) => o.victim === v).top;
        assert.equal(top !== 4, fooled, `${v} at ε = ${eps}: predicted ${top}`);
      }
    }
    assert.match(await page.locator('#breaking-now').textContent(), /SPLASH: ε ≈ [\d.]+ · ReLU: ε ≈ [\d.]+/);
    assert.match(await page.locator('#breaking-tally').textContent(), /Your 1 digit with this attack/);
    // A second digit adds to the tally.
    await page.click('#gallery button[data-index="5"]');
    await page.waitForFunction(() => globalThis.__splash.breaking?.tally === 2, null, { timeout: 60000 });
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('a drawn digit is attacked against the label the visitor gives, never a network\'s guess', async () => {
    const { page, problems } = await openPage(browser.context, server.url);
    await waitReady(page);
    await drawStroke(page, SEVEN);
    await page.waitForFunction(() => document.querySelector('#top-splash')?.dataset.prediction !== undefined);
    // The page has decided about the attack for this drawing (it sets awaitingLabel when it
    // decides not to attack without a label); no fixed sleep.
    await page.waitForFunction(() => globalThis.__splash.awaitingLabel === true, null, { timeout: 30000 });
    assert.equal(await page.evaluate(() => globalThis.__splash.attack), undefined, 'no attack before the visitor says which digit it is');
    assert.match(await page.locator('#attack-results').textContent(), /Which digit did you draw/);
    assert.match(await page.locator('#label option').first().textContent(), /SPLASH says \d, ReLU says \d/);
    // Name a label neither network predicts: the attack must use it as the truth.
    const preds = await page.evaluate(() => ['splash', 'relu'].map((v) => Number(document.querySelector(`#top-${v}`).dataset.prediction)));
    const label = [...Array(10).keys()].find((k) => !preds.includes(k));
    await page.selectOption('#label', String(label));
    const attack = await attackState(page, () => globalThis.__splash.attack);
    assert.equal(attack.settings.label, label);
    for (const row of attack.rows) {
      assert.equal(await page.locator(`.attack-row[data-victim=${row.victim}]`).getAttribute('data-fooled'), String(argmax(row.probs) !== label));
    }
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('the curve panel has one learned curve per SPLASH layer, for both architectures', async () => {
    const { page, problems } = await openPage(browser.context, `${server.url}?digit=0`);
    await waitReady(page);
    assert.equal(await page.locator('.curve-card').count(), 4);
    assert.equal(await page.locator('#coeffs tbody tr').count(), 4);
    await page.waitForFunction(() => Chart.getChart(document.querySelector('.curve-card canvas')).data.datasets[3].data.length === 32);
    await page.check('input[name=arch][value=allcnn]');
    await page.waitForFunction(() => globalThis.__splash.ready && globalThis.__splash.arch === 'allcnn', null, { timeout: 60000 });
    assert.equal(await page.locator('.curve-card').count(), 8);
    await urlMatches(page, /arch=allcnn/);
    await page.waitForFunction(() => document.querySelector('#top-splash')?.dataset.prediction !== undefined);
    await screenshot(page, 'allcnn');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('the training switch swaps both networks for their adversarially trained twins in every panel', async () => {
    const { page, problems } = await openPage(browser.context, `${server.url}?training=adv&digit=3`);
    await page.waitForFunction(() => globalThis.__splash.ready && globalThis.__splash.training === 'adv', null, { timeout: 60000 });
    assert.ok(await page.isChecked('input[name=training][value=adv]'));
    assert.match(await page.locator('[data-role=splash-name]').first().textContent(), /lenet5-splash \(adv\.\)/);
    assert.match(await page.locator('#accuracy-note').textContent(), /Adversarially trained \((PGD-\d+|FGSM with a random start) at ε = 0\.1\)/);
    // Predictions come from the adversarially trained pair: compare with the core natively.
    await page.waitForFunction(() => document.querySelector('#top-splash')?.dataset.prediction !== undefined);
    // The verdict speaks of both trainings once the standard twin is loaded, and the curves
    // panel draws the standard SPLASH curve beside the adversarially trained one.
    await page.waitForFunction(() => globalThis.__splash.twin === 'standard', null, { timeout: 60000 });
    const top = await page.locator('#verdict').textContent();
    assert.match(top, /^Adversarially trained LeNet5/);
    assert.match(top, /Adversarial training changes what survives .* from SPLASH [\d.]+%, ReLU [\d.]+% to SPLASH [\d.]+%, ReLU [\d.]+%/);
    const labels = await page.evaluate(() => Chart.getChart(document.querySelector('.curve-card canvas')).data.datasets.map((d) => d.label));
    assert.ok(labels.includes('SPLASH, standard training'), labels.join(', '));
    // The reference curves are the adversarially trained models' own reports.
    const v = await page.evaluate(() => globalThis.__splash.verdict);
    const report = await page.evaluate(async () => (await fetch('models/lenet5-relu-adv.eval.json')).json());
    const pgd = report.attacks.find((a) => a.name === 'pgd-40');
    assert.equal(v.numbers.rp, pgd.white_box_accuracy[pgd.epsilons.indexOf(0.1)]);
    // Back to standard training: the choice leaves the URL.
    await page.check('input[name=training][value=standard]');
    await page.waitForFunction(() => globalThis.__splash.ready && globalThis.__splash.training === 'standard', null, { timeout: 60000 });
    await urlMatches(page, /^[^?]*(\?(?!.*training=).*)?$/);
    assert.match(await page.locator('#verdict').textContent(), /^LeNet5, standard training/);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('the third training choice shows the LeNet5 pair trained for ε = 0.3, with its verdict at ε = 0.3; All-CNN has none', async () => {
    const { page, problems } = await openPage(browser.context, `${server.url}?training=adv-0.3&digit=3`);
    await page.waitForFunction(() => globalThis.__splash.ready && globalThis.__splash.training === 'adv-0.3', null, { timeout: 60000 });
    assert.ok(await page.isChecked('input[name=training][value="adv-0.3"]'));
    assert.match(await page.locator('[data-role=splash-name]').first().textContent(), /lenet5-splash \(adv\. ε = 0\.3\)/);
    assert.match(await page.locator('#accuracy-note').textContent(), /Adversarially trained \(PGD-\d+ at ε = 0\.3/);
    await page.waitForFunction(() => globalThis.__splash.twin === 'standard', null, { timeout: 60000 });
    const v = await page.evaluate(() => globalThis.__splash.verdict);
    assert.match(v.text, /^Adversarially trained LeNet5.*At ε = 0\.3, /);
    // The verdict's numbers are the ε = 0.3 pair's reports at ε = 0.3 (APGD-CE: they hold no PGD-40).
    const report = await page.evaluate(async () => (await fetch('models/lenet5-relu-adv-0.3.eval.json')).json());
    const apgd = report.attacks.find((a) => a.name === 'apgd-ce-100');
    assert.equal(v.numbers.rp, apgd.white_box_accuracy[apgd.epsilons.indexOf(0.3)]);
    assert.equal(v.iterative, 'apgd-ce-100');
    // The bend sliders reach the learned coefficients (act1's a⁺₀ is about 6.1, beyond the
    // ±3 the sliders used to clamp to, which showed a curve the visitor never made).
    await page.waitForFunction(() => document.querySelectorAll('#bend-sliders input').length === 8);
    const [value, max] = await page.$eval('#bend-sliders input', (e) => [Number(e.value), Number(e.max)]);
    assert.ok(value > 6 && max >= value && max <= 10, `slider a⁺₀ = ${value}, max ${max}`);
    // The copy the panel runs has the learned curve, not a clamped one.
    await page.waitForFunction(() => globalThis.__splash.bend?.coefficients?.[0] > 6, null, { timeout: 30000 });
    // APGD is in the attack panel: it runs on this digit and reports a result.
    await page.selectOption('#method', 'apgd');
    await page.waitForFunction(() => globalThis.__splash.attack?.settings?.method === 'apgd', null, { timeout: 60000 });
    assert.ok(await page.isVisible('#steps-label'));
    const lossState = await page.evaluate(() => ({ margin: document.querySelector('#loss option[value=margin]').disabled, method: document.getElementById('method').value, hidden: document.getElementById('loss-label').className }));
    assert.ok(lossState.margin, `the margin loss is offered for APGD: ${JSON.stringify(lossState)}`);
    // All-CNN has no ε = 0.3 pair: the choice is disabled there, and switching keeps ε = 0.1.
    await page.check('input[name=arch][value=allcnn]');
    await page.waitForFunction(() => globalThis.__splash.ready && globalThis.__splash.arch === 'allcnn', null, { timeout: 60000 });
    assert.equal(await page.evaluate(() => globalThis.__splash.training), 'adv');
    assert.ok(await page.isDisabled('input[name=training][value="adv-0.3"]'));
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('a browser that refuses URL writes (WebKit after 100 in 30 s) does not stop the attack from following ε', async () => {
    const { page, problems } = await trackedPage(browser.context);
    await page.addInitScript(() => {
      History.prototype.replaceState = () => {
        throw new DOMException('Attempt to use history.replaceState() more than 100 times per 30 seconds', 'SecurityError');
      };
    });
    await page.goto(`${server.url}?digit=3`);
    await waitReady(page);
    for (const eps of ['0.15', '0.25']) {
      await page.$eval('#eps', (e, v) => {
        e.value = v;
        e.dispatchEvent(new Event('input', { bubbles: true }));
      }, eps);
      await page.waitForFunction((v) => globalThis.__splash.attack?.settings.eps === Number(v), eps, { timeout: 60000 });
    }
    // Square's cards say it reads the outputs, not a gradient.
    await page.selectOption('#method', 'square');
    await attackState(page, () => globalThis.__splash.attack?.settings.method === 'square');
    assert.match(await page.locator('.attack-row h3').first().textContent(), /through its own outputs \(no gradient\)/);
    assert.deepEqual(problems, [], 'console errors');
    await page.close();
  });

  test('a corrupt weights file shows a clear error and the rest of the page keeps working', async () => {
    const { page, problems } = await trackedPage(browser.context);
    await page.route('**/models/lenet5-splash.safetensors', (route) => route.fulfill({ status: 200, body: 'not a safetensors file' }));
    await page.goto(server.url);
    await page.waitForSelector('#error-banner:not([hidden])');
    assert.match(await page.locator('#error-text').textContent(), /lenet5-splash\.safetensors.*(corrupt|truncated)/);
    // The gallery still works, and the other architecture still loads.
    assert.ok((await page.locator('#gallery button').count()) > 0);
    await page.check('input[name=arch][value=allcnn]');
    await page.waitForFunction(() => globalThis.__splash.ready && globalThis.__splash.arch === 'allcnn', null, { timeout: 60000 });
    await page.unroute('**/models/lenet5-splash.safetensors');
    assert.deepEqual(problems, [], 'console errors');
    await page.close();
  });

  test('a WebAssembly module that fails to load is reported, not a frozen page', async () => {
    const { page, problems } = await trackedPage(browser.context);
    // Both builds (wasm-build.js): Chromium would load the relaxed-SIMD one.
    await browser.context.route('**/pkg/splash*_bg.wasm', (route) => route.fulfill({ status: 404, body: 'missing' }));
    try {
      await page.goto(server.url);
      await page.waitForSelector('#error-banner:not([hidden])');
      assert.match(await page.locator('#error-text').textContent(), /WebAssembly/);
      assert.match(await page.locator('#status').textContent(), /not loaded/);
      // The gallery and the drawing pad still respond.
      await page.click('#gallery button[data-index="4"]');
      await page.waitForFunction(() => /label/.test(document.getElementById('digit-source').textContent));
    } finally {
      await browser.context.unroute('**/pkg/splash*_bg.wasm');
      // The refused module is the only failure (its 404), whatever the page then does.
      assert.deepEqual(problems.filter((p) => !/status of 404/.test(p)), [], 'console errors');
      await page.close();
    }
  });

  test('an inference worker that cannot start is reported, even before the page listens for it', async () => {
    const { page, problems } = await trackedPage(browser.context);
    // boot.js starts the worker before main.js has set its error handler; the failure must
    // still reach the page, and requests made after it must fail rather than wait forever.
    await browser.context.route('**/worker.js*', (route) => route.fulfill({ status: 404, body: 'missing' }));
    // main.js arrives late, so the worker has failed before the page listens.
    await browser.context.route('**/main.js', async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await route.continue();
    });
    try {
      await page.goto(server.url);
      await page.waitForSelector('#error-banner:not([hidden])');
      assert.match(await page.locator('#error-text').textContent(), /inference worker/);
      await page.waitForFunction(() => !/Loading/.test(document.getElementById('status').textContent));
      assert.doesNotMatch(await page.locator('#status').textContent(), /Loading/);
    } finally {
      await browser.context.unroute('**/worker.js*');
      await browser.context.unroute('**/main.js');
      // The refused worker script is the only failure (its 404).
      assert.deepEqual(problems.filter((p) => !/status of 404/.test(p)), [], 'console errors');
      await page.close();
    }
  });

  test('works offline after one visit (service worker)', async () => {
    const own = await startBrowser({ serviceWorkers: 'allow' });
    try {
      const { page, problems } = await trackedPage(own.context);
      await page.goto(server.url);
      await waitReady(page);
      await page.waitForFunction(() => globalThis.__splash.offlineReady === true, null, { timeout: 30000 });
      // Let the install step finish caching every file of the page (polled here: waitForFunction
      // does not wait for a promise, so an async predicate would pass at once).
      const { CACHE, FILES } = serviceWorkerLists();
      const cached = () => page.evaluate(async (name) => (await caches.has(name) ? (await (await caches.open(name)).keys()).length : 0), CACHE);
      for (const deadline = Date.now() + 30000; (await cached()) < FILES.length; await page.waitForTimeout(200)) {
        if (Date.now() > deadline) assert.fail(`the service worker cached ${await cached()} of the page's ${FILES.length} files in ${CACHE}`);
      }
      await own.context.setOffline(true);
      await page.goto(`${server.url}?arch=allcnn&digit=7`);
      await waitReady(page);
      await page.waitForFunction(() => document.querySelector('#top-splash')?.dataset.prediction !== undefined);
      assert.equal(await page.locator('#top-splash').getAttribute('data-prediction'), '7');
      await own.context.setOffline(false);
      assert.deepEqual(problems, [], 'console errors');
    } finally {
      await own.close();
    }
  });

  test('odd URLs are tidied, the intro opens on a first visit only, and results are announced', async () => {
    const { page, problems } = await trackedPage(browser.context);
    // A first visit: nothing remembered from the other tests' visits.
    await page.goto(server.url);
    await page.evaluate(() => localStorage.clear());
    await page.goto(`${server.url}?n=333&digit=99999`);
    await waitReady(page);
    assert.equal(await page.locator('#curve-n').inputValue(), '250', 'n snaps to an offered count');
    await page.waitForSelector('#error-banner:not([hidden])');
    assert.match(await page.locator('#error-text').textContent(), /no held-out digit #99999/);
    await urlMatches(page, /^[^?]*(\?(?!.*digit=).*)?$/);
    // First visit: the explanation is open even with a query string; from the next visit on
    // it starts closed.
    assert.equal(await page.locator('#intro').getAttribute('open'), '');
    await page.reload();
    await waitReady(page);
    assert.equal(await page.locator('#intro').getAttribute('open'), null);
    // A gallery digit: the top class has a readable label and the attack is announced.
    await page.click('#gallery button[data-index="1"]');
    await page.waitForFunction(() => globalThis.__splash.attack);
    assert.match(await page.locator('#top-splash').getAttribute('aria-label'), /^SPLASH says \d, [\d.]+%$/);
    assert.match(await page.locator('#attack-summary').textContent(), /SPLASH, attacked with its own gradient: (fooled|held)/);
    assert.equal(await page.locator('#attack-summary').getAttribute('aria-live'), 'polite');
    assert.deepEqual(problems, [], 'console errors');
    await page.close();
  });

  test('a drawing and its label travel in the URL, and the shared link shows the same digit', async () => {
    const { page, problems } = await openPage(browser.context, server.url);
    await waitReady(page);
    await drawStroke(page, SEVEN);
    await page.waitForFunction(() => document.querySelector('#top-splash')?.dataset.prediction !== undefined);
    await page.waitForTimeout(300);
    await page.selectOption('#label', '7');
    await page.waitForFunction(() => /truth=7/.test(location.search) && /drawn=/.test(location.search));
    const shared = page.url();
    const mine = await page.evaluate(() => ({ input: globalThis.__splash.input, predictions: globalThis.__splash.predictions }));
    const drawn = new URL(shared).searchParams.get('drawn');
    assert.ok(drawn.length <= 1100, `the drawing takes ${drawn.length} characters`);
    const other = await openPage(browser.context, shared);
    await waitReady(other.page);
    await other.page.waitForFunction(() => document.querySelector('#top-splash')?.dataset.prediction !== undefined);
    const theirs = await other.page.evaluate(() => ({ input: globalThis.__splash.input, predictions: globalThis.__splash.predictions }));
    for (let i = 0; i < 784; i++) assert.ok(Math.abs(theirs.input[i] - mine.input[i]) <= 0.5 / 255 + 1e-6, `pixel ${i}`);
    for (const v of ['splash', 'relu']) assert.equal(argmax(theirs.predictions[v]), argmax(mine.predictions[v]));
    assert.equal(await other.page.locator('#label').inputValue(), '7');
    assert.match(await other.page.locator('#digit-source').textContent(), /shared drawing/);
    // A damaged drawing parameter is ignored, not shown as a broken digit.
    const broken = await openPage(browser.context, `${server.url}?drawn=abc&truth=3`);
    await waitReady(broken.page);
    assert.equal(await broken.page.evaluate(() => globalThis.__splash.input ?? null), null);
    assert.deepEqual([...problems, ...other.problems, ...broken.problems], []);
    for (const p of [page, other.page, broken.page]) await p.close();
  });

  test('the gallery is one tab stop; arrow keys move between digits and Enter picks one', async () => {
    const { page, problems } = await openPage(browser.context, server.url);
    await waitReady(page);
    await page.waitForSelector('#gallery button');
    const stops = await page.locator('#gallery button[tabindex="0"]').count();
    assert.equal(stops, 1);
    await page.locator('#gallery button[tabindex="0"]').focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowDown');
    const focused = await page.evaluate(() => Number(document.activeElement.dataset.index));
    await page.keyboard.press('Enter');
    await page.waitForFunction((i) => new URLSearchParams(location.search).get('digit') === String(i), focused);
    const columns = await page.evaluate(() => {
      const b = [...document.querySelectorAll('#gallery button')];
      return b.filter((x) => x.offsetTop === b[0].offsetTop).length;
    });
    assert.equal(focused, 2 + columns, 'right, right, down lands two along and one row below');
    await page.keyboard.press('End');
    assert.equal(await page.evaluate(() => document.activeElement === [...document.querySelectorAll('#gallery button')].at(-1)), true);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('bending a SPLASH curve runs a copy of the network; back to the learned curve gives the learned answer', async () => {
    const { page, problems } = await openPage(browser.context, `${server.url}?digit=3`);
    await waitReady(page);
    await page.waitForFunction(() => globalThis.__splash.bend && globalThis.__splash.predictions);
    // Unbent: the copy answers exactly as the network the page shows.
    const learned = await page.evaluate(() => ({ bend: globalThis.__splash.bend, predictions: globalThis.__splash.predictions }));
    learned.bend.probs.forEach((p, k) => assert.ok(Math.abs(p - learned.predictions.splash[k]) < 1e-6, `class ${k}`));
    // Make act2 a ReLU: the curve is max(0, x), drawn dotted on act2's chart only.
    await page.selectOption('#bend-layer', '1');
    await page.click('#bend-relu');
    await page.waitForFunction(() => globalThis.__splash.bend.layer === 1 && globalThis.__splash.bend.coefficients.join() === '1,0,0,0,0,0,0,0');
    const bent = await page.evaluate(() => globalThis.__splash.bend);
    const xs = await page.evaluate(() => Chart.getChart(document.querySelectorAll('.curve-card canvas')[1]).data.datasets.find((d) => d.label === 'bent curve').data);
    xs.forEach(({ x, y }) => assert.ok(Math.abs(y - Math.max(0, x)) < 1e-5, `h(${x}) = ${y}`));
    assert.equal(await page.evaluate(() => Chart.getChart(document.querySelectorAll('.curve-card canvas')[0]).data.datasets.some((d) => d.label === 'bent curve')), false);
    assert.match(await page.locator('#bend-result').textContent(), /With this bent curve in act2, SPLASH says \d/);
    assert.ok(bent.advProbs, 'the attack ran on the bent network');
    // The page's own networks are untouched.
    const after = await page.evaluate(() => globalThis.__splash.predictions.splash);
    assert.deepEqual(after, learned.predictions.splash);
    await page.click('#bend-reset');
    await page.waitForFunction(() => globalThis.__splash.bend.coefficients.join() !== '1,0,0,0,0,0,0,0');
    assert.match(await page.locator('#bend-result').textContent(), /With the learned curve/);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('usable on a phone-sized screen', async () => {
    const { page, problems } = await trackedPage(browser.context);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${server.url}?digit=5`);
    await waitReady(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px`);
    await screenshot(page, 'phone');
    assert.deepEqual(problems, [], 'console errors');
    await page.close();
  });

  test('on a laptop, the digit, both answers and the attack result are on one screen, and the digit and answers stay while the other panels scroll', async () => {
    const { page, problems } = await trackedPage(browser.context);
    await page.setViewportSize({ width: 1366, height: 768 });
    await page.goto(`${server.url}?digit=3&eps=0.1`);
    await waitReady(page);
    await page.waitForFunction(() => globalThis.__splash.attack);
    const visible = (sel) => page.locator(sel).evaluate((e) => {
      const r = e.getBoundingClientRect();
      return r.width > 0 && r.top >= 0 && r.bottom <= window.innerHeight && r.left >= 0 && r.right <= window.innerWidth;
    });
    const together = ['#pad', '#top-splash', '#top-relu', '#bars-splash', '#bars-relu'];
    // Scrolled to the attack: its outcome for both networks is there with the digit and the answers.
    await page.evaluate(() => document.querySelector('#attack-panel').scrollIntoView());
    for (const sel of [...together, '#attack-results .attack-row.splash .verdict', '#attack-results .attack-row.relu .verdict']) {
      assert.ok(await visible(sel), `${sel} is not fully on screen with the attack panel`);
    }
    // Scrolled to the learned curves or the training panel: the digit and answers stay.
    for (const panel of ['#robust-panel', '#curves-panel', '#train-panel']) {
      await page.evaluate((p) => document.querySelector(p).scrollIntoView(), panel);
      for (const sel of together) assert.ok(await visible(sel), `${sel} left the screen at ${panel}`);
      assert.ok(await visible('#gallery button[aria-selected=true]') || await page.locator('#gallery').evaluate((g) => g.scrollHeight > g.clientHeight), 'the gallery neither shows the digit nor scrolls');
    }
    // The top verdict shows three lines until asked for the rest.
    await page.evaluate(() => window.scrollTo(0, 0));
    const lines = () => page.locator('#verdict').evaluate((e) => Math.round(e.clientHeight / parseFloat(getComputedStyle(e).lineHeight)));
    assert.equal(await lines(), 3);
    await page.click('#verdict-more');
    assert.ok((await lines()) > 3, 'the whole verdict is shown');
    assert.equal(await page.locator('#verdict-more').getAttribute('aria-expanded'), 'true');
    // Picking another digit from the side column updates the answers in place.
    await page.locator('#gallery button[data-index="0"]').click();
    await page.waitForFunction(() => document.querySelector('#digit-source').textContent.includes('#0'));
    assert.ok(await visible('#top-splash'));
    await screenshot(page, 'laptop');
    assert.deepEqual(problems, [], 'console errors');
    await page.close();
  });

  test('on a phone, drawing shows both answers and the attack in the result strip beside the pad', async () => {
    const { page, problems } = await trackedPage(browser.context);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(server.url);
    await waitReady(page);
    assert.ok(await page.locator('#strip').isHidden(), 'the strip shows before there is a digit');
    await page.locator('#pad').scrollIntoViewIfNeeded();
    await drawStroke(page, SEVEN, 'touch');
    await page.waitForFunction(() => document.querySelector('#top-splash')?.dataset.prediction !== undefined);
    await page.waitForSelector('#strip:not([hidden])');
    // The pad and the strip are on screen together, and the strip agrees with panel 2.
    const inView = (sel) => page.locator(sel).evaluate((e) => {
      const r = e.getBoundingClientRect();
      return r.bottom > 0 && r.top < window.innerHeight;
    });
    assert.ok(await inView('#pad'));
    assert.ok(await inView('#strip'));
    const strip = await page.locator('#strip [data-role=answers]').textContent();
    for (const v of ['splash', 'relu']) {
      const top = await page.locator(`#top-${v}`).getAttribute('data-prediction');
      assert.match(strip, new RegExp(`${v === 'splash' ? 'SPLASH' : 'ReLU'} ${top}`));
    }
    // A drawn digit needs its true label before an untargeted attack runs.
    await page.selectOption('#label', '7');
    await page.waitForFunction(() => /SPLASH (fooled|holds).*ReLU (fooled|holds)/.test(document.querySelector('#strip [data-role=attack]').textContent));
    // With panels 2 and 3 in view it steps aside.
    await page.setViewportSize({ width: 1280, height: 2400 });
    await page.locator('#predict-panel').scrollIntoViewIfNeeded();
    await page.waitForSelector('#strip[hidden]', { state: 'attached' });
    assert.deepEqual(problems, [], 'console errors');
    await page.close();
  });
});
