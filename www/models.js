// The page's model sets and their files: the one place that names them.

/** Model sets: an architecture, and its adversarially trained twins: '-adv' for ε = 0.1
 * (both architectures), '-adv-0.3' for ε = 0.3 (LeNet5). */
export const SETS = ['lenet5', 'allcnn', 'lenet5-adv', 'allcnn-adv', 'lenet5-adv-0.3'];

/** The trainings of the page's switch and the set name each makes with an architecture
 * (null: that architecture has no such pair). */
export function setOf(arch, training) {
  const set = training === 'standard' ? arch : `${arch}-${training}`;
  return SETS.includes(set) ? set : null;
}

/** The networks of every set. */
export const VARIANTS = ['splash', 'relu'];

/** The files of variant `v` of model set `set`, and the network they must hold. */
export function modelFiles(set, v) {
  if (!SETS.includes(set)) throw new Error(`unknown model set '${set}' (expected one of ${SETS.join(', ')})`);
  const [arch, ...rest] = set.split('-');
  const training = rest.join('-');
  const stem = `models/${arch}-${v}${training ? `-${training}` : ''}`;
  return { weights: `${stem}.safetensors`, report: `${stem}.eval.json`, name: `${arch}-${v}` };
}

/** Every model file the page may fetch (for the offline cache). */
export const ALL_MODEL_FILES = SETS.flatMap((set) => VARIANTS.flatMap((v) => {
  const f = modelFiles(set, v);
  return [f.weights, f.report];
}));

/** The multi-seed studies behind a model set (`splash study`'s results, copied by
 * scripts/build.sh from docs/), and the report each one generated. */
export const STUDIES = {
  lenet5: { file: 'data/study-lenet5.json', report: 'docs/REPRODUCTION.md' },
  allcnn: { file: 'data/study-allcnn.json', report: 'docs/REPRODUCTION-allcnn.md' },
  'lenet5-adv': { file: 'data/study-lenet5-adv.json', report: 'docs/REPRODUCTION-adversarial-study.md' },
  // The ε = 0.3 pair's study measures the strong attacks at ε = 0.1, 0.2 and 0.3; the verdict
  // quotes its spread at the budget trained for.
  'lenet5-adv-0.3': { file: 'data/study-lenet5-adv-0.3.json', report: 'docs/REPRODUCTION-adversarial-0.3-study.md', epsilons: [0.3] },
};
