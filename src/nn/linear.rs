//! Fully connected layer.

use super::gemm::{matmul_acc, matmul_nt_acc};
use super::{add_into, InputGradient, Kernels, Layer, Need, Param, Pass, ShapeError};
use ndarray::{Array2, ArrayD, Axis, Ix2};
use rand::Rng;

/// Fully connected layer, y = x·Wᵀ + b. Input (N, in), output (N, out); weight (out, in).
pub struct Linear {
    /// Weight, (out_features, in_features).
    pub weight: Param,
    /// Bias, (out_features).
    pub bias: Param,
    input: Option<Array2<f32>>,
    kernels: Kernels,
}

impl Linear {
    /// A layer with He-uniform initial weights drawn from `rng` and zero bias.
    pub fn new(in_features: usize, out_features: usize, rng: &mut impl Rng) -> Self {
        let bound = (6.0 / in_features as f32).sqrt();
        let w = Array2::from_shape_fn((out_features, in_features), |_| {
            rng.gen_range(-bound..bound)
        });
        Linear {
            weight: Param::new(w.into_dyn(), true),
            bias: Param::new(ArrayD::zeros(vec![out_features]), false),
            input: None,
            kernels: Kernels::default(),
        }
    }

    /// Computes with `kernels` from now on.
    pub fn set_kernels(&mut self, kernels: Kernels) {
        self.kernels = kernels;
    }

    fn weight2(&self) -> ndarray::ArrayView2<'_, f32> {
        self.weight
            .value
            .view()
            .into_dimensionality::<Ix2>()
            .expect("linear weight is 2-D")
    }
}

impl Linear {
    /// y = x·Wᵀ + b for x (N, in) in standard layout.
    fn apply(&self, x: ndarray::ArrayView2<'_, f32>) -> ArrayD<f32> {
        let w = self.weight2();
        assert_eq!(x.ncols(), w.ncols(), "linear: feature mismatch");
        let b = self
            .bias
            .value
            .view()
            .into_dimensionality::<ndarray::Ix1>()
            .expect("1-D");
        // The output starts as the bias; the product is added to it.
        let mut y = b
            .broadcast((x.nrows(), w.nrows()))
            .expect("bias per output")
            .to_owned();
        matmul_nt_acc(self.kernels, x, w, &mut y.view_mut());
        y.into_dyn()
    }

    /// What `need` asks for: the parameter gradients (accumulated) and dL/dx.
    fn backward_inner(&mut self, grad_out: &ArrayD<f32>, need: Need) -> Option<ArrayD<f32>> {
        let x = self
            .input
            .as_ref()
            .expect("linear: backward before forward");
        let dy = grad_out
            .view()
            .into_dimensionality::<Ix2>()
            .expect("linear grad (N, out)");
        let dy = dy.as_standard_layout();
        if need.params() {
            let mut dw = self
                .weight
                .grad
                .view_mut()
                .into_dimensionality::<Ix2>()
                .expect("2-D");
            matmul_acc(self.kernels, dy.t(), x.view(), &mut dw);
            let db = dy.sum_axis(Axis(0));
            add_into(&mut self.bias.grad, db.as_slice().expect("contiguous"));
        }
        if !need.input() {
            return None;
        }
        let w = self.weight2();
        let mut dx = Array2::<f32>::zeros(x.raw_dim());
        matmul_acc(self.kernels, dy.view(), w, &mut dx.view_mut());
        Some(dx.into_dyn())
    }
}

impl Layer for Linear {
    fn kind(&self) -> &'static str {
        "linear"
    }

    /// The input is kept for the backward pass as it is given (no copy).
    fn forward(&mut self, x: ArrayD<f32>, pass: Pass) -> Result<ArrayD<f32>, ShapeError> {
        self.input = None;
        let features = self.weight.value.shape()[1];
        if x.ndim() != 2 || x.shape()[1] != features {
            return Err(ShapeError::input(
                "linear",
                format!("(N, {features})"),
                x.shape(),
            ));
        }
        let x = x.into_dimensionality::<Ix2>().expect("checked: 2-D");
        let x = if x.is_standard_layout() {
            x
        } else {
            x.as_standard_layout().into_owned()
        };
        let y = self.apply(x.view());
        if pass.keeps_for_backward() {
            self.input = Some(x);
        }
        Ok(y)
    }

    fn backward(&mut self, grad_out: &ArrayD<f32>, need: Need) -> InputGradient {
        let Some(x) = &self.input else {
            return Err(ShapeError::NoForward { layer: "linear" });
        };
        let out = [x.nrows(), self.weight.value.shape()[0]];
        ShapeError::check_gradient("linear", &out, grad_out.shape())?;
        Ok(self.backward_inner(grad_out, need))
    }

    crate::nn::tensors! { "weight" => param weight, "bias" => param bias }
}
