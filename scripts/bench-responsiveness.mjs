// How quickly the page answers a visitor, in headless Debian Chromium on this machine:
// from navigation to the first bars (cold: nothing cached; warm: a second visit with the
// service worker's cache), and from the end of a pen stroke to the bars for the finished
// drawing (median and worst of 15 strokes, LeNet5 and All-CNN).
// Usage: scripts/build.sh && node scripts/bench-responsiveness.mjs
import { drawStroke, startBrowser, startServer, waitReady } from '../tests/e2e/harness.mjs';

const STROKES = 15;
// A 7, then its bar: the stroke ends where the last point is.
const SEVEN = [[0.25, 0.22], [0.72, 0.22], [0.62, 0.45], [0.5, 0.78]];

const server = await startServer();
const browser = await startBrowser({ serviceWorkers: 'allow' });
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
try {
  const firstBars = async (label) => {
    const page = await browser.context.newPage();
    await page.goto(`${server.url}?digit=3`);
    await waitReady(page);
    await page.waitForFunction(() => performance.getEntriesByName('splash:first-predictions').length > 0, null, { timeout: 120000 });
    const t = await page.evaluate(() => ({
      bars: performance.getEntriesByName('splash:first-predictions')[0].startTime,
      load: performance.getEntriesByType('navigation')[0].loadEventEnd,
      // The navigation itself went through the service worker (a cached visit).
      controlled: performance.getEntriesByType('navigation')[0].workerStart > 0,
    }));
    console.log(`${label.padEnd(34)} first bars ${t.bars.toFixed(0).padStart(5)} ms after navigation (load event ${t.load.toFixed(0)} ms${t.controlled ? ', served by the service worker' : ''})`);
    return page;
  };
  (await firstBars('first visit (nothing cached)')).close();
  // Let the service worker finish caching, then come back.
  await new Promise((r) => setTimeout(r, 3000));
  const page = await firstBars('second visit (service-worker cache)');

  for (const arch of ['lenet5', 'allcnn']) {
    await page.check(`input[name=arch][value=${arch}]`);
    await page.waitForFunction(() => globalThis.__splash.ready);
    const latencies = [];
    for (let i = 0; i < STROKES; i++) {
      await page.click('#clear');
      // The end of the stroke, in the page's clock.
      await page.evaluate(() => {
        globalThis.__strokeEnd = null;
        document.getElementById('pad').addEventListener('pointerup', () => (globalThis.__strokeEnd = performance.now()), { once: true });
      });
      await drawStroke(page, SEVEN.map(([x, y]) => [x + (i % 3) * 0.02, y]));
      const ms = await page.evaluate(
        () =>
          new Promise((resolve) => {
            // The bars for the finished drawing: the last update after the stroke ended, once
            // none has followed for 300 ms (an update already under way when the stroke
            // ended may come first).
            const check = () => {
              const after = performance.getEntriesByName('splash:predictions').filter((m) => m.startTime >= globalThis.__strokeEnd);
              const last = after[after.length - 1];
              if (globalThis.__strokeEnd !== null && last && performance.now() - last.startTime > 300) resolve(last.startTime - globalThis.__strokeEnd);
              else setTimeout(check, 1);
            };
            check();
          }),
      );
      latencies.push(ms);
    }
    console.log(`${arch.padEnd(7)} end of stroke → bars updated: median ${median(latencies).toFixed(1)} ms, worst ${Math.max(...latencies).toFixed(1)} ms (${STROKES} strokes)`);
  }
  console.log(`(${await page.evaluate(() => navigator.userAgent)})`);
} finally {
  await browser.close();
  server.stop();
}
