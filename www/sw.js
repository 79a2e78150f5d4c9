// Offline support: every same-origin GET goes to the network first and is cached; when the
// network fails, the cached copy answers. The page's files are cached on install, so after
// one visit the whole demo (both architectures) works offline.
const CACHE = 'splash-v1';
const FILES = [
  './',
  'index.html',
  'style.css',
  'favicon.svg',
  'main.js',
  'client.js',
  'state.js',
  'util.js',
  'worker.js',
  'pool.js',
  'panels/draw.js',
  'panels/predictions.js',
  'panels/gallery.js',
  'panels/attack.js',
  'panels/robustness.js',
  'panels/curves.js',
  'vendor/chart.umd.js',
  'pkg/splash.js',
  'pkg/splash_bg.wasm',
  'data/heldout-images.bin',
  'data/heldout-labels.bin',
  ...['lenet5', 'allcnn'].flatMap((a) => ['relu', 'splash'].flatMap((v) => [`models/${a}-${v}.safetensors`, `models/${a}-${v}.eval.json`])),
];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => Promise.all(FILES.map((f) => cache.add(f).catch(() => undefined))))
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
          const copy = res.clone();
          caches.open(CACHE).then((cache) => cache.put(req, copy));
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
