//! The convolution layer's passes through the direct convolution ([`super::super::direct`]),
//! natively on x86-64 with AVX2 and FMA.

use super::super::add_into;
use super::super::direct::{Direct, Packed};
use super::{Cache, Conv2d};
use crate::parallel::{chunk_len, chunk_slots, map_ordered};
use ndarray::{Array4, ArrayD, Ix4};

impl Conv2d {
    /// The forward pass as the direct convolution, for `n` samples `x` (N, C, H, W) in
    /// standard layout; the padded samples are kept for a backward pass if `keep`.
    pub(super) fn run_direct(&mut self, x: &[f32], n: usize, d: Direct, keep: bool) -> ArrayD<f32> {
        let o = self.out_channels();
        let (oh, ow) = (d.out_h(), d.out_w());
        let (per_in, per_pad, per_out) =
            (d.channels * d.height * d.width, d.padded_len(), o * oh * ow);
        let weight = self.weight.value.as_slice().expect("contiguous weight");
        let packed = Packed::new(weight, o, d.taps());
        let offsets = d.offsets();
        let bias = self.bias.value.as_slice().expect("contiguous bias");
        let mut padded = std::mem::take(&mut self.columns);
        padded.resize(if keep { n * per_pad } else { 0 }, 0.0);
        let mut y = vec![0.0f32; n * per_out];
        let chunk = chunk_len(n);
        let kept = chunk_slots(keep.then(|| padded.chunks_mut(chunk * per_pad)), n);
        // (At least 1: a convolution with no output channels has an empty output.)
        let work: Vec<_> = y.chunks_mut((chunk * per_out).max(1)).zip(kept).collect();
        map_ordered(work, |ci, (ych, mut kept)| {
            let mut scratch = if kept.is_some() {
                Vec::new()
            } else {
                vec![0.0f32; per_pad]
            };
            for (j, yi) in ych.chunks_exact_mut(per_out.max(1)).enumerate() {
                let i = ci * chunk + j;
                let xpad = match kept.as_mut() {
                    Some(block) => &mut block[j * per_pad..(j + 1) * per_pad],
                    None => &mut scratch[..],
                };
                d.pad(&x[i * per_in..(i + 1) * per_in], xpad);
                d.forward(xpad, &packed, &offsets, Some(bias), yi);
            }
        });
        self.columns = padded;
        self.cache = if keep {
            Cache::Padded((n, d.channels, d.height, d.width))
        } else {
            Cache::Empty
        };
        Array4::from_shape_vec((n, o, oh, ow), y)
            .expect("sized")
            .into_dyn()
    }

    /// [`Conv2d::backward_inner`] after [`Conv2d::run_direct`]: the weight gradient as dot
    /// products over each padded sample, the input gradient as the direct convolution of
    /// the padded output gradient with the kernel transposed and flipped.
    pub(super) fn backward_direct(
        &mut self,
        grad_out: &ArrayD<f32>,
        (n, c, h, w): (usize, usize, usize, usize),
        input_grad: bool,
        param_grad: bool,
    ) -> Option<Array4<f32>> {
        let d = Direct::new(c, h, w, self.shape.kernel, self.shape.padding)
            .expect("as in the forward pass");
        let o = self.out_channels();
        let (oh, ow) = (d.out_h(), d.out_w());
        let dy = grad_out
            .view()
            .into_dimensionality::<Ix4>()
            .expect("conv2d grad (N, O, OH, OW)");
        assert_eq!(dy.dim(), (n, o, oh, ow), "conv2d: grad shape");
        let dy = dy.as_standard_layout();
        let dys = dy.as_slice().expect("standard layout");
        let (per_in, per_pad, per_out) = (c * h * w, d.padded_len(), o * oh * ow);
        let taps = d.taps();
        let weight = self.weight.value.as_slice().expect("contiguous weight");
        let flipped =
            input_grad.then(|| Packed::transposed_flipped(weight, o, c, self.shape.kernel));
        let (rows, transposed) = (d.grad_rows(o), d.transposed(o));
        let (offsets, transposed_offsets) = (d.offsets(), transposed.offsets());
        let mut dx = vec![0.0f32; if input_grad { n * per_in } else { 0 }];
        let chunk = chunk_len(n);
        let dx_chunks = chunk_slots(input_grad.then(|| dx.chunks_mut(chunk * per_in)), n);
        let padded = &self.columns;
        let partials = map_ordered(dx_chunks, |ci, mut dxch| {
            let mut dw = vec![0.0f32; if param_grad { o * taps } else { 0 }];
            let mut db = vec![0.0f32; o];
            let mut dy_rows = vec![0.0f32; if param_grad { rows.padded_len() } else { 0 }];
            let mut dy_padded = vec![
                0.0f32;
                if input_grad {
                    transposed.padded_len()
                } else {
                    0
                }
            ];
            let samples = (ci * chunk)..((ci + 1) * chunk).min(n);
            for (j, i) in samples.enumerate() {
                let dyi = &dys[i * per_out..(i + 1) * per_out];
                if param_grad {
                    rows.pad(dyi, &mut dy_rows);
                    d.weight_grad(
                        &padded[i * per_pad..(i + 1) * per_pad],
                        &dy_rows,
                        &offsets,
                        &mut dw,
                    );
                    for (b, plane) in db.iter_mut().zip(dyi.chunks_exact(oh * ow)) {
                        *b += plane.iter().sum::<f32>();
                    }
                }
                if let (Some(dxch), Some(flipped)) = (dxch.as_mut(), flipped.as_ref()) {
                    transposed.pad(dyi, &mut dy_padded);
                    let dxi = &mut dxch[j * per_in..(j + 1) * per_in];
                    transposed.forward(&dy_padded, flipped, &transposed_offsets, None, dxi);
                }
            }
            (dw, db)
        });
        if param_grad {
            for (dw, db) in partials {
                add_into(&mut self.weight.grad, &dw);
                add_into(&mut self.bias.grad, &db);
            }
        }
        input_grad.then(|| Array4::from_shape_vec((n, c, h, w), dx).expect("sized"))
    }
}
