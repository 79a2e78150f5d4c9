//! The Square Attack (Andriushchenko et al., ECCV 2020): random search, no gradient.

use super::{check, objective, restart_rng, AttackError, AttackOutcome, AttackSpec, Best, Goal};
use crate::model::{Model, IMAGE_SIDE};
use crate::nn::Mode;
use ndarray::{s, Array4, Axis, Zip};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Square's fraction of pixels per patch at iteration `it` of `n_iters`: p_init, halved
/// at 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of 10,000 iterations (rescaled).
pub fn square_p(p_init: f32, it: usize, n_iters: usize) -> f32 {
    let t = (it as f64 / n_iters.max(1) as f64 * 10_000.0) as usize;
    let halvings = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000]
        .iter()
        .filter(|&&b| t > b)
        .count();
    p_init / (1u32 << halvings) as f32
}

/// The Square Attack's random search, one query per [`SquareSearch::step`], for tests and
/// tools that want to watch it; [`super::attack`] runs it to the end.
pub struct SquareSearch {
    orig: Array4<f32>,
    classes: Vec<usize>,
    targeted: bool,
    spec: AttackSpec,
    restart: usize,
    iteration: usize,
    /// Current best adversarial per image of this restart.
    current: Array4<f32>,
    current_value: Vec<f32>,
    current_fooled: Vec<bool>,
    rngs: Vec<ChaCha8Rng>,
    best: Best,
}

impl SquareSearch {
    /// Starts restart 0: vertical stripes of ±ε (one query). Validates like [`super::attack`].
    pub fn new(
        model: &mut Model,
        x: &Array4<f32>,
        goal: Goal,
        spec: &AttackSpec,
    ) -> Result<Self, AttackError> {
        check(x, goal, spec)?;
        let n = x.shape()[0];
        let mut s = SquareSearch {
            orig: x.clone(),
            classes: goal.classes().to_vec(),
            targeted: goal.targeted(),
            spec: spec.clone(),
            restart: 0,
            iteration: 0,
            current: x.clone(),
            current_value: vec![f32::NEG_INFINITY; n],
            current_fooled: vec![false; n],
            rngs: Vec::new(),
            best: Best::new(x),
        };
        s.start_restart(model);
        Ok(s)
    }

    /// Images this restart still works on.
    fn active(&self) -> Vec<usize> {
        (0..self.orig.shape()[0])
            .filter(|&i| !(self.spec.early_stop && self.current_fooled[i]))
            .filter(|&i| !(self.spec.early_stop && self.best.fooled[i]))
            .collect()
    }

    fn start_restart(&mut self, model: &mut Model) {
        let n = self.orig.shape()[0];
        let eps = self.spec.epsilon;
        self.rngs = (0..n)
            .map(|i| restart_rng(self.spec.seed, self.restart, i))
            .collect();
        self.current = self.orig.clone();
        self.current_value = vec![f32::NEG_INFINITY; n];
        self.current_fooled = vec![false; n];
        self.iteration = 0;
        let idx = self.active();
        for &i in &idx {
            let rng = &mut self.rngs[i];
            let stripes: Vec<f32> = (0..IMAGE_SIDE)
                .map(|_| if rng.gen::<bool>() { eps } else { -eps })
                .collect();
            let mut img = self.current.index_axis_mut(Axis(0), i);
            for ((_, _, col), v) in img.indexed_iter_mut() {
                *v = (*v + stripes[col]).clamp(0.0, 1.0);
            }
        }
        self.evaluate(model, &idx, None);
    }

