// The training panel and a visitor's own weights, in headless Chromium: both networks train
// in the page, pause and resume, what they learned is used in every panel and downloads as a
// file the native CLI reads with the same predictions; bad files are refused with a message.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, argmax, nativePredict, openPage, screenshot, startBrowser, startServer, waitReady } from './harness.mjs';

let server;
let browser;
let dir;

before(async () => {
  server = await startServer();
  browser = await startBrowser();
  dir = mkdtempSync(join(tmpdir(), 'splash-train-'));
});
after(async () => {
  await browser?.close();
  server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const training = (page) => page.evaluate(() => globalThis.__splash.training);

async function download(page, v) {
  const [file] = await Promise.all([page.waitForEvent('download'), page.click(`#train-download-${v}`)]);
  const path = join(dir, `${v}.safetensors`);
  await file.saveAs(path);
  return path;
}

async function pickFirstGalleryDigit(page) {
  await page.locator('#gallery button').first().click();
  await page.waitForFunction(() => globalThis.__splash.input && globalThis.__splash.predictions);
  await page.waitForTimeout(300);
  return page.evaluate(() => ({ input: globalThis.__splash.input, predictions: globalThis.__splash.predictions }));
}

describe('training in the page', () => {
  test('trains SPLASH and ReLU side by side, pauses and resumes, and the result is used, downloaded and read by the CLI', async () => {
    const { page, problems } = await openPage(browser.context, server.url);
    await waitReady(page);
    await page.fill('#train-epochs', '2');
    await page.click('#train-start');
    await page.waitForFunction(() => (globalThis.__splash.training?.status.splash?.step ?? 0) >= 10 && (globalThis.__splash.training?.status.relu?.step ?? 0) >= 10, null, { timeout: 60000 });
    // Pause: both workers stop within a chunk and stay stopped.
    await page.click('#train-pause');
    await page.waitForFunction(() => globalThis.__splash.training.state === 'paused');
    await page.waitForTimeout(400);
    const paused = await training(page);
    await page.waitForTimeout(1500);
    const still = await training(page);
    for (const v of ['splash', 'relu']) assert.equal(still.status[v].step, paused.status[v].step, `${v} went on while paused`);
    assert.equal(await page.locator('#train-pause').textContent(), 'Resume');
    await page.click('#train-pause');
    await page.waitForFunction(() => globalThis.__splash.training.state === 'finished', null, { timeout: 180000 });
    const done = await training(page);
    for (const v of ['splash', 'relu']) {
      assert.equal(done.status[v].epochsDone, 2);
      assert.ok(done.status[v].accuracy > 0.9, `${v}: held-out accuracy ${done.status[v].accuracy}`);
    }
    assert.ok(done.snapshots > 5, `${done.snapshots} curve snapshots`);
    assert.match(await page.locator('#train-result-splash').textContent(), /after epoch 2: held-out accuracy [\d.]+% on 2,000 digits/);
    assert.match(await page.locator('#train-acc').getAttribute('aria-label'), /^Held-out accuracy against epoch\. SPLASH: epoch 0\.00 → [\d.]+%.*epoch 2\.00 → 9\d\.\d%; ReLU: /);
    // SPLASH's curves moved away from ReLU, and the replay slider shows the start again.
    const curves = await page.evaluate(() => globalThis.__splash.trainingCurves);
    const moved = curves.last.reduce((m, y, i) => Math.max(m, Math.abs(y - curves.first[i])), 0);
    assert.ok(moved > 0.01, `the curves moved by at most ${moved}`);
    await page.locator('#train-replay').fill('0');
    assert.match(await page.locator('#train-replay-label').textContent(), /after 0 steps/);
    await screenshot(page, 'trained-here');

    // Use the pair in every panel; its SPLASH coefficients are no longer ReLU's.
    await page.click('#train-use');
    await page.waitForFunction(() => globalThis.__splash.custom?.how.splash.includes('trained here') && globalThis.__splash.ready);
    assert.equal(await page.locator('#custom-note').isVisible(), true);
    const coeffs = await page.locator('#coeffs tbody tr').first().locator('td').allTextContents();
    assert.notDeepEqual(coeffs.slice(1).map(Number), [1, 0, 0, 0, 0, 0, 0, 0]);
    const { input, predictions } = await pickFirstGalleryDigit(page);
    // The downloaded files load in the native CLI and give the page's predictions.
    for (const v of ['splash', 'relu']) {
      const path = await download(page, v);
      const [native] = nativePredict(path, [input]);
      for (let k = 0; k < 10; k++) assert.ok(Math.abs(native[k] - predictions[v][k]) < 1e-4, `${v}[${k}]: CLI ${native[k]}, page ${predictions[v][k]}`);
      const meta = JSON.parse(readFileSync(path).subarray(8, 8 + Number(readFileSync(path).readBigUInt64LE(0))).toString()).__metadata__;
      assert.equal(meta.activation, v);
      assert.equal(JSON.parse(meta.recipe).epochs, 2);
      assert.equal(JSON.parse(meta.recipe).training_digits, 8000);
    }
    // Back to the pretrained pair.
    await page.click('#use-pretrained');
    await page.waitForFunction(() => globalThis.__splash.custom === null && globalThis.__splash.ready);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('starting from the pretrained pair begins at its accuracy, not at chance; adversarial training is watched with the core\'s attack', async () => {
    const { page, problems } = await openPage(browser.context, server.url);
    await waitReady(page);
    await page.selectOption('#train-from', 'pretrained');
    await page.fill('#train-epochs', '1');
    await page.selectOption('#train-adv', 'fgsm-rs');
    await page.click('#train-start');
    // The first held-out point and the first robust point are measured before any step.
    await page.waitForFunction(() => ['train-acc', 'train-robust'].every((id) => Chart.getChart(id).data.datasets.every((d) => d.data.length > 0)), null, { timeout: 60000 });
    const first = await page.evaluate(() => Chart.getChart('train-acc').data.datasets.map((d) => d.data[0]));
    for (const p of first) {
      assert.equal(p.x, 0);
      assert.ok(p.y > 0.95, `held-out accuracy at the start ${p.y}`);
    }
    // The standard pretrained pair is not robust: PGD-10 at the training ε leaves little.
    const robust = await page.evaluate(() => Chart.getChart('train-robust').data.datasets.map((d) => d.data[0]));
    for (const p of robust) assert.ok(p.x === 0 && p.y >= 0 && p.y < 0.5, `robust accuracy at the start ${JSON.stringify(p)}`);
    assert.equal(await page.evaluate(() => Chart.getChart('train-robust').options.scales.y.title.text), 'PGD-10 robust accuracy (held-out)');
    assert.match(await page.locator('#train-robust').getAttribute('aria-label'), /^PGD-10 robust accuracy on held-out digits against epoch\. SPLASH: epoch 0\.00 → [\d.]+%/);
    await page.click('#train-reset');
    assert.equal(await page.locator('#train-start').isDisabled(), false);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('settings the core refuses stop the run with its message, and a new run can start', async () => {
    const { page } = await openPage(browser.context, server.url);
    await waitReady(page);
    await page.fill('#train-lr', '0');
    await page.click('#train-start');
    await page.waitForSelector('#error-banner:not([hidden])');
    assert.match(await page.locator('#error-text').textContent(), /learning rate must be in \(0, 10\]/);
    assert.match(await page.locator('#train-status').textContent(), /stopped/);
    assert.equal(await page.locator('#train-start').isDisabled(), false);
    assert.equal(await page.locator('#train-use').isDisabled(), true);
    await page.close();
  });

  test('a visitor\'s weights file: corrupt and foreign files are refused with a message, a good one is used', async () => {
    const { page, problems } = await openPage(browser.context, server.url);
    await waitReady(page);
    const before = await pickFirstGalleryDigit(page);
    const upload = async (name, buffer, side) => {
      await page.selectOption('#weights-side', side);
      await page.setInputFiles('#weights-file', { name, mimeType: 'application/octet-stream', buffer });
      await page.waitForFunction(() => !/^checking/.test(document.querySelector('#weights-message').textContent) && document.querySelector('#weights-message').textContent !== '');
      return page.locator('#weights-message').textContent();
    };
    let msg = await upload('garbage.safetensors', Buffer.from('this is not a weights file'), 'splash');
    assert.match(msg, /garbage\.safetensors was not loaded: .*corrupt/);
    assert.equal(await page.evaluate(() => globalThis.__splash.custom), null, 'a bad file changed the networks');
    // A well-formed file of an architecture splash does not know.
    const lenet = readFileSync(join(ROOT, 'www/models/lenet5-relu.safetensors'));
    const foreign = Buffer.from(lenet.toString('latin1').replace('"architecture":"lenet5"', '"architecture":"resnet"'), 'latin1');
    msg = await upload('resnet.safetensors', foreign, 'relu');
    assert.match(msg, /resnet\.safetensors was not loaded: .*resnet/);
    // A good file replaces one side; the page predicts with it as the CLI does.
    msg = await upload('robust.safetensors', readFileSync(join(ROOT, 'www/models/lenet5-relu-adv.safetensors')), 'relu');
    assert.match(msg, /robust\.safetensors \(lenet5-relu\) is now the right network/);
    await page.waitForFunction(() => globalThis.__splash.custom?.how.relu.includes('robust.safetensors'));
    await page.waitForFunction((old) => JSON.stringify(globalThis.__splash.predictions.relu) !== old, JSON.stringify(before.predictions.relu));
    const after = await page.evaluate(() => globalThis.__splash.predictions);
    const [native] = nativePredict('lenet5-relu-adv.safetensors', [before.input]);
    for (let k = 0; k < 10; k++) assert.ok(Math.abs(native[k] - after.relu[k]) < 1e-4);
    assert.equal(argmax(after.splash), argmax(before.predictions.splash), 'the other side stayed');
    // An All-CNN file is used too, with a note that the sides now differ in architecture.
    msg = await upload('allcnn.safetensors', readFileSync(join(ROOT, 'www/models/allcnn-splash.safetensors')), 'splash');
    assert.match(msg, /differ in architecture/);
    assert.deepEqual(problems, []);
    await page.close();
  });
});
