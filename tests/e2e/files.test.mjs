// The service worker's offline list and the page's modules agree (no browser needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { ALL_MODEL_FILES, SETS, STUDIES, VARIANTS, modelFiles } from '../../www/models.js';
import { BUILDS } from '../../www/wasm-build.js';
import { serviceWorkerLists } from './harness.mjs';

const WWW = new URL('../../www/', import.meta.url);


test('the service worker caches every model file the page can load', () => {
  const { MODEL_FILES } = serviceWorkerLists();
  assert.deepEqual([...MODEL_FILES].sort(), [...ALL_MODEL_FILES].sort());
});

test('the service worker caches every seed study the verdict reads, and the build writes them', () => {
  const { STUDY_FILES } = serviceWorkerLists();
  const files = Object.values(STUDIES).map((s) => s.file);
  assert.deepEqual([...STUDY_FILES].sort(), [...files].sort());
  const build = readFileSync(new URL('../../scripts/build.sh', import.meta.url), 'utf8');
  for (const f of files) assert.ok(build.includes(`www/${f}`), `scripts/build.sh does not write www/${f}`);
});

test('the service worker caches every module of the page', () => {
  const { FILES } = serviceWorkerLists();
  const modules = readdirSync(WWW).filter((f) => f.endsWith('.js') && f !== 'sw.js');
  const panels = readdirSync(new URL('panels/', WWW)).map((f) => `panels/${f}`);
  for (const f of [...modules, ...panels]) assert.ok(FILES.includes(f), `${f} is not in sw.js's FILES`);
});

test('model sets name their files and networks', () => {
  assert.deepEqual(modelFiles('lenet5', 'splash'), { weights: 'models/lenet5-splash.safetensors', report: 'models/lenet5-splash.eval.json', name: 'lenet5-splash' });
  assert.deepEqual(modelFiles('allcnn-adv', 'relu'), { weights: 'models/allcnn-relu-adv.safetensors', report: 'models/allcnn-relu-adv.eval.json', name: 'allcnn-relu' });
  assert.deepEqual(modelFiles('lenet5-adv-0.3', 'splash'), { weights: 'models/lenet5-splash-adv-0.3.safetensors', report: 'models/lenet5-splash-adv-0.3.eval.json', name: 'lenet5-splash' });
  // Every file a set names is committed.
  for (const f of ALL_MODEL_FILES) assert.ok(existsSync(new URL(f, WWW)), `www/${f} is missing`);
  assert.throws(() => modelFiles('../secret', 'relu'), /unknown model set/);
  assert.equal(ALL_MODEL_FILES.length, SETS.length * VARIANTS.length * 2);
});

test('both wasm builds the workers may load are cached by the service worker and written by the build', () => {
  const { FILES } = serviceWorkerLists();
  const build = readFileSync(new URL('../../scripts/build.sh', import.meta.url), 'utf8');
  for (const { file: f } of Object.values(BUILDS)) {
    assert.ok(FILES.includes(`pkg/${f}`), `pkg/${f} is not in sw.js's FILES`);
    assert.ok(build.includes(f), `scripts/build.sh does not write www/pkg/${f}`);
  }
});

test('docs/ROBUSTNESS.md and README.md\'s results table are what the eval reports give (never retyped)', () => {
  // Exits non-zero, with a message naming the stale file, when either differs.
  execFileSync(process.execPath, [new URL('../../scripts/results-table.mjs', import.meta.url).pathname, '--check'], { stdio: 'pipe' });
});

test('docs/PERFORMANCE.md\'s current figures are what the bench run gives (never retyped)', () => {
  // Exits non-zero, naming the stale file, when the tables differ from docs/performance/bench.json.
  execFileSync(process.execPath, [new URL('../../scripts/performance-table.mjs', import.meta.url).pathname, '--check'], { stdio: 'pipe' });
});
