//! What a convolution computes and how: its geometry over one sample, and the algorithm
//! chosen once for that geometry, pass and kernel family ([`ConvPlan`]).

#[cfg(target_arch = "x86_64")]
use super::super::direct::{self, Direct};
use super::super::{Kernels, Mode};

/// Geometry of a square-kernel convolution over one sample.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    pub(super) channels: usize,
    pub(super) height: usize,
    pub(super) width: usize,
    pub(super) kernel: usize,
    pub(super) stride: usize,
    pub(super) padding: usize,
    pub(super) out_h: usize,
    pub(super) out_w: usize,
}

/// Output rows (or columns) of a convolution over `input` rows with this kernel, stride and
/// zero padding on both sides; the padded input must be at least `kernel` long.
pub(crate) fn output_len(input: usize, kernel: usize, stride: usize, padding: usize) -> usize {
    (input + 2 * padding - kernel) / stride + 1
}

impl Geometry {
    /// A convolution of `shape` over `c` channels of h×w. Panics if the padded input is
    /// smaller than the kernel (the layer checks first).
    pub(super) fn new(shape: Shape, (c, h, w): (usize, usize, usize)) -> Self {
        let Shape {
            kernel,
            stride,
            padding,
        } = shape;
        assert!(
            h + 2 * padding >= kernel && w + 2 * padding >= kernel,
            "conv2d: input {h}x{w} smaller than kernel {kernel}"
        );
        Geometry {
            channels: c,
            height: h,
            width: w,
            kernel,
            stride,
            padding,
            out_h: output_len(h, kernel, stride, padding),
            out_w: output_len(w, kernel, stride, padding),
        }
    }

    pub(super) fn rows(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }
    pub(super) fn cols(&self) -> usize {
        self.out_h * self.out_w
    }
}

/// How one forward pass of a convolution is computed.
#[derive(Clone, Copy, Debug)]
pub(super) enum Algorithm {
    /// Natively on x86-64 with AVX2 and FMA, stride 1, padding less than the kernel: the
    /// direct convolution ([`direct`]), in training and evaluation.
    #[cfg(target_arch = "x86_64")]
    Direct(Direct),
    /// Unfold every sample into columns and multiply by the kernel matrix; training keeps
    /// the columns for the backward pass, evaluation unfolds into a scratch block.
    Im2col,
    /// Evaluation of a 1×1, stride-1, unpadded convolution: the input is its own columns.
    Pointwise,
    /// Evaluation with the WebAssembly kernels of a 3×3, stride-1, padding-1 convolution over
    /// more than one channel: Winograd's F(2×2, 3×3) ([`super::super::winograd`]).
    Winograd,
    /// Evaluation with the WebAssembly kernels otherwise: the zero-padded input read in
    /// place, split into phase planes for a stride ([`super::shifted::ShiftedConv`]).
    Shifted,
}

/// A convolution's forward pass for one input geometry, mode and kernel family.
#[derive(Clone, Copy, Debug)]
pub(super) struct ConvPlan {
    pub(super) geometry: Geometry,
    pub(super) algorithm: Algorithm,
    /// What the plan was made for: (channels, height, width), mode, kernels.
    key: ((usize, usize, usize), Mode, Kernels),
}

/// The layer's shape: kernel, stride, padding.
#[derive(Clone, Copy, Debug)]
pub(super) struct Shape {
    pub(super) kernel: usize,
    pub(super) stride: usize,
    pub(super) padding: usize,
}

impl Shape {
    /// Whether an evaluation pass over `channels` input channels runs as Winograd's F(2×2,
    /// 3×3): 3×3, stride-1, padding-1 convolutions with the WebAssembly kernels only (wasm
    /// SIMD has no fused multiply-add, so the plain GEMM is bound by its multiplications;
    /// natively the direct convolution or matrixmultiply have AVX2/FMA). Not for one input
    /// channel: its 16 products would be GEMMs over k = 1, which load and store the output
    /// once per multiplication (All-CNN's conv1 is 0.94x the time without).
    pub(super) fn winograd(self, channels: usize, kernels: Kernels) -> bool {
        kernels == Kernels::Portable
            && self.kernel == 3
            && self.stride == 1
            && self.padding == 1
            && channels > 1
    }
}

impl ConvPlan {
    /// The plan for an input of `c` channels of h×w in `mode` with `kernels`; `direct`
    /// allows the direct convolution (tests turn it off to compare it with im2col + GEMM).
    /// Panics if the padded input is smaller than the kernel (the layer checks first).
    pub(super) fn new(
        shape: Shape,
        (c, h, w): (usize, usize, usize),
        mode: Mode,
        kernels: Kernels,
        direct: bool,
    ) -> Self {
        let geometry = Geometry::new(shape, (c, h, w));
        let Shape {
            kernel,
            stride,
            padding,
        } = shape;
        let key = ((c, h, w), mode, kernels);
        let plan = |algorithm| ConvPlan {
            geometry,
            algorithm,
            key,
        };
        #[cfg(target_arch = "x86_64")]
        if direct && stride == 1 && kernels == Kernels::Native && direct::available() {
            if let Some(d) = Direct::new(c, h, w, kernel, padding) {
                return plan(Algorithm::Direct(d));
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = direct;
        let pointwise = kernel == 1 && stride == 1 && padding == 0;
        plan(if mode == Mode::Train {
            Algorithm::Im2col
        } else if shape.winograd(c, kernels) {
            Algorithm::Winograd
        } else if pointwise {
            Algorithm::Pointwise
        } else if kernels == Kernels::Portable {
            Algorithm::Shifted
        } else {
            Algorithm::Im2col
        })
    }

    /// Whether this plan was made for this input, mode and kernels.
    pub(super) fn fits(
        &self,
        (c, h, w): (usize, usize, usize),
        mode: Mode,
        kernels: Kernels,
    ) -> bool {
        self.key == ((c, h, w), mode, kernels)
    }
}
