// Offline support: every same-origin GET goes to the network first and is cached; when the
// network fails, the cached copy answers. The page's files are cached on install, so after
// one visit the whole demo (both architectures, both trainings) works offline; the training
// panel's module (pkg-train/) and digits are cached when it first fetches them.
// Bump CACHE when the page's files change, so an offline visitor never mixes versions.
const CACHE = 'splash-v4';
// The page itself: install fails (and the old worker stays) if any is missing.
const FILES = [
  './',
  'index.html',
  'style.css',
  'favicon.svg',
  'boot.js',
  'main.js',
  'client.js',
  'state.js',
  'util.js',
  'worker.js',
  'wasm-build.js',
  'pool.js',
  'models.js',
  'panels/draw.js',
  'panels/predictions.js',
  'panels/gallery.js',
  'panels/attack.js',
  'panels/robustness.js',
  'panels/curves.js',
  'panels/strip.js',
  'panels/travel.js',
  'panels/bend.js',
  'panels/train.js',
  'train-worker.js',
  'vendor/chart.umd.js',
  'pkg/splash.js',
  'pkg/splash_bg.wasm',
  'pkg/splash_relaxed_bg.wasm',
  'data/heldout-images.bin',
  'data/heldout-labels.bin',
];
// The model files (the same list as ALL_MODEL_FILES in models.js, which a test checks; a
// classic service worker cannot import an ES module). Cached if present.
const MODEL_FILES = ['lenet5', 'allcnn', 'lenet5-adv', 'allcnn-adv', 'lenet5-adv-0.3'].flatMap((set) => {
  const [arch, ...rest] = set.split('-');
  const training = rest.join('-');
  return ['splash', 'relu'].flatMap((v) => {
    const stem = `models/${arch}-${v}${training ? `-${training}` : ''}`;
    return [`${stem}.safetensors`, `${stem}.eval.json`];
  });
});
// The seed studies (STUDIES in models.js). Cached if present.
const STUDY_FILES = ['data/study-lenet5.json', 'data/study-allcnn.json', 'data/study-lenet5-adv.json', 'data/study-lenet5-adv-0.3.json'];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => Promise.all([cache.addAll(FILES), ...[...MODEL_FILES, ...STUDY_FILES].map((f) => cache.add(f).catch(() => undefined))]))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET' || new URL(req.url).origin !== self.location.origin) return;
  event.respondWith(
    (async () => {
      try {
        const res = await fetch(req);
        if (res.ok) {
          // One entry per file: the page's query string (its view state) is not part of it.
          const key = new URL(req.url);
          key.search = '';
          const copy = res.clone();
          caches.open(CACHE).then((cache) => cache.put(key.href, copy));
        }
        return res;
      } catch (err) {
        const hit = await caches.match(req, { ignoreSearch: true });
        if (hit) return hit;
        throw err;
      }
    })(),
  );
});
