//! Canvas pixels to a 28×28 MNIST-like digit, the way MNIST itself was made.
//!
//! 1. Ink per pixel: on a canvas with transparency the alpha channel; on an opaque canvas the
//!    distance of the luminance from the background (the median of the border), so dark ink
//!    on light paper and light ink on dark paper both work.
//! 2. The bounding box of the pixels whose ink exceeds [`INK_THRESHOLD`].
//! 3. The box scaled so its longer side is 20 px, by area averaging (each output pixel is the
//!    mean of the source area it covers, which gives MNIST's anti-aliased grey levels).
//! 4. The 20×20-or-smaller digit placed in a 28×28 field with its centre of mass at the
//!    centre, and its grey levels stretched so the darkest stroke is 1.

use crate::model::IMAGE_SIDE;

/// Ink level (0 to 1) above which a pixel counts as part of the digit.
pub const INK_THRESHOLD: f32 = 0.2;
/// Side, in pixels, that the longer side of the digit's bounding box is scaled to.
pub const DIGIT_BOX: usize = 20;
/// Largest canvas side accepted.
pub const MAX_CANVAS_SIDE: usize = 4096;

/// Errors from preprocessing a canvas.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigitError {
    /// Width or height is zero or too large.
    #[error("canvas must be between 1×1 and {MAX_CANVAS_SIDE}×{MAX_CANVAS_SIDE} pixels, got {width}×{height}")]
    BadSize {
        /// Canvas width.
        width: usize,
        /// Canvas height.
        height: usize,
    },
    /// The pixel buffer does not hold width·height RGBA pixels.
    #[error("expected {expected} bytes of RGBA pixels for the canvas size, got {got}")]
    BadLength {
        /// width·height·4.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// Nothing is drawn.
    #[error("the canvas is empty: draw a digit")]
    Empty,
}

/// A preprocessed digit.
#[derive(Clone, Debug, PartialEq)]
pub struct Digit {
    /// 28×28 pixels, row-major, 0 = background, 1 = ink.
    pub pixels: Vec<f32>,
    /// Bounding box of the ink on the canvas: (left, top, width, height).
    pub bbox: (usize, usize, usize, usize),
}

/// Turns a canvas's RGBA bytes (row-major, `width`×`height`) into a 28×28 digit.
pub fn preprocess_rgba(rgba: &[u8], width: usize, height: usize) -> Result<Digit, DigitError> {
    if width == 0 || height == 0 || width > MAX_CANVAS_SIDE || height > MAX_CANVAS_SIDE {
        return Err(DigitError::BadSize { width, height });
    }
    let expected = width * height * 4;
    if rgba.len() != expected {
        return Err(DigitError::BadLength {
            expected,
            got: rgba.len(),
        });
    }
    let ink = ink_map(rgba, width, height);
    preprocess_ink(&ink, width, height)
}

/// Ink level in [0, 1] of every canvas pixel.
pub fn ink_map(rgba: &[u8], width: usize, height: usize) -> Vec<f32> {
    let translucent = rgba.chunks_exact(4).any(|p| p[3] < 255);
    if translucent {
        return rgba.chunks_exact(4).map(|p| p[3] as f32 / 255.0).collect();
    }
    let lum: Vec<f32> = rgba
        .chunks_exact(4)
        .map(|p| (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) / 255.0)
        .collect();
    let mut border: Vec<f32> = Vec::with_capacity(2 * (width + height));
    for x in 0..width {
        border.push(lum[x]);
        border.push(lum[(height - 1) * width + x]);
    }
    for y in 0..height {
        border.push(lum[y * width]);
        border.push(lum[y * width + width - 1]);
    }
    border.sort_by(f32::total_cmp);
    let bg = border[border.len() / 2];
    lum.iter()
        .map(|&l| {
            let v = if bg >= 0.5 {
                (bg - l) / bg.max(1e-6)
            } else {
                (l - bg) / (1.0 - bg).max(1e-6)
            };
            v.clamp(0.0, 1.0)
        })
        .collect()
}

/// Steps 2 to 4 on an ink map (values in [0, 1], row-major `width`×`height`).
pub fn preprocess_ink(ink: &[f32], width: usize, height: usize) -> Result<Digit, DigitError> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..height {
        for x in 0..width {
            if ink[y * width + x] > INK_THRESHOLD {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
            }
        }
    }
    if x0 == usize::MAX {
        return Err(DigitError::Empty);
    }
    let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
    let crop: Vec<f32> = (y0..=y1)
        .flat_map(|y| (x0..=x1).map(move |x| (y, x)))
        .map(|(y, x)| {
            let v = ink[y * width + x];
            if v > INK_THRESHOLD / 2.0 {
                v
            } else {
                0.0
            }
        })
        .collect();
    let scale = DIGIT_BOX as f32 / bw.max(bh) as f32;
    let ow = ((bw as f32 * scale).round() as usize).clamp(1, DIGIT_BOX);
    let oh = ((bh as f32 * scale).round() as usize).clamp(1, DIGIT_BOX);
    let rows = resample_rows(&crop, bw, bh, ow);
    let mut small = transpose(
        &resample_rows(&transpose(&rows, ow, bh), bh, ow, oh),
        oh,
        ow,
    );
    let peak = small.iter().cloned().fold(0.0f32, f32::max).max(1e-6);
    for v in small.iter_mut() {
        *v = (*v / peak).clamp(0.0, 1.0);
    }

    let total: f32 = small.iter().sum();
    let (mut cy, mut cx) = (0.0, 0.0);
    for y in 0..oh {
        for x in 0..ow {
            let v = small[y * ow + x];
            cy += v * (y as f32 + 0.5);
            cx += v * (x as f32 + 0.5);
        }
    }
    let half = IMAGE_SIDE as f32 / 2.0;
    let place = |c: f32, extent: usize| -> usize {
        let off = (half - c / total).round();
        off.clamp(0.0, (IMAGE_SIDE - extent) as f32) as usize
    };
    let (oy, ox) = (place(cy, oh), place(cx, ow));
    let mut pixels = vec![0.0f32; IMAGE_SIDE * IMAGE_SIDE];
    for y in 0..oh {
        for x in 0..ow {
            pixels[(oy + y) * IMAGE_SIDE + ox + x] = small[y * ow + x];
        }
    }
    Ok(Digit {
        pixels,
        bbox: (x0, y0, bw, bh),
    })
}

/// Resamples each row of a `w`×`h` image to `new_w` columns by area averaging.
fn resample_rows(src: &[f32], w: usize, h: usize, new_w: usize) -> Vec<f32> {
    let ratio = w as f32 / new_w as f32;
    let mut out = vec![0.0f32; new_w * h];
    for j in 0..new_w {
        let (a, b) = (j as f32 * ratio, (j + 1) as f32 * ratio);
        let first = a.floor() as usize;
        let last = (b.ceil() as usize).min(w);
        for i in first..last {
            let cover = (b.min(i as f32 + 1.0) - a.max(i as f32)).max(0.0) / ratio;
            if cover > 0.0 {
                for y in 0..h {
                    out[y * new_w + j] += cover * src[y * w + i];
                }
            }
        }
    }
    out
}

fn transpose(src: &[f32], w: usize, h: usize) -> Vec<f32> {
    let mut out = vec![0.0; w * h];
    for y in 0..h {
        for x in 0..w {
            out[x * h + y] = src[y * w + x];
        }
    }
    out
}
