// The benchmark page's TF.js models compute what splash computes: every configuration of
// every benchmarked network (ReLU and SPLASH; fused with BatchNorm folded, and op by op; wasm
// and cpu backends) against splash's page build on the same inputs (bench/bench.html?check, no
// timing). A benchmark against a model that computes something else would measure nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser } from './harness.mjs';

const env = useServerAndBrowser();

test('TF.js models on the benchmark page agree with splash, SPLASH networks included', async () => {
  const page = await env.browser.context.newPage();
  await page.goto(`${env.server.url}bench/bench.html?check`);
  await page.waitForFunction(() => globalThis.__bench, null, { timeout: 300000 });
  const bench = await page.evaluate(() => globalThis.__bench);
  assert.equal(bench.error, undefined, bench.error);
  const models = [...new Set(bench.check.map((r) => r.model))].sort();
  assert.deepEqual(models, ['allcnn-relu', 'allcnn-splash', 'lenet5-relu', 'lenet5-splash']);
  assert.equal(bench.check.length, 16, 'four TF.js configurations per network');
  for (const r of bench.check) {
    const where = `${r.model} against ${r.backend}`;
    assert.ok(r.maxProbDiff < 1e-4, `${where}: probabilities differ by ${r.maxProbDiff}`);
    // The FGSM image is a sign of a gradient: pixels whose gradient is about 0 may round
    // either way, the rest must match exactly.
    // One failure is TF.js's, known and named: its wasm backend has no kernel for the filter
    // gradient that a fused convolution's gradient asks for. Any other FGSM error fails.
    if (r.fgsmError) {
      assert.equal(r.backend, 'tfjs-wasm fused', `${where}: ${r.fgsmError}`);
      assert.match(r.fgsmError, /^Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'$/, where);
    } else assert.ok(r.fgsmSameFraction > 0.98, `${where}: only ${(100 * r.fgsmSameFraction).toFixed(1)} % of FGSM pixels agree`);
  }
  // The SPLASH activation is really there: the op-by-op wasm model of each SPLASH network
  // had its gradient checked, not skipped.
  for (const m of ['lenet5-splash', 'allcnn-splash']) assert.ok(bench.check.some((r) => r.model === m && r.fgsmSameFraction !== undefined));
  await page.close();
});

test('splash on threads (shared memory, bench.html?isolated) gives the probabilities of one thread', async () => {
  const page = await env.browser.context.newPage();
  await page.goto(`${env.server.url}bench/bench.html?isolated&check`);
  await page.waitForFunction(() => globalThis.__bench, null, { timeout: 300000 });
  const bench = await page.evaluate(() => globalThis.__bench);
  assert.equal(bench.error, undefined, bench.error);
  assert.deepEqual(bench.threads.map((r) => r.model).sort(), ['allcnn-relu', 'allcnn-splash', 'lenet5-relu', 'lenet5-splash']);
  for (const r of bench.threads) {
    assert.ok(r.splashThreads >= 2, `${r.model}: ${r.splashThreads} threads`);
    assert.equal(r.maxProbDiff, 0, r.model);
  }
  await page.close();
});
