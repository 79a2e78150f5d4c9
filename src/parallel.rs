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

/// Samples per chunk for `n` samples of `per_sample` elements each of light, elementwise
/// work: the whole batch in one chunk below [`LIGHT_MIN`] elements (waking the thread pool
/// costs more than such a pass), otherwise [`chunk_len`]. Depends only on the sizes.
pub fn light_chunk_len(n: usize, per_sample: usize) -> usize {
    if n * per_sample < LIGHT_MIN {
        n.max(1)
    } else {
        chunk_len(n)
    }
}

/// Below this many elements, elementwise passes run in one piece.
pub const LIGHT_MIN: usize = 1 << 15;

/// One slot per chunk of a batch of `n` samples: each chunk's part of a buffer to fill
/// (`parts`, cut as [`chunk_len`] cuts the batch), or `None` for every chunk when there is
/// nothing to fill (a pass that keeps no columns, a backward pass asked for no input gradient).
pub fn chunk_slots<T>(parts: Option<impl Iterator<Item = T>>, n: usize) -> Vec<Option<T>> {
    match parts {
        Some(parts) => parts.map(Some).collect(),
        None => (0..n.div_ceil(chunk_len(n))).map(|_| None).collect(),
    }
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
    if items.len() > 1 {
        // (One item runs here: called from outside the pool, rayon would hand even a
        // single job to a worker thread and wait for it.)
        use rayon::prelude::*;
        return items
            .into_par_iter()
            .enumerate()
            .map(|(i, t)| f(i, t))
            .collect();
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, t)| f(i, t))
        .collect()
}

/// Runs `f` on a thread of the pool (with the `parallel` feature), so that the
/// [`map_ordered`] calls inside it split work with the other workers by stealing, instead
/// of each one being handed from an outside thread to the pool and waited for. For LeNet5
/// training on two cores that overhead was a fifth of the time.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    #[cfg(feature = "parallel")]
    {
        rayon::scope(|_| f())
    }
    #[cfg(not(feature = "parallel"))]
    {
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without parts there are as many slots as with them, one per chunk of the batch, so
    /// that zipping the slots with the output's chunks keeps every chunk.
    #[test]
    fn one_slot_per_chunk() {
        for n in [0usize, 1, 7, 8, 9, 63, 64, 65, 1000] {
            let mut out = vec![0u8; n * 3];
            let outputs = out.chunks(chunk_len(n) * 3).count();
            let none = chunk_slots(None::<std::iter::Empty<()>>, n);
            assert_eq!(none.len(), outputs, "n = {n}");
            assert!(none.iter().all(Option::is_none));
            let some = chunk_slots(Some(out.chunks_mut(chunk_len(n) * 3)), n);
            assert_eq!(some.len(), outputs, "n = {n}");
            assert!(some.iter().all(Option::is_some));
        }
    }
}
