//! Inverted dropout.

use super::{InputGradient, Layer, Mode, Need, Pass, ShapeError};
use ndarray::ArrayD;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Inverted dropout: in [`Mode::Train`] each element is zeroed with probability `p` and the
/// rest are scaled by 1/(1 − p); in [`Mode::Eval`] it is the identity.
pub struct Dropout {
    /// Probability of dropping an element.
    pub p: f32,
    rng: ChaCha8Rng,
    mask: Option<ArrayD<f32>>,
}

impl Dropout {
    /// Dropout with probability `p` in [0, 1), masks drawn from a generator seeded by `seed`.
    pub fn new(p: f32, seed: u64) -> Self {
        assert!(
            (0.0..1.0).contains(&p),
            "dropout probability must be in [0, 1)"
        );
        Dropout {
            p,
            rng: ChaCha8Rng::seed_from_u64(seed),
            mask: None,
        }
    }

    /// Reseeds the mask generator (used to make resumed training reproducible).
    pub fn reseed(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
    }

    /// The mask of the last training forward pass (0 or 1/(1 − p) per element).
    pub fn last_mask(&self) -> Option<&ArrayD<f32>> {
        self.mask.as_ref()
    }
}

impl Layer for Dropout {
    fn kind(&self) -> &'static str {
        "dropout"
    }

    fn forward(&mut self, x: ArrayD<f32>, pass: Pass) -> Result<ArrayD<f32>, ShapeError> {
        Ok(match pass.mode() {
            Mode::Eval => {
                self.mask = None;
                x
            }
            Mode::Train => {
                let keep = 1.0 - self.p;
                let scale = 1.0 / keep;
                let rng = &mut self.rng;
                let mask = x.mapv(|_| if rng.gen::<f32>() < keep { scale } else { 0.0 });
                let y = x * &mask;
                self.mask = Some(mask);
                y
            }
        })
    }

    /// After an evaluation pass (no mask), any gradient: the layer is the identity.
    fn backward(&mut self, grad_out: &ArrayD<f32>, need: Need) -> InputGradient {
        if let Some(mask) = &self.mask {
            ShapeError::check_gradient("dropout", mask.shape(), grad_out.shape())?;
        }
        Ok(need.input().then(|| match &self.mask {
            Some(mask) => grad_out * mask,
            None => grad_out.clone(),
        }))
    }
}
