//! The properties SPLASH must have: continuous, grounded, symmetric hinges, ReLU at
//! initialisation, and correct coefficient gradients.

use ndarray::ArrayD;
use splash::activation::{Activation, Relu, Splash, SPLASH_HINGES};

fn learned() -> Splash {
    Splash::with_coefficients([0.8, -0.4, 0.9, 0.3], [0.25, 0.6, -0.5, 0.7])
}

#[test]
fn splash_is_grounded() {
    assert_eq!(Splash::new().value(0.0), 0.0);
    assert_eq!(learned().value(0.0), 0.0);
    assert_eq!(
        Splash::with_coefficients([3.0; 4], [-2.0; 4]).value(0.0),
        0.0
    );
}

#[test]
fn splash_equals_relu_at_initialisation() {
    let s = Splash::new();
    assert_eq!(s.a_plus(), [1.0, 0.0, 0.0, 0.0]);
    assert_eq!(s.a_minus(), [0.0; 4]);
    for i in -400..=400 {
        let x = i as f32 / 100.0;
        assert_eq!(s.value(x), Relu.value(x), "at {x}");
        assert_eq!(s.derivative(x), if x > 0.0 { 1.0 } else { 0.0 });
    }
}

#[test]
fn splash_hinges_are_symmetric_with_seven_distinct_locations() {
    assert_eq!(SPLASH_HINGES, [0.0, 1.0, 2.0, 2.5]);
    let mut locations: Vec<f32> = SPLASH_HINGES.iter().flat_map(|&b| [b, -b]).collect();
    locations.sort_by(f32::total_cmp);
    locations.dedup();
    assert_eq!(locations, vec![-2.5, -2.0, -1.0, 0.0, 1.0, 2.0, 2.5]);
    // Only the slopes change at a hinge: h is linear between hinges, on both sides alike.
    let s = learned();
    for &b in &SPLASH_HINGES[1..] {
        for side in [1.0f32, -1.0] {
            let hinge = side * b;
            let left = s.derivative(hinge - 1e-3);
            let right = s.derivative(hinge + 1e-3);
            assert!((left - right).abs() > 1e-3, "slope changes at {hinge}");
        }
    }
    // Between hinges the slope is constant.
    assert_eq!(s.derivative(1.2), s.derivative(1.9));
    assert_eq!(s.derivative(-1.2), s.derivative(-1.9));
}

#[test]
fn splash_is_continuous_at_every_hinge() {
    let s = learned();
    for &b in &SPLASH_HINGES {
        for hinge in [b, -b] {
            let (l, r) = (s.value(hinge - 1e-4), s.value(hinge + 1e-4));
            assert!((l - r).abs() < 1e-3, "jump at {hinge}: {l} vs {r}");
            assert!((s.value(hinge) - l).abs() < 1e-3);
        }
    }
}

#[test]
fn splash_matches_its_formula_and_slopes() {
    let s = learned();
    let (ap, am) = (s.a_plus(), s.a_minus());
    for i in -500..=500 {
        let x = i as f32 / 100.0;
        let expect: f32 = (0..4)
            .map(|k| {
                ap[k] * (x - SPLASH_HINGES[k]).max(0.0) + am[k] * (-x - SPLASH_HINGES[k]).max(0.0)
            })
            .sum();
        assert!((s.value(x) - expect).abs() < 1e-5);
    }
    // Slope on (1, 2) is a⁺₀ + a⁺₁; on (−2, −1) it is −(a⁻₀ + a⁻₁).
    assert!((s.derivative(1.5) - (ap[0] + ap[1])).abs() < 1e-6);
    assert!((s.derivative(-1.5) + (am[0] + am[1])).abs() < 1e-6);
}

#[test]
fn splash_coefficient_gradients_are_the_hinge_activations() {
    let mut s = learned();
    let x = ArrayD::from_shape_vec(vec![5], vec![-3.0f32, -1.5, 0.5, 2.2, 3.0]).unwrap();
    let g = ArrayD::from_shape_vec(vec![5], vec![0.5f32, -1.0, 2.0, 1.0, -0.5]).unwrap();
    let dx = s.backward(&x, &g);
    for (k, &b) in SPLASH_HINGES.iter().enumerate() {
        let dp: f32 = x
            .iter()
            .zip(g.iter())
            .map(|(&v, &gg)| gg * (v - b).max(0.0))
            .sum();
        let dm: f32 = x
            .iter()
            .zip(g.iter())
            .map(|(&v, &gg)| gg * (-v - b).max(0.0))
            .sum();
        assert!((s.a_plus.grad[k] - dp).abs() < 1e-5, "a+[{k}]");
        assert!((s.a_minus.grad[k] - dm).abs() < 1e-5, "a-[{k}]");
    }
    for (i, &v) in x.iter().enumerate() {
        assert!((dx[i] - g[i] * s.derivative(v)).abs() < 1e-6);
    }
}
