//! What a model is (architecture, width, activation), the MNIST constants it is built on,
//! and the checks of what is given to it.

use crate::activation::ActivationKind;
use ndarray::Array4;
use serde::{Deserialize, Serialize};

/// Mean of the MNIST training pixels in [0, 1], subtracted inside the model.
pub const MNIST_MEAN: f32 = 0.1307;
/// Standard deviation of the MNIST training pixels, divided by inside the model.
pub const MNIST_STD: f32 = 0.3081;
/// Side of the square input image.
pub const IMAGE_SIDE: usize = 28;
/// Number of classes.
pub const CLASSES: usize = 10;
/// Default base width of All-CNN (channels of its first block; the second block has twice
/// as many). The original All-CNN-C has 96/192; the committed models use 16/32, which trains
/// 15 epochs on two CPU cores in about 6 minutes (one epoch of 50,000 digits: 21.5 s with
/// ReLU, 23.9 s with SPLASH).
pub const ALLCNN_DEFAULT_WIDTH: usize = 16;

/// The widest All-CNN a weights file, the CLI or the study may ask for (about 2.5 million
/// parameters, 10 MB), so that a file's metadata cannot make the loader allocate gigabytes.
pub const ALLCNN_MAX_WIDTH: usize = 128;

/// The largest SPLASH coefficient [`super::Model::set_splash_coefficients`] accepts.
pub const MAX_BENT_COEFFICIENT: f32 = 10.0;

/// What LeNet5 files of weights format 1 recorded as its "width" (its first conv's
/// channels); read for compatibility, never written.
const LEGACY_LENET5_WIDTH: usize = 6;

/// Which network. All-CNN carries its base width; LeNet5 has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// LeNet5 with BatchNorm before every activation.
    Lenet5,
    /// All-CNN-C adapted to 1×28×28, BatchNorm before every activation; `width` channels
    /// in its first block, twice as many in its second.
    Allcnn {
        /// Base width, 1..=[`ALLCNN_MAX_WIDTH`].
        width: usize,
    },
}

impl Architecture {
    /// Lower-case name, as in file names and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Lenet5 => "lenet5",
            Architecture::Allcnn { .. } => "allcnn",
        }
    }

    /// All-CNN's base width; `None` for LeNet5.
    pub fn width(self) -> Option<usize> {
        match self {
            Architecture::Lenet5 => None,
            Architecture::Allcnn { width } => Some(width),
        }
    }

    /// The network called `name` (`lenet5` or `allcnn`, as `--model` takes it) with the
    /// given width: All-CNN needs one in 1..=[`ALLCNN_MAX_WIDTH`]; LeNet5 takes none
    /// (files of weights format 1 recorded 6, which is accepted).
    pub fn from_parts(name: &str, width: Option<usize>) -> Result<Self, String> {
        match (name.to_ascii_lowercase().as_str(), width) {
            ("lenet5" | "lenet", None | Some(LEGACY_LENET5_WIDTH)) => Ok(Architecture::Lenet5),
            ("lenet5" | "lenet", Some(w)) => Err(format!("LeNet5 has no width (got {w})")),
            ("allcnn" | "all-cnn" | "allcnn-c", Some(width)) => {
                if (1..=ALLCNN_MAX_WIDTH).contains(&width) {
                    Ok(Architecture::Allcnn { width })
                } else {
                    Err(format!(
                        "All-CNN's width must be 1..={ALLCNN_MAX_WIDTH}, got {width}"
                    ))
                }
            }
            ("allcnn" | "all-cnn" | "allcnn-c", None) => Err("All-CNN needs a width".to_string()),
            _ => Err(format!(
                "unknown model '{name}' (expected lenet5 or allcnn)"
            )),
        }
    }

    /// How reports name it: `LeNet5`, `All-CNN (width 16/32)`.
    pub fn describe(self) -> String {
        match self {
            Architecture::Lenet5 => "LeNet5".into(),
            Architecture::Allcnn { width } => format!("All-CNN (width {width}/{})", 2 * width),
        }
    }
}

/// `lenet5`, or `allcnn` with the default width.
impl std::str::FromStr for Architecture {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let lenet = matches!(s.to_ascii_lowercase().as_str(), "lenet5" | "lenet");
        Architecture::from_parts(s, (!lenet).then_some(ALLCNN_DEFAULT_WIDTH))
    }
}

