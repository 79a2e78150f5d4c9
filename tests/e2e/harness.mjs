// Starts the static server and headless Debian Chromium for the browser tests.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export async function startServer() {
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'serve.mjs'), '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http:\/\/127\.0\.0\.1:\d+\//);
      if (m) resolve(m[0]);
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
    setTimeout(() => reject(new Error('server did not start')), 10000);
  });
  return { url, stop: () => child.kill() };
}

/** Chromium with a fresh profile. Service workers are blocked unless `serviceWorkers` is
 * 'allow', because requests a service worker answers bypass page.route(). */
export async function startBrowser({ serviceWorkers = 'block', phone = false } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'splash-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    serviceWorkers,
    // `phone`: a 390×844 touch screen (coarse pointer), as a phone reports itself.
    ...(phone ? { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2 } : { viewport: { width: 1280, height: 900 } }),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** For a test file: starts the server and a browser (`startBrowser(options)`) before its
 * tests and stops both after them. Returns an object whose `server` and `browser` are set
 * once started. */
export function useServerAndBrowser(options) {
  const env = { server: null, browser: null };
  before(async () => {
    env.server = await startServer();
    env.browser = await startBrowser(options);
  });
  after(async () => {
    await env.browser?.close();
    env.server?.stop();
  });
  return env;
}

/** FILES, MODEL_FILES, STUDY_FILES and CACHE as www/sw.js computes them, run in a sandbox with
 * a stub `self`. */
export function serviceWorkerLists() {
  const code = readFileSync(join(ROOT, 'www', 'sw.js'), 'utf8') + '\n;({ FILES, MODEL_FILES, STUDY_FILES, CACHE });';
  const sandbox = { self: { addEventListener() {}, location: { origin: 'http://x' } }, URL };
  return vm.runInNewContext(code, sandbox);
}

/** A new page whose console errors and uncaught exceptions are recorded in `problems`. */
export async function trackedPage(context) {
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  return { page, problems };
}

/** A page that records console errors and uncaught exceptions, at `url`. */
export async function openPage(context, url) {
  const { page, problems } = await trackedPage(context);
  await page.goto(url);
  return { page, problems };
}

export async function waitReady(page, timeout = 60000) {
  await page.waitForFunction(() => globalThis.__splash?.ready === true, null, { timeout });
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Class probabilities from the native core (`splash predict`) for 784-pixel images. */
/** The native CLI's probabilities for `images`; `weights` is a file in www/models or a path. */
export function nativePredict(weights, images) {
  const dir = mkdtempSync(join(tmpdir(), 'splash-native-'));
  const file = join(dir, 'pixels.json');
  writeFileSync(file, JSON.stringify(images));
  const bin = join(ROOT, 'target', 'release', 'splash');
  const out = execFileSync(bin, ['predict', '--weights', isAbsolute(weights) ? weights : join(ROOT, 'www', 'models', weights), '--pixels', file], { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  return JSON.parse(out);
}

export const argmax = (a) => a.reduce((best, v, i) => (v > a[best] ? i : best), 0);

/** Draws a stroke through `points` (fractions of the pad) with pointer events of `pointerType`. */
export async function drawStroke(page, points, pointerType = 'mouse') {
  await page.locator('#pad').scrollIntoViewIfNeeded();
  const box = await page.locator('#pad').boundingBox();
  const abs = points.map(([x, y]) => [box.x + x * box.width, box.y + y * box.height]);
  if (pointerType === 'mouse') {
    await page.mouse.move(abs[0][0], abs[0][1]);
    await page.mouse.down();
    for (const [x, y] of abs.slice(1)) await page.mouse.move(x, y, { steps: 4 });
    await page.mouse.up();
    return;
  }
  await page.evaluate(
    ({ abs, pointerType }) => {
      const pad = document.getElementById('pad');
      const fire = (type, [x, y], pressure) =>
        pad.dispatchEvent(new PointerEvent(type, { bubbles: true, cancelable: true, pointerId: 7, pointerType, clientX: x, clientY: y, pressure, button: 0, buttons: type === 'pointerup' ? 0 : 1, isPrimary: true }));
      fire('pointerdown', abs[0], 0.6);
      for (const p of abs.slice(1)) fire('pointermove', p, 0.6);
      fire('pointerup', abs[abs.length - 1], 0);
    },
    { abs, pointerType },
  );
}
