// The package's example page (examples/predict/) runs in Chromium as a web developer would
// run it: the repository root served as plain files, the page importing pkg/ (the npm
// package splash-wasm), loading a committed model, predicting and attacking one digit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile, realpath } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { ROOT, startBrowser } from './harness.mjs';

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.svg': 'image/svg+xml' };
// Only what the example needs: itself, the package, the weights and the icon.
const SERVED = ['examples', 'pkg', join('www', 'models'), join('www', 'favicon.svg')];

async function serveRepository() {
  const root = await realpath(ROOT);
  const server = createServer(async (req, res) => {
    try {
      const path = normalize(decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname)).replace(/^\/+/, '');
      const file = await realpath(join(root, path.endsWith(sep) || path === '' ? join(path, 'index.html') : path));
      if (!SERVED.some((d) => file === join(root, d) || file.startsWith(join(root, d) + sep))) throw new Error('outside');
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/`, stop: () => server.close() };
}

test('the example page imports the package, predicts a digit and attacks it', async () => {
  const server = await serveRepository();
  const browser = await startBrowser();
  try {
    const page = await browser.context.newPage();
    const errors = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}examples/predict/`);
    await page.waitForFunction(() => globalThis.__example, null, { timeout: 60000 });
    const result = await page.evaluate(() => globalThis.__example);
    assert.equal(result.error, undefined, result.error);
    for (const p of [result.clean, result.attacked]) {
      assert.equal(p.length, 10);
      assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-4, `probabilities sum to 1: ${p}`);
    }
    assert.notDeepEqual(result.attacked, result.clean, 'the FGSM step changed the prediction');
    const text = await page.textContent('#out');
    assert.match(text, /loaded lenet5-splash: 4 SPLASH layers/);
    assert.match(text, /after FGSM at ε = 0\.2: \d/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.stop();
  }
});
