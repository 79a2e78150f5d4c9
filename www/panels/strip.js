// The result strip: one line fixed to the bottom of the window with the digit, both
// networks' answers and the last attack's outcome. It shows while the predictions or the
// attack result are out of view (on a phone the pad fills the screen; on a laptop the
// attack panel sits below the predictions), so cause and effect stay on one screen.
import { argmax, drawDigit, pct } from '../util.js';

export function createStrip(root, watched) {
  const canvas = root.querySelector('canvas');
  const answers = root.querySelector('[data-role=answers]');
  const attack = root.querySelector('[data-role=attack]');
  let hasContent = false;
  const inView = new Map(watched.map((w) => [w, true]));
  const sync = () => {
    root.hidden = !hasContent || [...inView.values()].every(Boolean);
  };
  if ('IntersectionObserver' in globalThis) {
    const io = new IntersectionObserver(
      (entries) => {
        // In view: a third of it shows, or it fills half the window.
        for (const e of entries) inView.set(e.target, e.intersectionRatio >= 0.35 || e.intersectionRect.height >= 0.5 * (e.rootBounds?.height ?? Infinity));
        sync();
      },
      { threshold: [0, 0.1, 0.2, 0.35, 0.5, 0.75, 1] },
    );
    for (const w of watched) io.observe(w);
  }
  return {
    /** The digit the networks see and their answers. */
    setAnswers(pixels, probs) {
      drawDigit(canvas, pixels);
      answers.replaceChildren();
      for (const [v, name] of [['splash', 'SPLASH'], ['relu', 'ReLU']]) {
        const p = Array.from(probs[v]);
        const top = argmax(p);
        const span = document.createElement('span');
        span.className = `strip-answer ${v}`;
        span.textContent = `${name} ${top}`;
        const small = document.createElement('small');
        small.textContent = ` ${pct(p[top], 0)}`;
        span.append(small);
        answers.append(span);
      }
      hasContent = true;
      sync();
    },
    /** One line on the last attack, or '' while none matches the digit. */
    setAttack(text) {
      attack.textContent = text;
    },
    clear() {
      hasContent = false;
      attack.textContent = '';
      answers.replaceChildren();
      sync();
    },
  };
}
