//! IDX parsing: the real files (when present) and clear errors for broken ones.

use splash::data::{parse_idx_images, parse_idx_labels, Augment, Dataset, Split, PIXELS};
use std::path::Path;

fn idx_images(n: u32, rows: u32) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [2051u32, n, rows, 28] {
        b.extend(v.to_be_bytes());
    }
    b.extend(vec![7u8; (n * rows * 28) as usize]);
    b
}

#[test]
fn idx_parsing_accepts_valid_and_rejects_broken_files() {
    let p = Path::new("x");
    assert_eq!(
        parse_idx_images(&idx_images(2, 28), p).unwrap().len(),
        2 * PIXELS
    );
    let err = parse_idx_images(&idx_images(2, 27), p)
        .unwrap_err()
        .to_string();
    assert!(err.contains("27×28"), "{err}");
    let mut truncated = idx_images(2, 28);
    truncated.pop();
    assert!(parse_idx_images(&truncated, p)
        .unwrap_err()
        .to_string()
        .contains("expected"));
    assert!(parse_idx_images(&[1, 2, 3], p).is_err());
    let mut labels = vec![0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3];
    assert_eq!(parse_idx_labels(&labels, p).unwrap(), vec![1, 2, 3]);
    labels[10] = 11;
    assert!(parse_idx_labels(&labels, p)
        .unwrap_err()
        .to_string()
        .contains("label 11"));
    assert!(parse_idx_labels(&idx_images(1, 28), p)
        .unwrap_err()
        .to_string()
        .contains("magic"));
}

#[test]
fn missing_directory_is_a_clear_error() {
    let err = Dataset::load_mnist(Path::new("/nonexistent/mnist"), Split::Test).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/mnist"), "{err}");
}

#[test]
fn real_mnist_reads_in_its_original_order() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    if !dir.exists() {
        eprintln!("SKIPPED: {} is absent", dir.display());
        return;
    }
    let train = Dataset::load_mnist(&dir, Split::Train).unwrap();
    let test = Dataset::load_mnist(&dir, Split::Test).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!(train.labels[..10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert_eq!(test.labels[..10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    assert_eq!(train.without(&[0, 1, 2]).labels[..3], [1, 9, 2]);
}

#[test]
fn augmentation_keeps_pixels_in_range_and_ink_in_the_field() {
    use rand::SeedableRng;
    let mut img = vec![0.0f32; PIXELS];
    for y in 6..22 {
        img[y * 28 + 13] = 1.0;
        img[y * 28 + 14] = 0.6;
    }
    let aug = Augment::default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let ink: f32 = img.iter().sum();
    for _ in 0..50 {
        let out = aug.apply(&img, &mut rng);
        assert!(out.iter().all(|&v| (0.0..=1.0).contains(&v)));
        let moved: f32 = out.iter().sum();
        // Dilation can double a 2-px stroke and scaling adds up to 21 % more area.
        assert!(
            moved > 0.4 * ink && moved < 3.5 * ink,
            "ink {ink} → {moved}"
        );
    }
}
