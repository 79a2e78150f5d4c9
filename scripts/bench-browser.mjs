// Runs bench/bench.html in headless Debian Chromium and prints splash vs TF.js figures.
// Usage: scripts/build.sh && node scripts/bench-browser.mjs [simd128] [--json FILE]
// (`simd128`: splash's plain SIMD build instead of the relaxed-SIMD one the page picks.)
// Then the page again, cross-origin isolated (bench.html?isolated): batch-64 throughput with
// threads on both sides (TF.js's threaded wasm backend on every core; splash on the page's
// thread plus workers fed through shared memory).
// With --json FILE, also writes both runs' raw results there (atomically), for
// scripts/performance-table.mjs, which writes docs/PERFORMANCE.md's current table from them.
import { renameSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { startBrowser, startServer } from '../tests/e2e/harness.mjs';

const server = await startServer();
const browser = await startBrowser();
try {
  const page = await browser.context.newPage();
  page.on('console', (m) => m.type() === 'error' && console.error(m.text()));
  const args = process.argv.slice(2);
  const jsonAt = args.indexOf('--json');
  const jsonFile = jsonAt >= 0 ? args[jsonAt + 1] : null;
  if (jsonAt >= 0 && !jsonFile) throw new Error('--json needs a file name');
  const wasm = args.find((a, i) => !a.startsWith('--') && (jsonAt < 0 || i !== jsonAt + 1));
  const query = (extra) => `?${new URLSearchParams({ ...(wasm ? { wasm } : {}), ...extra })}`;
  const run = async (extra) => {
    await page.goto(`${server.url}bench/bench.html${query(extra)}`);
    await page.waitForFunction(() => globalThis.__bench, null, { timeout: 600000 });
    const bench = await page.evaluate(() => globalThis.__bench);
    if (bench.error) throw new Error(bench.error);
    return bench;
  };
  const bench = await run({});
  const f = (v) => v.toFixed(2).padStart(8);
  console.log(`splash ${bench.wasm} build; TF.js ${bench.tfjs} in ${bench.userAgent}`);
  console.log('model          peer             | predict b=1 ms: splash   peer  ratio | FGSM step b=1 ms: splash   peer  ratio | b=64 img/s: splash    peer  ratio | max|dp|');
  for (const r of bench.rows) {
    console.log(
      `${r.model.padEnd(14)} ${r.backend.padEnd(16)} |        ${f(r.splash.predict1)} ${f(r.tfjs.predict1)} ${f(r.ratio.predict1)} |           ${r.fgsmError ? '       (TF.js cannot)      ' : `${f(r.splash.fgsm1)} ${f(r.tfjs.fgsm1)} ${f(r.ratio.fgsm1)}`} |  ${(64000 / r.splash.predict64).toFixed(0).padStart(8)} ${(64000 / r.tfjs.predict64).toFixed(0).padStart(7)} ${f(r.ratio.throughput64)} | ${r.maxProbDiff.toExponential(1)}`,
    );
  }
  console.log('ratio = splash / TF.js for latency (below 1: splash faster), splash / TF.js for img/s (above 1: splash faster)');
  console.log('\nsplash against the fastest TF.js configuration of each measurement:');
  for (const r of bench.fastest) {
    const cell = (c) => `${c.ratio.toFixed(2)} (${c.peer})`.padEnd(24);
    console.log(`${r.model.padEnd(14)} | predict b=1 ${cell(r.predict1)} | FGSM step b=1 ${cell(r.fgsm1)} | b=64 img/s ${cell(r.throughput64)}`);
  }
  console.log('\ntraining, LeNet5-ReLU, batch 64, one step per call, alternating:');
  for (const r of bench.training) {
    const ips = (ms) => (ms ? ((r.batch * 1000) / ms).toFixed(0) : '-');
    console.log(`${r.arch} ${r.backend.padEnd(10)} | splash ${ips(r.splashMs).padStart(6)} img/s | TF.js ${r.error ? `cannot train: ${r.error}` : `${ips(r.tfjsMs).padStart(6)} img/s | ratio ${r.ratio.toFixed(2)}`}`);
  }
  const threaded = await run({ isolated: '1' });
  console.log('\nbatch 64 with threads on both sides (cross-origin isolated page):');
  for (const r of threaded.threads) {
    console.log(`${r.model.padEnd(14)} ${r.peer.padEnd(16)} | TF.js ${r.threads} threads, splash ${r.splashThreads} threads | splash ${(64000 / r.splashMs).toFixed(0).padStart(6)} img/s | TF.js ${(64000 / r.tfjsMs).toFixed(0).padStart(6)} img/s | ratio ${r.ratio.toFixed(2)}`);
  }
  if (jsonFile) {
    const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', platform: `${process.platform} ${process.arch}` };
    const out = { date: new Date().toISOString().slice(0, 10), machine, single: bench, threaded };
    writeFileSync(`${jsonFile}.tmp`, `${JSON.stringify(out, null, 1)}\n`);
    renameSync(`${jsonFile}.tmp`, jsonFile);
    console.log(`\nwrote ${jsonFile}`);
  }
} finally {
  await browser.close();
  server.stop();
}
