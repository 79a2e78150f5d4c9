//! Fully connected layer.

use super::gemm::{matmul_acc, matmul_nt_acc};
use super::{add_into, Layer, Mode, Param};
use ndarray::{Array2, ArrayD, Axis, Ix2};
use rand::Rng;

/// Fully connected layer, y = x·Wᵀ + b. Input (N, in), output (N, out); weight (out, in).
pub struct Linear {
    /// Weight, (out_features, in_features).
    pub weight: Param,
    /// Bias, (out_features).
    pub bias: Param,
    input: Option<Array2<f32>>,
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
        }
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
        matmul_nt_acc(x, w, &mut y.view_mut());
        y.into_dyn()
    }

    /// dL/dx, and the parameter gradients too if `param_grad`.
    fn backward_inner(&mut self, grad_out: &ArrayD<f32>, param_grad: bool) -> ArrayD<f32> {
        let x = self
            .input
            .as_ref()
            .expect("linear: backward before forward");
        let dy = grad_out
            .view()
            .into_dimensionality::<Ix2>()
            .expect("linear grad (N, out)");
        let dy = dy.as_standard_layout();
        if param_grad {
            let mut dw = self
                .weight
                .grad
                .view_mut()
                .into_dimensionality::<Ix2>()
                .expect("2-D");
            matmul_acc(dy.t(), x.view(), &mut dw);
            let db = dy.sum_axis(Axis(0));
            add_into(&mut self.bias.grad, db.as_slice().expect("contiguous"));
        }
        let w = self.weight2();
        let mut dx = Array2::<f32>::zeros(x.raw_dim());
        matmul_acc(dy.view(), w, &mut dx.view_mut());
        dx.into_dyn()
    }
}

impl Layer for Linear {
    fn kind(&self) -> &'static str {
        "linear"
    }

    fn forward(&mut self, x: &ArrayD<f32>, _mode: Mode) -> ArrayD<f32> {
        let x = x
            .view()
            .into_dimensionality::<Ix2>()
            .expect("linear expects (N, in)")
            .to_owned();
        let y = self.apply(x.view());
        self.input = Some(x);
        y
    }

    fn infer(&mut self, x: &ArrayD<f32>) -> ArrayD<f32> {
        self.input = None;
        let x = x
            .view()
            .into_dimensionality::<Ix2>()
            .expect("linear expects (N, in)");
        self.apply(x.as_standard_layout().view())
    }

    fn backward(&mut self, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        self.backward_inner(grad_out, true)
    }

    fn backward_input(&mut self, grad_out: &ArrayD<f32>) -> ArrayD<f32> {
        self.backward_inner(grad_out, false)
    }

    crate::nn::tensors! { "weight" => param weight, "bias" => param bias }
}
