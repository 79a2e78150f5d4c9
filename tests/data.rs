//! IDX parsing: the real files (`$SPLASH_DATA`; a missing copy fails under CI) and clear
//! errors for broken ones.

mod common;

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
    let Some(dir) = common::mnist_dir() else {
        return;
    };
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

fn gz(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Writes a test split (images and labels, both gzipped as given) to a fresh directory.
fn split_dir(name: &str, images_gz: &[u8], labels: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("splash-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("t10k-images-idx3-ubyte.gz"), images_gz).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte.gz"), gz(labels)).unwrap();
    dir
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(2049u32.to_be_bytes());
    b.extend((labels.len() as u32).to_be_bytes());
    b.extend(labels);
    b
}

#[test]
fn gzip_with_several_members_is_read_whole() {
    // Some tools write a gzip file as several members; all of them are the file.
    let images = idx_images(3, 28);
    let mut two = gz(&images[..100]);
    two.extend(gz(&images[100..]));
    let dir = split_dir("members", &two, &idx_labels(&[1, 2, 3]));
    let d = Dataset::load_mnist(&dir, Split::Test).unwrap();
    assert_eq!(d.len(), 3);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_gzip_bomb_and_empty_files_are_refused() {
    // 300 MB of zeros in well under a megabyte: stopped at the IDX size limit.
    let mut header = Vec::new();
    for v in [2051u32, 400_000, 28, 28] {
        header.extend(v.to_be_bytes());
    }
    let mut bomb = header.clone();
    bomb.resize(16 + 400_000 * PIXELS, 0);
    let dir = split_dir("bomb", &gz(&bomb), &idx_labels(&[1]));
    let err = Dataset::load_mnist(&dir, Split::Test)
        .unwrap_err()
        .to_string();
    assert!(err.contains("larger than"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();

    let p = Path::new("x");
    let err = parse_idx_images(&idx_images(0, 28), p)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no images"), "{err}");
    let err = parse_idx_labels(&idx_labels(&[]), p)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no labels"), "{err}");
}

/// A device, a directory or an oversized file is refused before it is read: a symlink to
/// /dev/zero used to be read until memory ran out.
#[test]
fn files_that_cannot_be_idx_files_are_refused_before_reading() {
    let dir = std::env::temp_dir().join(format!("splash-data-bounds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("t10k-images-idx3-ubyte.gz");
    let _ = std::fs::remove_file(&link);
    #[cfg(unix)]
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    #[cfg(unix)]
    {
        let err = Dataset::load_mnist(&dir, Split::Test)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
    let _ = std::fs::remove_file(&link);
    // A sparse file larger than any IDX file: refused by its length, not read.
    let big = std::fs::File::create(&link).unwrap();
    big.set_len(splash::data::MAX_IDX_BYTES + 1).unwrap();
    let err = Dataset::load_mnist(&dir, Split::Test)
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
