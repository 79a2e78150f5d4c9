//! Softmax and softmax cross-entropy.

use ndarray::{Array1, Array2, ArrayView2, Axis};

/// Row-wise softmax with the maximum subtracted for stability.
pub fn softmax(logits: ArrayView2<f32>) -> Array2<f32> {
    let mut p = logits.to_owned();
    for mut row in p.axis_iter_mut(Axis(0)) {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| libm::expf(v - max));
        let sum = row.sum();
        row /= sum;
    }
    p
}

/// Cross-entropy of softmax(logits) against `labels`.
pub struct CrossEntropy {
    /// −log p(label) for each sample.
    pub per_sample: Array1<f32>,
    /// Softmax probabilities, (N, classes).
    pub probabilities: Array2<f32>,
}

impl CrossEntropy {
    /// Mean loss over the batch.
    pub fn mean(&self) -> f32 {
        self.per_sample.mean().unwrap_or(0.0)
    }

    /// dL/dlogits of the *summed* loss: p − onehot(label). Divide by N for the mean.
    pub fn grad_sum(&self, labels: &[usize]) -> Array2<f32> {
        let mut g = self.probabilities.clone();
        for (mut row, &y) in g.axis_iter_mut(Axis(0)).zip(labels) {
            row[y] -= 1.0;
        }
        g
    }
}

/// Softmax cross-entropy of `logits` (N, classes) against class indices `labels` (N).
///
/// Panics if a label is out of range; callers validate labels from outside first.
pub fn cross_entropy(logits: ArrayView2<f32>, labels: &[usize]) -> CrossEntropy {
    assert_eq!(logits.nrows(), labels.len(), "one label per row");
    let probabilities = softmax(logits);
    let per_sample = Array1::from_iter(
        probabilities
            .axis_iter(Axis(0))
            .zip(labels)
            .map(|(row, &y)| -libm::logf(row[y].max(1e-30))),
    );
    CrossEntropy {
        per_sample,
        probabilities,
    }
}
