// Times the page's live robustness curve in headless Debian Chromium: PGD-20 on 500
// held-out digits at 7 values of ε for both LeNet5 networks, on one worker per core and,
// as the peer in the same browser, on a single worker. Prints seconds and the speed-up.
// Usage: scripts/build.sh && node scripts/bench-curve.mjs [digits] [attack] [arch]
import { startBrowser, startServer, waitReady } from '../tests/e2e/harness.mjs';

const [n = '500', attack = 'pgd-20', arch = 'lenet5'] = process.argv.slice(2);
const server = await startServer();
const browser = await startBrowser();
async function run(workers) {
  const page = await browser.context.newPage();
  const w = workers ? `&workers=${workers}` : '';
  await page.goto(`${server.url}?arch=${arch}&n=${n}&curve=${attack}${w}`);
  await waitReady(page);
  await page.click('#curve-run');
  await page.waitForFunction(() => globalThis.__splash.curve, null, { timeout: 1800000 });
  const curve = await page.evaluate(() => globalThis.__splash.curve);
  await page.close();
  if (curve.cancelled || curve.done !== Number(n)) throw new Error(`the run did not finish: ${JSON.stringify(curve)}`);
  return curve;
}
try {
  const cores = await (async () => {
    const p = await browser.context.newPage();
    const c = await p.evaluate(() => navigator.hardwareConcurrency);
    await p.close();
    return c;
  })();
  const rows = [];
  for (let rep = 0; rep < 2; rep++) {
    // Alternate the two configurations so that the machine's drift falls on both.
    rows.push(['pool', await run(null)]);
    rows.push(['one worker', await run(1)]);
  }
  const med = (name) => {
    const s = rows.filter(([k]) => k === name).map(([, c]) => c.seconds).sort((a, b) => a - b);
    return s[Math.floor((s.length - 1) / 2)];
  };
  for (const [name, c] of rows) {
    console.log(`${name.padEnd(11)} ${c.workers} worker(s): ${c.seconds.toFixed(1)} s for ${c.done} digits × ${c.counts.splash.length} ε × 2 networks (${c.attacks.join('+')}, ${c.arch})`);
  }
  console.log(`${attack} curve on ${n} held-out digits, ${arch}, ${cores} logical cores: pool ${med('pool').toFixed(1)} s, one worker ${med('one worker').toFixed(1)} s, speed-up ${(med('one worker') / med('pool')).toFixed(2)} × (lower of two runs each)`);
} finally {
  await browser.close();
  server.stop();
}
