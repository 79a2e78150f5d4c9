// The two WebAssembly builds of the page's core (www/wasm-build.js): Chromium gets the
// relaxed-SIMD one (fused multiply-add), ?wasm=simd128 the plain one, and both give the same
// probabilities to rounding on held-out digits for every model the page can load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drawStroke, openPage, useServerAndBrowser, waitReady } from './harness.mjs';

const env = useServerAndBrowser();

/** The build the page's worker loaded, as the footer states it. */
async function pageBuild(page) {
  await page.waitForFunction(() => document.getElementById('wasm-build')?.dataset.build);
  return page.evaluate(() => ({ build: document.getElementById('wasm-build').dataset.build, text: document.getElementById('wasm-build').textContent }));
}

test('Chromium runs the relaxed-SIMD build; ?wasm=simd128 the plain one; the footer says which', async () => {
  const { page, problems } = await openPage(env.browser.context, env.server.url);
  await waitReady(page);
  const relaxed = await page.evaluate(async () => (await import('./wasm-build.js')).RELAXED_SIMD);
  assert.equal(relaxed, true, 'this Chromium does not validate relaxed SIMD, so the relaxed build goes untested');
  assert.deepEqual(await pageBuild(page), { build: 'relaxed-simd', text: ' This browser runs its relaxed SIMD (fused multiply-add) build.' });
  assert.deepEqual(problems, []);
  await page.close();

  const plain = await openPage(env.browser.context, `${env.server.url}?wasm=simd128`);
  await waitReady(plain.page);
  assert.equal((await pageBuild(plain.page)).build, 'simd128');
  await drawStroke(plain.page, [[0.5, 0.15], [0.5, 0.85]]);
  await plain.page.waitForFunction(() => document.querySelector('#top-splash')?.dataset.prediction !== undefined);
  assert.deepEqual(plain.problems, []);
  await plain.page.close();
});

test('both builds give the same probabilities (to 1e-5) for 300 held-out digits on every model', async () => {
  const { page, problems } = await openPage(env.browser.context, env.server.url);
  const result = await page.evaluate(async () => {
    const { ALL_MODEL_FILES } = await import('./models.js');
    // Two instances of the same glue module (a query string makes a second one), one per build.
    const plain = await import('./pkg/splash.js?build=plain');
    await plain.default({ module_or_path: new URL('pkg/splash_bg.wasm', location.href) });
    const relaxed = await import('./pkg/splash.js?build=relaxed');
    await relaxed.default({ module_or_path: new URL('pkg/splash_relaxed_bg.wasm', location.href) });
    const n = 300;
    const bytes = new Uint8Array(await (await fetch('data/heldout-images.bin')).arrayBuffer()).subarray(0, n * 784);
    const x = Float32Array.from(bytes, (v) => v / 255);
    const out = [];
    for (const file of ALL_MODEL_FILES.filter((f) => f.endsWith('.safetensors'))) {
      const w = new Uint8Array(await (await fetch(file)).arrayBuffer());
      const [p, q] = [plain, relaxed].map((m) => new m.Network(w).predict(x));
      let maxDiff = 0;
      let flips = 0;
      for (let i = 0; i < n; i++) {
        const row = (a) => Array.from(a.subarray(10 * i, 10 * i + 10));
        const [a, b] = [row(p), row(q)];
        for (let k = 0; k < 10; k++) maxDiff = Math.max(maxDiff, Math.abs(a[k] - b[k]));
        const top = (r) => r.indexOf(Math.max(...r));
        const sorted = [...a].sort((u, v) => v - u);
        if (top(a) !== top(b) && sorted[0] - sorted[1] > 1e-4) flips++;
      }
      out.push({ file, maxDiff, flips, identical: p.every((v, i) => v === q[i]) });
    }
    return out;
  });
  assert.ok(result.length >= 8, `models checked: ${result.map((r) => r.file)}`);
  for (const r of result) {
    assert.ok(r.maxDiff <= 1e-5, `${r.file}: max |Δp| = ${r.maxDiff}`);
    assert.equal(r.flips, 0, `${r.file}: a clear top class changed`);
  }
  // The relaxed build does compute differently (fused multiply-adds round once).
  assert.ok(result.some((r) => !r.identical), 'the two builds gave bit-identical probabilities: is the relaxed build fused at all?');
  assert.deepEqual(problems, []);
  await page.close();
});
