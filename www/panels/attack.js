// Panel 3: FGSM / BIM / PGD / Square, untargeted or targeted, white-box or transfer, shown
// as original | adversarial | perturbation with each network's new prediction.
import { PIXELS, argmax, drawDigit, drawPerturbation, el, pct } from '../util.js';

const NAMES = { splash: 'SPLASH', relu: 'ReLU' };

/** A PNG of a 28×28 image (grey levels quantised to 8 bits). */
function pngLink(pixels, filename) {
  const c = el('canvas', { width: 28, height: 28 });
  drawDigit(c, pixels);
  const a = el('a', { class: 'download', text: 'download PNG', download: filename, href: c.toDataURL('image/png') });
  a.setAttribute('role', 'button');
  return a;
}

export function renderAttack(root, { result, input, settings }) {
  root.replaceChildren(el('p', { class: 'caption attack-about', text: `${result.about.description}${result.about.uses_gradient ? '' : ' — needs no gradient, only the network\'s outputs'}.` }));
  for (const row of result.rows) {
    const clean = argmax(row.clean);
    const pred = argmax(row.probs);
    let maxDelta = 0;
    const delta = new Float32Array(PIXELS);
    for (let i = 0; i < PIXELS; i++) {
      delta[i] = row.adv[i] - input.pixels[i];
      maxDelta = Math.max(maxDelta, Math.abs(delta[i]));
    }
    const fooled = settings.goal === 'targeted' ? pred === settings.target : pred !== settings.label;
    const canvases = [0, 1, 2].map(() => el('canvas', { width: 28, height: 28, class: 'pixelated' }));
    drawDigit(canvases[0], input.pixels);
    drawDigit(canvases[1], row.adv);
    drawPerturbation(canvases[2], delta, settings.eps);
    // Square reads only the network's outputs; the other methods its gradient.
    const own = settings.method === 'square' ? 'attacked through its own outputs (no gradient)' : 'attacked with its own gradient';
    const how = row.crafter === row.victim ? own : `shown the image crafted on ${NAMES[row.crafter]}`;
    const verdictText =
      settings.goal === 'targeted'
        ? fooled
          ? `fooled into ${pred}`
          : `held: says ${pred}, not ${settings.target}`
        : fooled
          ? `fooled: ${settings.label} → ${pred}`
          : `held: still ${pred}`;
    const verdict = el('p', { class: `verdict ${fooled ? 'fooled' : 'held'}` }, [
      verdictText,
      el('small', { text: ` (${pct(row.probs[pred])}; clean: ${clean} at ${pct(row.clean[clean])})` }),
    ]);
    const card = el('div', { class: `attack-row ${row.victim}`, 'data-victim': row.victim, 'data-fooled': String(fooled), 'data-prediction': String(pred), 'data-max-delta': String(maxDelta), 'data-queries': String(row.queries) }, [
      el('h3', { text: `${NAMES[row.victim]}, ${how}` }),
      el('div', { class: 'triptych' }, [
        el('figure', {}, [canvases[0], el('figcaption', { text: 'original' })]),
        el('figure', {}, [canvases[1], el('figcaption', { text: 'adversarial' })]),
        el('figure', {}, [canvases[2], el('figcaption', { text: maxDelta > 0 ? `perturbation: red brighter, blue darker (±${settings.eps.toFixed(2)} = full colour)` : 'perturbation: none (white)' })]),
      ]),
      verdict,
      el('p', { class: 'caption', text: `max |x′ − x| = ${maxDelta.toFixed(3)} ≤ ε = ${settings.eps.toFixed(2)} · ${row.queries} ${row.queries === 1 ? 'query' : 'queries'} to ${NAMES[row.crafter]}` }),
      pngLink(row.adv, `adversarial-${row.victim}-${settings.method}-eps${settings.eps.toFixed(2)}.png`),
    ]);
    root.append(card);
  }
}
