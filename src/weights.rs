//! Weights in and out as safetensors, with the model's configuration in the metadata.
//!
//! Tensor names follow PyTorch's conventions (`conv1.weight`, `bn1.running_mean`, ...), all
//! f32, so `safetensors.torch.load_file` opens the file. The metadata holds strings:
//! `architecture`, `width` (All-CNN only), `activation`, `hinges` (JSON), and when known `seed`,
//! `test_accuracy`, `recipe` (JSON), `excluded_training_digits`.

use crate::activation::SPLASH_HINGES;
use crate::model::{Architecture, Model, ModelSpec};
use ndarray::ArrayD;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Version of the metadata layout written by this crate.
pub const FORMAT_VERSION: &str = "1";

/// `value` as a JSON value whose f32 numbers are their shortest decimals (0.1, not the
/// 0.10000000149011612 that `serde_json::to_value` gives): through serde_json's own writer
/// and reader (not `str::parse`, whose float tables would add 21 KB to the wasm). The one
/// rule for JSON made from f32 fields: saved recipes and the wasm binding's results.
pub fn json_value<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<serde_json::Value> {
    serde_json::from_str(&serde_json::to_string(value)?)
}

/// A model's configuration as stored beside its tensors.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", tsify(missing_as_null))]
pub struct ModelConfig {
    /// Architecture, width, activation.
    #[cfg_attr(
        target_arch = "wasm32",
        tsify(
            type = "{ architecture: \"lenet5\" | \"allcnn\"; width?: number; activation: string }"
        )
    )]
    pub spec: ModelSpec,
    /// SPLASH hinge locations.
    pub hinges: [f32; 4],
    /// Seed the weights were initialised and trained with.
    pub seed: Option<u64>,
    /// Accuracy on the full MNIST test set measured after training, in [0, 1].
    pub test_accuracy: Option<f32>,
    /// How the model was trained (free-form JSON written by the trainer: a
    /// [`crate::train::Recipe`] and
    /// what the run adds to it; files written by older versions may lack fields).
    #[cfg_attr(
        target_arch = "wasm32",
        tsify(
            type = "(Partial<Recipe> & { optimizer?: string; training_digits?: number; train_seconds?: number; train_seconds_this_run?: number }) | null"
        )
    )]
    pub recipe: Option<serde_json::Value>,
    /// How many MNIST training digits were left out of training.
    pub excluded_training_digits: Option<usize>,
}

impl ModelConfig {
    /// A configuration with only the spec and hinges set.
    pub fn new(spec: ModelSpec) -> Self {
        ModelConfig {
            spec,
            hinges: SPLASH_HINGES,
            seed: None,
            test_accuracy: None,
            recipe: None,
            excluded_training_digits: None,
        }
    }

    fn to_metadata(&self) -> HashMap<String, String> {
        let mut m = HashMap::new();
        m.insert("format".into(), "pt".into());
        m.insert("splash_format".into(), FORMAT_VERSION.into());
        m.insert(
            "architecture".into(),
            self.spec.architecture.name().to_string(),
        );
        if let Some(w) = self.spec.architecture.width() {
            m.insert("width".into(), w.to_string());
        }
        m.insert("activation".into(), self.spec.activation.name().to_string());
        m.insert(
            "hinges".into(),
            serde_json::to_string(&self.hinges).expect("floats"),
        );
        if let Some(s) = self.seed {
            m.insert("seed".into(), s.to_string());
        }
        if let Some(a) = self.test_accuracy {
            m.insert("test_accuracy".into(), a.to_string());
        }
        if let Some(r) = &self.recipe {
            m.insert("recipe".into(), r.to_string());
        }
        if let Some(e) = self.excluded_training_digits {
            m.insert("excluded_training_digits".into(), e.to_string());
        }
        m
    }

