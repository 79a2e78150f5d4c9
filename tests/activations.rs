//! Values of the paper's other activations at a few points, and their initial shapes.

use ndarray::ArrayD;
use splash::activation::{Activation, ActivationKind, Apl, Pointwise, Prelu};

fn value(kind: ActivationKind, x: f32) -> f32 {
    kind.build(3).value(x)
}

#[test]
fn activations_take_their_textbook_values() {
    use ActivationKind::*;
    let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
    assert!(close(value(Relu, -2.0), 0.0) && close(value(Relu, 1.5), 1.5));
    assert!(close(value(Lrelu, -2.0), -0.02) && close(value(Lrelu, 3.0), 3.0));
    assert!(close(value(Prelu, -2.0), -0.5) && close(value(Prelu, 2.0), 2.0));
    assert!(close(value(Tanh, 0.5), 0.5f32.tanh()));
    assert!(close(value(Sigmoid, 0.0), 0.5) && close(value(Sigmoid, 2.0), 0.880_797));
    assert!(close(value(Elu, -1.0), (-1.0f32).exp() - 1.0) && close(value(Elu, 2.0), 2.0));
    assert!(close(value(Selu, 1.0), 1.050_701) && close(value(Selu, -1.0), -1.111_330_7));
    assert!(close(value(Swish, 1.0), 0.731_058_6) && close(value(Swish, -1.0), -0.268_941_4));
    // APL starts as ReLU (all slopes 0).
    for x in [-2.0, -0.3, 0.0, 0.7, 3.0] {
        assert!(close(value(Apl, x), x.max(0.0)));
    }
    assert!(close(value(Splash, -1.0), 0.0) && close(value(Splash, 2.0), 2.0));
}

#[test]
fn every_kind_round_trips_through_its_name() {
    for kind in ActivationKind::ALL {
        assert_eq!(kind.name().parse::<ActivationKind>().unwrap(), kind);
        assert_eq!(kind.build(4).kind(), kind);
    }
    let err = "gelu".parse::<ActivationKind>().unwrap_err();
    assert!(err.contains("splash") && err.contains("apl"), "{err}");
    assert!(Pointwise::new(ActivationKind::Splash).is_none());
}

#[test]
fn prelu_and_apl_parameters_are_per_channel() {
    let mut prelu = Prelu::new(2);
    prelu.slope.value = ArrayD::from_shape_vec(vec![2], vec![0.1, 0.5]).unwrap();
    let x = ArrayD::from_shape_vec(vec![1, 2, 2], vec![-1.0, 2.0, -1.0, 2.0]).unwrap();
    assert_eq!(
        prelu.forward(&x).into_raw_vec_and_offset().0,
        vec![-0.1, 2.0, -0.5, 2.0]
    );
    let mut apl = Apl::new(2);
    apl.a.value[[1, 0]] = 2.0; // channel 1: + 2·max(0, −x − 1)
    let y = apl.forward(&x).into_raw_vec_and_offset().0;
    assert_eq!(y, vec![0.0, 2.0, 0.0, 2.0]);
    let x2 = ArrayD::from_shape_vec(vec![1, 2, 1], vec![-3.0, -3.0]).unwrap();
    assert_eq!(apl.forward(&x2).into_raw_vec_and_offset().0, vec![0.0, 4.0]);
}

/// A prediction applies the activation in place; that must give exactly what the forward
/// pass gives, for every kind (SPLASH with bent slopes), a length that is not a multiple of
/// four, one large enough to run in pieces, and an array not in standard layout.
#[test]
fn in_place_forward_equals_the_forward_pass() {
    use splash::activation::Splash;
    let mut kinds: Vec<Box<dyn Activation>> =
        ActivationKind::ALL.iter().map(|k| k.build(3)).collect();
    kinds.push(Box::new(Splash::with_coefficients(
        [0.7, -0.4, 0.9, 0.2],
        [-0.3, 0.5, -0.8, 0.6],
    )));
    for shape in [vec![2, 3, 5, 7], vec![4, 3, 64, 64]] {
        let n: usize = shape.iter().product();
        let x = ArrayD::from_shape_vec(
            shape.clone(),
            (0..n)
                .map(|i| ((i * 37) % 97) as f32 / 12.0 - 4.0)
                .collect(),
        )
        .unwrap();
        for act in &kinds {
            let want = act.forward(&x);
            let mut got = x.clone();
            act.forward_in_place(&mut got);
            assert_eq!(got, want, "{:?} on {n} values", act.kind());
            // The same shape, not in standard layout (an array of the reversed shape, its
            // axes reversed).
            let mut reversed = shape.clone();
            reversed.reverse();
            let t0 = ArrayD::from_shape_vec(reversed, x.iter().copied().collect())
                .unwrap()
                .reversed_axes();
            assert!(!t0.is_standard_layout());
            let mut t = t0.clone();
            act.forward_in_place(&mut t);
            assert_eq!(
                t,
                act.forward(&t0),
                "{:?} not in standard layout",
                act.kind()
            );
        }
    }
}
