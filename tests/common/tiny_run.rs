//! One small training run that must give the same weights, bit for bit, natively (with the
//! WebAssembly build's kernels, `tests/portable.rs`) and in WebAssembly through the page's
//! binding (`tests/web.rs`): SPLASH LeNet5, augmentation and PGD adversarial training on, so
//! every part of a training step is covered. Both compare with [`EXPECTED`], a digest of the
//! weights; after a deliberate change to training, both tests print the new digest.

/// The run's settings, as the page sends them (a `RunOptions`).
pub const OPTIONS: &str = r#"{"epochs":2,"batch_size":16,"learning_rate":0.05,"seed":7,
    "augment":true,"adversarial":{"kind":"pgd","epsilon":0.1,"steps":2,"warmup_epochs":1}}"#;

/// FNV-1a digest of the native run's weights (names and f32 bits, in state order).
pub const EXPECTED: u64 = 0x3ad9_154b_4faf_98d8;

/// 80 synthetic digits: a bar whose position is the label, with seeded speckle.
pub fn digits() -> (Vec<u8>, Vec<u8>) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for i in 0..80 {
        let label = (i % 10) as u8;
        let mut img = vec![0u8; 784];
        for y in 4..24 {
            img[y * 28 + 3 + 2 * label as usize] = 255;
            img[y * 28 + 4 + 2 * label as usize] = 160;
        }
        for p in img.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if state.is_multiple_of(13) {
                *p = p.saturating_add((state >> 32) as u8 % 90);
            }
        }
        images.extend(img);
        labels.push(label);
    }
    (images, labels)
}

/// FNV-1a over every tensor's name and its values' bits.
pub fn digest(state: &[(String, &ndarray::ArrayD<f32>)]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |b: u8| {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    for (name, t) in state {
        name.bytes().for_each(&mut eat);
        for v in t.iter() {
            v.to_bits().to_le_bytes().into_iter().for_each(&mut eat);
        }
    }
    h
}
