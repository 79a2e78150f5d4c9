//! # splash
//!
//! SPLASH learnable activation functions (Tavakoli, Agostinelli & Baldi, *Neural Networks*
//! 2021) in a small, dependency-light CNN core that runs natively and in WebAssembly.
//!
//! SPLASH is h(x) = Σₛ a⁺ₛ·max(0, x − bₛ) + a⁻ₛ·max(0, −x − bₛ) with fixed hinges
//! b = (0, 1, 2, 2.5) and learned slopes a⁺, a⁻ shared by a layer (see [`activation`]).
//!
//! Modules:
//! - [`nn`]: layers with forward and backward passes (Conv2d, MaxPool2d, global average
//!   pooling, Linear, BatchNorm, Dropout, Flatten, input normalisation) behind one
//!   [`nn::Layer`] trait, and the kernel families they compute with ([`nn::Kernels`]: the
//!   WebAssembly build's [`nn::gemm`] and [`nn::winograd`], natively matrixmultiply and
//!   AVX2).
//! - [`activation`]: ReLU and SPLASH behind the [`activation::Activation`] trait.
//! - [`loss`]: softmax cross-entropy.
//! - [`model`]: LeNet5 and All-CNN built from blocks (convolution or linear layer →
//!   BatchNorm → activation), every layer named once, when it is built.
//! - [`attack`]: one [`attack::AttackSpec`] for FGSM, BIM, PGD (restarts, CE or margin
//!   loss) and the gradient-free Square Attack, in pixel space.
//! - [`robustness`]: robust accuracy over ε, white-box and transfer, the worst case over
//!   attacks, and gradient-masking diagnostics.
//! - [`weights`]: safetensors in and out, with the configuration in the metadata.
//! - [`data`]: MNIST IDX files and training augmentation.
//! - [`digit`]: canvas pixels to a centred 28×28 MNIST-like image.
//! - [`train`]: SGD with momentum, the training loop and evaluation.
//! - `study` (native only): the paper's comparison of ten activations over several seeds.
//! - [`parallel`]: deterministic batch parallelism (fixed chunks, ordered results).
//! - `wasm` (wasm32 only): the thin `#[wasm_bindgen]` surface the page uses.

#![warn(missing_docs)]

pub mod activation;
pub mod attack;
pub mod data;
pub mod digit;
pub mod files;
pub mod loss;
pub mod model;
pub mod nn;
pub mod parallel;
pub mod robustness;
#[cfg(not(target_arch = "wasm32"))]
pub mod study;
pub mod train;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
pub mod weights;

pub use activation::{Activation, ActivationKind, Relu, Splash, SPLASH_HINGES};
pub use model::{Architecture, Model, ModelSpec};
