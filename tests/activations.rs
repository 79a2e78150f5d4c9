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