    fn from_metadata(m: &HashMap<String, String>) -> Result<Self, WeightsError> {
        let get = |k: &'static str| m.get(k).ok_or(WeightsError::MissingMetadata(k));
        let bad = |k: &'static str, v: &str, why: String| WeightsError::BadMetadata {
            key: k,
            value: v.to_string(),
            reason: why,
        };
        let arch = get("architecture")?;
        let act = get("activation")?;
        let activation = act.parse().map_err(|e| bad("activation", act, e))?;
        let width = match m.get("width") {
            None => None,
            Some(w) => Some(
                w.parse::<usize>()
                    .map_err(|_| bad("width", w, "not a count".into()))?,
            ),
        };
        // The name first (an unknown one is the architecture's fault), then its width.
        arch.parse::<Architecture>()
            .map_err(|e| bad("architecture", arch, e))?;
        let architecture = Architecture::from_parts(arch, width).map_err(|e| {
            let value = width.map_or("(absent)".to_string(), |w| w.to_string());
            bad("width", &value, e)
        })?;
        let h = get("hinges")?;
        let hinges: [f32; 4] =
            serde_json::from_str(h).map_err(|e| bad("hinges", h, e.to_string()))?;
        if hinges != SPLASH_HINGES {
            return Err(bad(
                "hinges",
                h,
                format!("this build uses hinges {SPLASH_HINGES:?}"),
            ));
        }
        // Read as JSON numbers: serde_json's reader is in the wasm anyway, where `str::parse`
        // for floats would add core's 21 KB table of powers of five.
        fn optional<T: serde::de::DeserializeOwned>(
            m: &HashMap<String, String>,
            key: &'static str,
            what: &str,
        ) -> Result<Option<T>, WeightsError> {
            m.get(key)
                .map(|s| {
                    serde_json::from_str(s).map_err(|_| WeightsError::BadMetadata {
                        key,
                        value: s.clone(),
                        reason: format!("not {what}"),
                    })
                })
                .transpose()
        }
        let seed = optional(m, "seed", "an integer")?;
        let test_accuracy: Option<f32> = optional(m, "test_accuracy", "a number")?;
        if let Some(a) = test_accuracy.filter(|a| !(0.0..=1.0).contains(a)) {
            return Err(bad(
                "test_accuracy",
                &a.to_string(),
                "an accuracy is a fraction in [0, 1]".into(),
            ));
        }
        let excluded_training_digits = optional(m, "excluded_training_digits", "a count")?;
        let recipe = m
            .get("recipe")
            .map(|s| serde_json::from_str(s).map_err(|e| bad("recipe", s, e.to_string())))
            .transpose()?;
        Ok(ModelConfig {
            spec: ModelSpec {
                architecture,
                activation,
            },
            hinges,
            seed,
            test_accuracy,
            recipe,
            excluded_training_digits,
        })
    }
}

