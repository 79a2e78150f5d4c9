// On a touch screen every control of the page is a target of at least 44×44 CSS pixels
// (WCAG 2.5.5), counting a radio button or checkbox through its label.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, startBrowser, startServer, waitReady } from './harness.mjs';

let server;
let browser;
before(async () => {
  server = await startServer();
  browser = await startBrowser({ phone: true });
});
after(async () => {
  await browser?.close();
  server?.stop();
});

test('every control is a 44×44 target on a touch screen', async () => {
  const { page, problems } = await openPage(browser.context, `${server.url}?digit=3`);
  await waitReady(page);
  assert.equal(await page.evaluate(() => matchMedia('(pointer: coarse)').matches), true);
  await page.selectOption('#train-adv', 'pgd'); // shows the ε and steps fields too
  const small = await page.evaluate(() => {
    const out = [];
    for (const e of document.querySelectorAll('button, input, select, a[href], summary, [tabindex="0"]')) {
      const r = e.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || e.closest('[hidden], .hidden, [aria-hidden=true]')) continue;
      const target = (b) => b.width >= 44 && b.height >= 44;
      const label = e.closest('label');
      if (target(r) || (label && target(label.getBoundingClientRect()))) continue;
      out.push(`${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''} ${Math.round(r.width)}×${Math.round(r.height)}`);
    }
    return out;
  });
  assert.deepEqual(small, []);
  assert.deepEqual(problems, []);
  await page.close();
});
