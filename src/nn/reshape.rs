//! Shape-only and fixed affine layers: Flatten and the input Normalize.

use super::{Layer, Mode};
use ndarray::ArrayD;

/// Flattens (N, ...) to (N, product of the rest).
#[derive(Default)]
pub struct Flatten {
    input_shape: Vec<usize>,
}

impl Flatten {
    /// A flatten layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Layer for Flatten {
    fn kind(&self) -> &'static str {
        "flatten"
    }

    fn forward(&mut self, x: &ArrayD<f32>, _mode: Mode) -> ArrayD<f32> {
        self.input_shape = x.shape().to_vec();
        let n = x.shape()[0];
        let rest = x.len() / n.max(1);
        x.as_standard_layout()
            .into_owned()
            .into_shape_with_order(vec![n, rest])
            .expect("contiguous")
    }

    /// In inference, the input is reshaped where it lies, not copied.
    fn infer_owned(&mut self, x: ArrayD<f32>) -> ArrayD<f32> {
        self.forward_owned(x, Mode::Eval)
    }

    /// The input is reshaped where it lies, not copied.
    fn forward_owned(&mut self, x: ArrayD<f32>, mode: Mode) -> ArrayD<f32> {
        if !x.is_standard_layout() {
            return self.forward(&x, mode);
        }
        self.input_shape = x.shape().to_vec();
        let n = x.shape()[0];
        let rest = x.len() / n.max(1);
        x.into_shape_with_order(vec![n, rest])
            .expect("standard layout")
    }

    fn backward(&mut self, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        grad_out
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(self.input_shape.clone())
            .expect("flatten: backward before forward")
    }
}

/// Fixed input normalisation, y = (x − mean)/std, so the model takes pixels in [0, 1] and
/// attacks work in pixel space.
pub struct Normalize {
    /// Subtracted from every input.
    pub mean: f32,
    /// Divides every input after the subtraction.
    pub std: f32,
}

impl Layer for Normalize {
    fn kind(&self) -> &'static str {
        "normalize"
    }

    fn forward(&mut self, x: &ArrayD<f32>, _mode: Mode) -> ArrayD<f32> {
        let (m, s) = (self.mean, self.std);
        x.mapv(|v| (v - m) / s)
    }

    /// In inference, the input is normalised where it lies.
    fn infer_owned(&mut self, x: ArrayD<f32>) -> ArrayD<f32> {
        self.forward_owned(x, Mode::Eval)
    }

    /// The input is normalised where it lies (the backward pass does not read it).
    fn forward_owned(&mut self, mut x: ArrayD<f32>, _mode: Mode) -> ArrayD<f32> {
        let (m, s) = (self.mean, self.std);
        x.mapv_inplace(|v| (v - m) / s);
        x
    }

    fn backward(&mut self, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        let s = self.std;
        grad_out.mapv(|g| g / s)
    }
}
