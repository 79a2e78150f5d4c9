//! Shape-only and fixed affine layers: Flatten and the input Normalize.

use super::{InputGradient, Layer, Need, Pass, ShapeError};
use ndarray::ArrayD;

/// Flattens (N, ...) to (N, product of the rest).
#[derive(Default)]
pub struct Flatten {
    /// The last input's shape, for the backward pass.
    input_shape: Option<Vec<usize>>,
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

    /// The input is reshaped where it lies, not copied (unless it is not in standard
    /// layout).
    fn forward(&mut self, x: ArrayD<f32>, _pass: Pass) -> Result<ArrayD<f32>, ShapeError> {
        let Some(&n) = x.shape().first() else {
            return Err(ShapeError::input("flatten", "(N, ...)", x.shape()));
        };
        self.input_shape = Some(x.shape().to_vec());
        let rest = x.shape()[1..].iter().product();
        let x = if x.is_standard_layout() {
            x
        } else {
            x.as_standard_layout().into_owned()
        };
        Ok(x.into_shape_with_order(vec![n, rest])
            .expect("standard layout"))
    }

    fn backward(&mut self, grad_out: &ArrayD<f32>, need: Need) -> InputGradient {
        let Some(shape) = &self.input_shape else {
            return Err(ShapeError::NoForward { layer: "flatten" });
        };
        let out = [shape[0], shape[1..].iter().product()];
        ShapeError::check_gradient("flatten", &out, grad_out.shape())?;
        Ok(need.input().then(|| {
            grad_out
                .as_standard_layout()
                .into_owned()
                .into_shape_with_order(shape.clone())
                .expect("sized")
        }))
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

    /// In place on the input it is given.
    fn forward(&mut self, mut x: ArrayD<f32>, _pass: Pass) -> Result<ArrayD<f32>, ShapeError> {
        let (m, s) = (self.mean, self.std);
        x.mapv_inplace(|v| (v - m) / s);
        Ok(x)
    }

    /// Elementwise: any gradient is the shape of some output.
    fn backward(&mut self, grad_out: &ArrayD<f32>, need: Need) -> InputGradient {
        let s = self.std;
        Ok(need.input().then(|| grad_out.mapv(|g| g / s)))
    }
}
