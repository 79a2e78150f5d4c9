// Panel 1: the drawing pad (mouse, touch and pen through pointer events) and the preview.
export function createPad(canvas, { onStroke, onEnd }) {
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  let brush = 20;
  let last = null;
  let empty = true;

  const clear = () => {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    empty = true;
  };

  const pos = (e) => {
    const r = canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) * canvas.width) / r.width, y: ((e.clientY - r.top) * canvas.height) / r.height };
  };

  const segment = (a, b, pressure) => {
    // Pens report pressure; mice report 0.5. Vary width a little, as a pen on paper does.
    const w = brush * (pressure > 0 && pressure !== 0.5 ? 0.7 + 0.6 * pressure : 1);
    ctx.strokeStyle = '#fff';
    ctx.fillStyle = '#fff';
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.shadowColor = 'rgba(255,255,255,0.8)';
    ctx.shadowBlur = w / 6;
    ctx.lineWidth = w;
    ctx.beginPath();
    ctx.moveTo(a.x, a.y);
    ctx.lineTo(b.x + 0.01, b.y);
    ctx.stroke();
    empty = false;
  };

  canvas.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    try {
      canvas.setPointerCapture(e.pointerId);
    } catch {
      // Not an active pointer (synthetic events): drawing works without capture.
    }
    last = pos(e);
    segment(last, last, e.pressure);
    onStroke();
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!last) return;
    e.preventDefault();
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const ev of events.length ? events : [e]) {
      const p = pos(ev);
      segment(last, p, ev.pressure);
      last = p;
    }
    onStroke();
  });
  const end = (e) => {
    if (!last) return;
    last = null;
    if (canvas.hasPointerCapture?.(e.pointerId)) canvas.releasePointerCapture(e.pointerId);
    onEnd();
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);

  clear();
  return {
    clear,
    isEmpty: () => empty,
    setBrush: (px) => {
      brush = px;
    },
    /** RGBA pixels of the whole pad. */
    read: () => ctx.getImageData(0, 0, canvas.width, canvas.height),
    /** Shows a 28×28 digit on the pad, smoothly enlarged. */
    show: (small) => {
      clear();
      ctx.imageSmoothingEnabled = true;
      ctx.imageSmoothingQuality = 'high';
      ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
      empty = false;
    },
  };
}