/// Errors from reading a weights file. Each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// Not a safetensors file, or truncated.
    #[error("not a valid safetensors file (truncated or corrupt?): {0}")]
    Corrupt(String),
    /// A required metadata key is absent.
    #[error("the weights file has no '{0}' in its metadata; was it written by splash?")]
    MissingMetadata(&'static str),
    /// A metadata value cannot be understood.
    #[error("metadata '{key}' = {value:?} is not valid: {reason}")]
    BadMetadata {
        /// The key.
        key: &'static str,
        /// Its value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The file is for another model than the one asked for.
    #[error("the weights file holds {found}, but {expected} was expected")]
    WrongModel {
        /// The model asked for.
        expected: String,
        /// The model in the file.
        found: String,
    },
    /// A tensor the model needs is absent.
    #[error("tensor '{0}' is missing from the weights file")]
    Missing(String),
    /// The file has a tensor the model does not know.
    #[error("the weights file has tensor '{0}', which this model does not have")]
    Unexpected(String),
    /// An error of the file at `path` (what [`load_file`] returns, so that a message names
    /// the file it is about).
    #[error("{path}: {source}")]
    InFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        source: Box<WeightsError>,
    },
    /// The tensors are finite but the network they make overflows on a plain image.
    #[error("the weights overflow: on a {0} image the network's output is not a finite number, so they cannot be a trained network's (values too large)")]
    Overflow(&'static str),
    /// A tensor has the wrong shape.
    #[error("tensor '{name}' has shape {found:?}, expected {expected:?}")]
    Shape {
        /// Tensor name.
        name: String,
        /// Shape the model needs.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// A tensor is not f32.
    #[error("tensor '{name}' is {found}, expected F32")]
    Dtype {
        /// Tensor name.
        name: String,
        /// Its dtype.
        found: String,
    },
    /// A tensor holds NaN or infinity.
    #[error("tensor '{0}' contains NaN or infinite values")]
    NotFinite(String),
    /// A tensor holds a value no trained network has.
    #[error("tensor '{name}' {reason}")]
    BadValue {
        /// Tensor name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing the file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Tensors and metadata of a safetensors file, decoded and validated as f32.
pub struct Decoded {
    /// Tensors by name.
    pub tensors: BTreeMap<String, ArrayD<f32>>,
    /// Metadata strings.
    pub metadata: HashMap<String, String>,
}

/// Serialises named f32 tensors and metadata strings as safetensors bytes.
pub fn encode<'a>(
    tensors: impl IntoIterator<Item = (String, &'a ArrayD<f32>)>,
    metadata: HashMap<String, String>,
) -> Vec<u8> {
    let owned: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, t)| {
            let bytes: Vec<u8> = t.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name, t.shape().to_vec(), bytes)
        })
        .collect();
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(n, shape, bytes)| {
            let view = TensorView::new(Dtype::F32, shape.clone(), bytes).expect("consistent");
            (n.clone(), view)
        })
        .collect();
    safetensors::serialize(views, &Some(metadata)).expect("in-memory serialisation")
}

/// Parses safetensors bytes into f32 tensors and metadata, rejecting corrupt files,
/// non-f32 tensors and non-finite values.
pub fn decode(bytes: &[u8]) -> Result<Decoded, WeightsError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Corrupt(e.to_string()))?;
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| WeightsError::Corrupt(e.to_string()))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(WeightsError::Dtype {
                name,
                found: format!("{:?}", view.dtype()),
            });
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if data.iter().any(|v| !v.is_finite()) {
            return Err(WeightsError::NotFinite(name));
        }
        // A trained network's values are small; huge ones overflow to garbage predictions.
        if let Some(v) = data.iter().find(|v| v.abs() > MAX_ABS_VALUE) {
            return Err(WeightsError::BadValue {
                name,
                reason: format!("holds {v:e}, beyond ±{MAX_ABS_VALUE:e}"),
            });
        }
        if name.ends_with("running_var") {
            if let Some(v) = data.iter().find(|&&v| v < 0.0) {
                return Err(WeightsError::BadValue {
                    name,
                    reason: format!("a variance of {v} (variances are ≥ 0)"),
                });
            }
        }
        let arr = ArrayD::from_shape_vec(view.shape().to_vec(), data)
            .map_err(|e| WeightsError::Corrupt(format!("{name}: {e}")))?;
        tensors.insert(name, arr);
    }
    Ok(Decoded { tensors, metadata })
}

/// Writes `bytes` to a temporary file beside `path`, flushes it to disk and renames it into
/// place, so a reader never sees a half-written file and a crash or a power loss leaves the
/// old one (not an empty one). Errors name the path.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let with_path = |e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    {
        // Closed at the end of this block, before the rename.
        let mut f = std::fs::File::create(&tmp).map_err(with_path)?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(with_path)?;
    }
    std::fs::rename(&tmp, path).map_err(with_path)?;
    // The rename itself is durable once its directory is (best effort: not every platform
    // lets a directory be opened for syncing).
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Checks, before any work, that `write_atomic(path, …)` can write there: creates and
/// removes its temporary file. A run that trains for an hour then fails to save is refused
/// at the start instead.
pub fn check_writable(path: &std::path::Path) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::File::create(&tmp)
        .and_then(|_| std::fs::remove_file(&tmp))
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}

/// The largest magnitude a stored value may have (trained weights are far below it).
pub const MAX_ABS_VALUE: f32 = 1e6;

