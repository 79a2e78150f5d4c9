//! Deterministic data parallelism over a batch.
//!
//! Work is split into chunks whose boundaries depend only on the batch size, never on the
//! number of threads, and per-chunk results come back in order. Reductions done over that
//! ordered `Vec` therefore add floats in the same order on every run, so seeded training is
//! reproducible with and without the `parallel` feature.

/// Number of samples per chunk for a batch of `n` (at most [`MAX_CHUNKS`] chunks).
pub fn chunk_len(n: usize) -> usize {
    n.div_ceil(MAX_CHUNKS).max(1)
}

/// Upper bound on the number of chunks a batch is split into.
pub const MAX_CHUNKS: usize = 8;

/// Applies `f(chunk_index, item)` to every item, in parallel when the `parallel` feature is
/// on, and returns the results in item order.
pub fn map_ordered<T, R, F>(items: Vec<T>, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(usize, T) -> R + Sync + Send,
{
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        items
            .into_par_iter()
            .enumerate()
            .map(|(i, t)| f(i, t))
            .collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        items
            .into_iter()
            .enumerate()
            .map(|(i, t)| f(i, t))
            .collect()
    }
}