/// What determines a model's tensors: architecture (with All-CNN's width) and activation.
/// In JSON and weights metadata it is flat: `architecture`, `width` (All-CNN only) and
/// `activation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "SpecRecord", try_from = "SpecRecord")]
pub struct ModelSpec {
    /// The network.
    pub architecture: Architecture,
    /// The activation in every activation layer.
    pub activation: ActivationKind,
}

/// [`ModelSpec`] as stored.
#[derive(Serialize, Deserialize)]
struct SpecRecord {
    architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    width: Option<usize>,
    activation: ActivationKind,
}

impl From<ModelSpec> for SpecRecord {
    fn from(s: ModelSpec) -> Self {
        SpecRecord {
            architecture: s.architecture.name().into(),
            width: s.architecture.width(),
            activation: s.activation,
        }
    }
}

impl TryFrom<SpecRecord> for ModelSpec {
    type Error = String;
    fn try_from(r: SpecRecord) -> Result<Self, String> {
        Ok(ModelSpec {
            architecture: Architecture::from_parts(&r.architecture, r.width)?,
            activation: r.activation,
        })
    }
}

impl ModelSpec {
    /// LeNet5 with the given activation.
    pub fn lenet5(activation: ActivationKind) -> Self {
        ModelSpec {
            architecture: Architecture::Lenet5,
            activation,
        }
    }

    /// All-CNN with base `width` and the given activation.
    pub fn allcnn(width: usize, activation: ActivationKind) -> Self {
        ModelSpec {
            architecture: Architecture::Allcnn { width },
            activation,
        }
    }

    /// A short name such as `lenet5-splash`.
    pub fn slug(&self) -> String {
        format!("{}-{}", self.architecture.name(), self.activation.name())
    }
}

/// Errors from running a model on outside input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// The input is not (N, 1, 28, 28) or has no images.
    #[error("expected images of shape (N, 1, 28, 28) with N ≥ 1, got {0:?}")]
    BadShape(Vec<usize>),
    /// A pixel is NaN or infinite.
    #[error("pixel {index} is not a finite number ({value})")]
    NotFinite {
        /// Flat index of the pixel.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// A pixel is outside [0, 1].
    #[error("pixel {index} is {value}, outside [0, 1]")]
    OutOfRange {
        /// Flat index of the pixel.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// A label or target is not a class index.
    #[error("class {0} is not in 0..=9")]
    BadClass(usize),
    /// The number of labels does not match the number of images.
    #[error("{images} images but {labels} labels")]
    LabelCount {
        /// Images in the batch.
        images: usize,
        /// Labels given.
        labels: usize,
    },
    /// A tensor of the wrong shape reached a layer, or a backward pass had no forward pass.
    #[error(transparent)]
    Shape(#[from] crate::nn::ShapeError),
    /// The network's output for a valid image is NaN or infinite: its weights overflow.
    #[error("the network's output for image {0} is not a finite number: its weights are too large for a forward pass (overflow), so nothing it says can be trusted")]
    OutputNotFinite(usize),
}

/// Checks that `x` is a non-empty (N, 1, 28, 28) batch of finite pixels in [0, 1].
pub fn validate_images(x: &Array4<f32>) -> Result<(), ModelError> {
    let s = x.shape();
    if s[0] == 0 || s[1] != 1 || s[2] != IMAGE_SIDE || s[3] != IMAGE_SIDE {
        return Err(ModelError::BadShape(s.to_vec()));
    }
    // One branch-free pass first (NaN fails both comparisons), which vectorises; the
    // element-by-element search for the first bad value only when there is one.
    let in_range = |v: &f32| (*v >= 0.0) & (*v <= 1.0);
    let all_in_range = match x.as_slice() {
        Some(s) => s.iter().fold(true, |ok, v| ok & in_range(v)),
        None => x.iter().all(in_range),
    };
    if all_in_range {
        return Ok(());
    }
    for (index, &value) in x.iter().enumerate() {
        if !value.is_finite() {
            return Err(ModelError::NotFinite { index, value });
        }
        if !(0.0..=1.0).contains(&value) {
            return Err(ModelError::OutOfRange { index, value });
        }
    }
    Ok(())
}

/// Checks that there is one class index in 0..=9 per image.
pub fn validate_labels(images: usize, labels: &[usize]) -> Result<(), ModelError> {
    if labels.len() != images {
        return Err(ModelError::LabelCount {
            images,
            labels: labels.len(),
        });
    }
    match labels.iter().find(|&&y| y >= CLASSES) {
        Some(&y) => Err(ModelError::BadClass(y)),
        None => Ok(()),
    }
}
