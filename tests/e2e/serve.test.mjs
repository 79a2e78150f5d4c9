// The development server (scripts/serve.mjs): only www/, only GET and HEAD, clear statuses,
// security headers on every answer, and gzip for what compresses (no browser needed).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { readFileSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startServer } from './harness.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

/** A raw request (no URL normalisation by a client library). */
function get(path, { method = 'GET', headers = {} } = {}) {
  const u = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('serves www/ files, gzipped when the client accepts it', async () => {
  const raw = readFileSync(join(ROOT, 'www', 'index.html'));
  const plain = await get('/');
  assert.equal(plain.status, 200);
  assert.deepEqual(plain.body, raw);
  const zipped = await get('/index.html', { headers: { 'Accept-Encoding': 'gzip, br' } });
  assert.equal(zipped.headers['content-encoding'], 'gzip');
  assert.equal(zipped.headers.vary, 'Accept-Encoding');
  assert.deepEqual(gunzipSync(zipped.body), raw);
  assert.ok(zipped.body.length < raw.length);
});

test('nothing outside www/, no other methods, and clear statuses with the security headers', async () => {
  const link = join(ROOT, 'www', 'serve-test-link');
  symlinkSync(join(ROOT, 'README.md'), link);
  try {
    for (const [path, status] of [
      ['/../README.md', 404],
      ['/%2e%2e/README.md', 404],
      ['/serve-test-link', 404],
      ['/models', 404],
      ['/nope.js', 404],
      ['/%E0%A4%A', 400],
      ['/index.html%00', 400],
    ]) {
      const r = await get(path);
      assert.equal(r.status, status, path);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', path);
      assert.match(r.headers['content-security-policy'], /default-src 'self'/, path);
      assert.doesNotMatch(r.body.toString(), /SPLASH/, `${path} leaked a file`);
    }
  } finally {
    unlinkSync(link);
  }
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const r = await get('/index.html', { method });
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.allow, 'GET, HEAD');
  }
  const head = await get('/index.html', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
});

test('each page is served with the policy of its own <meta> tag, plus frame-ancestors', async () => {
  for (const [page, file] of [['index.html', join(ROOT, 'www', 'index.html')], ['bench/bench.html', join(ROOT, 'bench', 'bench.html')]]) {
    const meta = readFileSync(file, 'utf8').match(/http-equiv="Content-Security-Policy" content="([^"]+)"/)[1];
    const r = await get(`/${page}`);
    assert.equal(r.headers['content-security-policy'], `${meta}; frame-ancestors 'none'`, page);
  }
  // Everything else (scripts, workers, wasm) carries the demo's policy.
  const demo = readFileSync(join(ROOT, 'www', 'index.html'), 'utf8').match(/http-equiv="Content-Security-Policy" content="([^"]+)"/)[1];
  assert.equal((await get('/train-worker.js')).headers['content-security-policy'], `${demo}; frame-ancestors 'none'`);
});

test('the benchmark page is cross-origin isolated when it asks (?isolated), and only then', async () => {
  const isolated = await get('/bench/bench.html?isolated=1');
  assert.equal(isolated.headers['cross-origin-opener-policy'], 'same-origin');
  assert.equal(isolated.headers['cross-origin-embedder-policy'], 'require-corp');
  for (const page of ['/bench/bench.html', '/index.html', '/index.html?isolated=1']) {
    const r = await get(page);
    assert.equal(r.headers['cross-origin-opener-policy'], undefined, page);
    assert.equal(r.headers['cross-origin-embedder-policy'], undefined, page);
  }
  // The isolated page's scripts and workers may load: they carry COEP.
  for (const file of ['/bench/bench.js', '/bench/bench-worker.js', '/pkg/splash_relaxed_bg.wasm']) {
    assert.equal((await get(file)).headers['cross-origin-embedder-policy'], 'require-corp', file);
  }
});
