//! Canvas preprocessing: centring, size, ink polarity and bad input.

use splash::digit::{preprocess_rgba, DigitError};

/// A `w`×`h` canvas with background `bg` and a filled rectangle of colour `ink`.
fn canvas(
    w: usize,
    h: usize,
    bg: [u8; 4],
    ink: [u8; 4],
    rect: (usize, usize, usize, usize),
) -> Vec<u8> {
    let (x0, y0, rw, rh) = rect;
    let mut px = Vec::with_capacity(w * h * 4);
    for y in 0..h {
        for x in 0..w {
            let inside = x >= x0 && x < x0 + rw && y >= y0 && y < y0 + rh;
            px.extend_from_slice(if inside { &ink } else { &bg });
        }
    }
    px
}

fn ink_extent(p: &[f32]) -> (usize, usize, usize, usize) {
    let (mut x0, mut y0, mut x1, mut y1) = (28, 28, 0, 0);
    for y in 0..28 {
        for x in 0..28 {
            if p[y * 28 + x] > 0.05 {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
            }
        }
    }
    (x0, y0, x1 - x0 + 1, y1 - y0 + 1)
}

fn centre_of_mass(p: &[f32]) -> (f32, f32) {
    let (mut s, mut cy, mut cx) = (0.0, 0.0, 0.0);
    for y in 0..28 {
        for x in 0..28 {
            let v = p[y * 28 + x];
            s += v;
            cy += v * (y as f32 + 0.5);
            cx += v * (x as f32 + 0.5);
        }
    }
    (cy / s, cx / s)
}

const WHITE: [u8; 4] = [255, 255, 255, 255];
const BLACK: [u8; 4] = [0, 0, 0, 255];

#[test]
fn small_digit_in_a_corner_ends_centred_and_20px_tall() {
    // A 12×30 stroke in the top-left corner of a 280×280 canvas, dark on white.
    let px = canvas(280, 280, WHITE, BLACK, (5, 3, 12, 30));
    let d = preprocess_rgba(&px, 280, 280).unwrap();
    assert_eq!(d.bbox, (5, 3, 12, 30));
    let (_, _, w, h) = ink_extent(&d.pixels);
    assert_eq!(h, 20);
    assert_eq!(w, 8);
    let (cy, cx) = centre_of_mass(&d.pixels);
    assert!(
        (cy - 14.0).abs() <= 0.5 && (cx - 14.0).abs() <= 0.5,
        "centre {cy},{cx}"
    );
    let max = d.pixels.iter().cloned().fold(0.0, f32::max);
    assert!((max - 1.0).abs() < 1e-6);
    assert!(d.pixels.iter().all(|&v| (0.0..=1.0).contains(&v)));
}

#[test]
fn wide_digit_is_scaled_to_20px_wide() {
    let px = canvas(200, 100, WHITE, BLACK, (10, 40, 150, 25));
    let d = preprocess_rgba(&px, 200, 100).unwrap();
    let (_, _, w, h) = ink_extent(&d.pixels);
    assert_eq!((w, h), (20, 3));
}

#[test]
fn area_averaging_gives_grey_levels() {
    // An L: an 8-px-wide bar, 200 tall, and a 100-px-wide foot. Scaled by 1/10, the bar
    // covers 8/10 of its output column, which must come out grey, not black or white. The
    // darkest output pixel, the corner, has 96/100 ink and is stretched to 1, so the bar
    // column is 0.8/0.96.
    let mut px = canvas(300, 300, WHITE, BLACK, (50, 50, 8, 200));
    let foot = canvas(300, 300, WHITE, BLACK, (50, 242, 100, 8));
    for (p, f) in px.chunks_exact_mut(4).zip(foot.chunks_exact(4)) {
        if f[0] == 0 {
            p.copy_from_slice(f);
        }
    }
    let d = preprocess_rgba(&px, 300, 300).unwrap();
    let (x0, y0, w, h) = ink_extent(&d.pixels);
    assert_eq!((w, h), (10, 20));
    let v = d.pixels[(y0 + 5) * 28 + x0];
    assert!((v - 0.8 / 0.96).abs() < 1e-5, "bar column {v}");
}

#[test]
fn light_and_dark_ink_and_transparent_canvases_agree() {
    let rect = (30, 20, 40, 60);
    let dark = preprocess_rgba(&canvas(100, 100, WHITE, BLACK, rect), 100, 100).unwrap();
    let light = preprocess_rgba(&canvas(100, 100, BLACK, WHITE, rect), 100, 100).unwrap();
    let grey_on_blue = preprocess_rgba(
        &canvas(100, 100, [20, 40, 200, 255], [250, 250, 120, 255], rect),
        100,
        100,
    )
    .unwrap();
    let transparent = preprocess_rgba(
        &canvas(100, 100, [0, 0, 0, 0], [10, 10, 10, 255], rect),
        100,
        100,
    )
    .unwrap();
    assert_eq!(dark.pixels, light.pixels);
    assert_eq!(dark.pixels, transparent.pixels);
    assert_eq!(ink_extent(&dark.pixels), ink_extent(&grey_on_blue.pixels));
}

#[test]
fn empty_canvas_is_an_error_not_a_guess() {
    for px in [
        canvas(50, 40, WHITE, WHITE, (0, 0, 0, 0)),
        canvas(50, 40, [0, 0, 0, 0], BLACK, (0, 0, 0, 0)),
    ] {
        let err = preprocess_rgba(&px, 50, 40).unwrap_err();
        assert_eq!(err, DigitError::Empty);
        assert!(err.to_string().contains("draw a digit"));
    }
    // Faint noise below the ink threshold is still empty.
    let faint = canvas(50, 40, WHITE, [235, 235, 235, 255], (10, 10, 5, 5));
    assert_eq!(
        preprocess_rgba(&faint, 50, 40).unwrap_err(),
        DigitError::Empty
    );
}

#[test]
fn wrong_sizes_are_errors() {
    let px = canvas(10, 10, WHITE, BLACK, (2, 2, 3, 3));
    assert!(matches!(
        preprocess_rgba(&px, 10, 9),
        Err(DigitError::BadLength { .. })
    ));
    assert!(matches!(
        preprocess_rgba(&px[..399], 10, 10),
        Err(DigitError::BadLength { .. })
    ));
    assert!(matches!(
        preprocess_rgba(&[], 0, 0),
        Err(DigitError::BadSize { .. })
    ));
    assert!(matches!(
        preprocess_rgba(&[], 5000, 1),
        Err(DigitError::BadSize { .. })
    ));
}