/// The largest weights file read from disk: All-CNN at its widest (width 128, about 2.4
/// million parameters) is 10 MB, a checkpoint with its momentum buffers twice that.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Serialises a model and its configuration as safetensors bytes.
pub fn save(model: &Model, config: &ModelConfig) -> Vec<u8> {
    assert_eq!(model.spec(), config.spec, "config describes another model");
    encode(model.state(), config.to_metadata())
}

/// Builds the model a weights file describes and loads its tensors.
///
/// Every tensor the architecture needs must be present with its exact shape, and no other
/// tensor may be present, except names starting with one of `extra_prefixes` (checkpoints
/// keep optimiser state under `optim.`).
pub fn load_with_extras(
    bytes: &[u8],
    extra_prefixes: &[&str],
) -> Result<(Model, ModelConfig, Decoded), WeightsError> {
    let decoded = decode(bytes)?;
    let config = ModelConfig::from_metadata(&decoded.metadata)?;
    let mut model = Model::new(config.spec, 0);
    let mut expected = std::collections::BTreeSet::new();
    for (name, t) in model.state_mut() {
        let src = decoded
            .tensors
            .get(&name)
            .ok_or_else(|| WeightsError::Missing(name.clone()))?;
        if src.shape() != t.shape() {
            return Err(WeightsError::Shape {
                name,
                expected: t.shape().to_vec(),
                found: src.shape().to_vec(),
            });
        }
        t.assign(src);
        expected.insert(name);
    }
    if let Some(extra) = decoded
        .tensors
        .keys()
        .find(|k| !expected.contains(*k) && !extra_prefixes.iter().any(|p| k.starts_with(p)))
    {
        return Err(WeightsError::Unexpected(extra.clone()));
    }
    check_outputs_finite(&mut model)?;
    Ok((model, config, decoded))
}

/// Runs the loaded network on three plain images (blank, mid-grey, full ink): every tensor
/// can be within its bound and the product of several layers still overflow to infinity or
/// NaN, and such a network would report accuracies it never had.
fn check_outputs_finite(model: &mut Model) -> Result<(), WeightsError> {
    use crate::model::IMAGE_SIDE;
    let probes = [("blank", 0.0f32), ("grey", 0.5), ("full-ink", 1.0)];
    let x = ndarray::Array4::from_shape_fn((probes.len(), 1, IMAGE_SIDE, IMAGE_SIDE), |(i, ..)| {
        probes[i].1
    });
    let logits = model
        .forward(&x, crate::nn::Mode::Eval)
        .expect("three (1, 28, 28) probes");
    model.forget_inputs();
    for (row, (what, _)) in logits.rows().into_iter().zip(probes) {
        if row.iter().any(|v| !v.is_finite()) {
            return Err(WeightsError::Overflow(what));
        }
    }
    Ok(())
}

/// Builds the model a weights file describes and loads its tensors (see
/// [`load_with_extras`]; no extra tensors allowed).
pub fn load(bytes: &[u8]) -> Result<(Model, ModelConfig), WeightsError> {
    let (m, c, _) = load_with_extras(bytes, &[])?;
    Ok((m, c))
}

/// Loads a weights file that must hold the model `expected`.
pub fn load_expecting(
    bytes: &[u8],
    expected: ModelSpec,
) -> Result<(Model, ModelConfig), WeightsError> {
    let (m, c) = load(bytes)?;
    if c.spec != expected {
        return Err(WeightsError::WrongModel {
            expected: describe(expected),
            found: describe(c.spec),
        });
    }
    Ok((m, c))
}

fn describe(s: ModelSpec) -> String {
    format!("{} ({})", s.architecture.describe(), s.activation.name())
}

/// Reads a weights file from disk.
pub fn load_file(path: &std::path::Path) -> Result<(Model, ModelConfig), WeightsError> {
    let bytes = crate::files::read_bounded(path, MAX_FILE_BYTES)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    load(&bytes).map_err(|e| WeightsError::InFile {
        path: path.display().to_string(),
        source: Box::new(e),
    })
}
