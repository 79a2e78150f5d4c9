// Refreshes docs/screenshot.png: the page with a held-out digit under PGD and a live PGD-40
// robustness curve over the test-set reference.
// Usage: node scripts/screenshot.mjs   (after scripts/build.sh)
import { join } from 'node:path';
import { startBrowser, startServer, waitReady, ROOT } from '../tests/e2e/harness.mjs';

const server = await startServer();
const browser = await startBrowser();
try {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${server.url}?digit=3&eps=0.1&method=pgd&steps=20&n=250&curve=pgd-40`);
  await waitReady(page);
  await page.waitForFunction(() => globalThis.__splash.attack?.settings.method === 'pgd');
  await page.click('#curve-run');
  await page.waitForFunction(() => globalThis.__splash.curve, null, { timeout: 300000 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(ROOT, 'docs', 'screenshot.png'), fullPage: true });
  console.log('wrote docs/screenshot.png');
} finally {
  await browser.close();
  server.stop();
}