    /// Queries the model on `candidates` (rows in `idx` order, or the current images) and
    /// accepts those that raise the objective.
    fn evaluate(&mut self, model: &mut Model, idx: &[usize], candidates: Option<Array4<f32>>) {
        if idx.is_empty() {
            return;
        }
        let cand = candidates.unwrap_or_else(|| self.current.select(Axis(0), idx));
        let logits = model.forward(&cand, Mode::Eval).expect(super::CHECKED);
        let classes: Vec<usize> = idx.iter().map(|&i| self.classes[i]).collect();
        let obj = objective(&logits, &classes, self.targeted, self.spec.loss(), None);
        for (k, &i) in idx.iter().enumerate() {
            self.best.queries[i] += 1;
            if obj.value[k] > self.current_value[i] {
                self.current
                    .index_axis_mut(Axis(0), i)
                    .assign(&cand.index_axis(Axis(0), k));
                self.current_value[i] = obj.value[k];
                self.current_fooled[i] = obj.fooled[k];
            }
        }
    }

    /// Whether every restart has spent its budget or every image is fooled.
    pub fn finished(&self) -> bool {
        self.restart >= self.spec.restarts
    }

    /// The objective of each image's current best in this restart (it never decreases
    /// within a restart).
    pub fn objective(&self) -> &[f32] {
        &self.current_value
    }

    /// One query per active image: a random square patch of the perturbation set to ±ε,
    /// kept where it raises the objective. Moves on to the next restart when the budget or
    /// the active images run out.
    pub fn step(&mut self, model: &mut Model) {
        if self.finished() {
            return;
        }
        let idx = self.active();
        let budget_left = self.iteration + 1 < self.spec.queries;
        if idx.is_empty() || !budget_left || self.spec.epsilon == 0.0 {
            self.end_restart(model);
            return;
        }
        self.iteration += 1;
        let eps = self.spec.epsilon;
        let p = square_p(self.spec.p_init, self.iteration, self.spec.queries);
        let side = ((p * (IMAGE_SIDE * IMAGE_SIDE) as f32).sqrt().round() as usize)
            .clamp(1, IMAGE_SIDE - 1);
        let mut cand = self.current.select(Axis(0), &idx);
        for (k, &i) in idx.iter().enumerate() {
            let rng = &mut self.rngs[i];
            let (r0, c0) = (
                rng.gen_range(0..=IMAGE_SIDE - side),
                rng.gen_range(0..=IMAGE_SIDE - side),
            );
            let orig = self.orig.slice(s![i, 0, r0..r0 + side, c0..c0 + side]);
            let mut window = cand.slice_mut(s![k, 0, r0..r0 + side, c0..c0 + side]);
            // A patch value that changes at least one pixel of the window (one of ±ε
            // always does when ε > 0).
            let first = if rng.gen::<bool>() { eps } else { -eps };
            let changes = |d: f32, w: &ndarray::ArrayViewMut2<f32>| {
                Zip::from(w).and(&orig).fold(false, |acc, &c, &o| {
                    acc || ((o + d).clamp(0.0, 1.0) - c).abs() > 1e-7
                })
            };
            let d = if changes(first, &window) {
                first
            } else {
                -first
            };
            Zip::from(&mut window)
                .and(&orig)
                .for_each(|c, &o| *c = (o + d).clamp(0.0, 1.0));
        }
        self.evaluate(model, &idx, Some(cand));
    }

    fn end_restart(&mut self, model: &mut Model) {
        for i in 0..self.orig.shape()[0] {
            let (f, v) = (self.current_fooled[i], self.current_value[i]);
            if v > f32::NEG_INFINITY {
                let img = self.current.index_axis(Axis(0), i).to_owned();
                self.best.offer(i, img.view(), f, v);
            }
        }
        self.restart += 1;
        if !self.finished() && !self.active_for_new_restart().is_empty() {
            self.start_restart(model);
        } else {
            self.restart = self.spec.restarts;
        }
    }

    fn active_for_new_restart(&self) -> Vec<usize> {
        (0..self.orig.shape()[0])
            .filter(|&i| !(self.spec.early_stop && self.best.fooled[i]))
            .collect()
    }

    /// The result so far (after [`SquareSearch::finished`], the attack's result).
    pub fn outcome(self) -> AttackOutcome {
        self.best.outcome()
    }

    /// Steps until finished and returns the result.
    pub fn run(mut self, model: &mut Model) -> AttackOutcome {
        while !self.finished() {
            self.step(model);
        }
        self.outcome()
    }
}
