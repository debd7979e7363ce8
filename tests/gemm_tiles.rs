//! The GEMM core's other tile shape: this machine's adapter picks one shape (lavapipe: the
//! software one), so this binary forces the other and checks matmul and every convolution
//! pass against the reference with it, on shapes that are not multiples of either tile.

mod common;

use common::{assert_close, download, gpu, random, rng, upload, widen, Tolerance};
use facemtl::geometry::{Conv2dGeometry, Conv2dSpec, Padding};
use facemtl::kernels::{conv, matmul};
use facemtl::reference;

#[test]
fn the_other_tile_shape_matches_the_reference() {
    let g = gpu();
    g.set_software_tiles(!g.is_software());
    let mut r = rng(30);
    for (m, k, n) in [(1usize, 1usize, 1usize), (67, 33, 130), (9, 500, 65)] {
        let a = random(&mut r, m * k);
        let b = random(&mut r, k * n);
        let got =
            matmul::matmul(g, &upload(&[m, k], &a), &upload(&[n, k], &b), false, true).unwrap();
        let want = reference::dense::matmul(&widen(&a), (m, k), false, &widen(&b), (n, k), true);
        assert_close(
            &format!("matmul {m}x{k}x{n}"),
            &download(&got),
            &want,
            Tolerance::ACCUMULATED,
        );
    }
    let spec = Conv2dSpec {
        stride: (2, 1),
        padding: Padding {
            top: 1,
            bottom: 0,
            left: 2,
            right: 1,
        },
    };
    for (input, weight) in [
        ([2usize, 3, 17, 13], [70usize, 3, 3, 2]),
        ([3, 9, 8, 8], [5, 9, 1, 5]),
    ] {
        let geom = Conv2dGeometry::new(&input, &weight, spec).unwrap();
        let x = random(&mut r, input.iter().product());
        let w = random(&mut r, weight.iter().product());
        let dy = random(&mut r, geom.output_shape().iter().product());
        let y = conv::conv2d(g, &upload(&input, &x), &upload(&weight, &w), None, spec).unwrap();
        assert_close(
            "conv forward",
            &download(&y),
            &reference::conv::conv2d(&geom, &widen(&x), &widen(&w), None),
            Tolerance::ACCUMULATED,
        );
        let grads = conv::conv2d_backward(
            g,
            &upload(&input, &x),
            &upload(&weight, &w),
            &upload(&geom.output_shape(), &dy),
            spec,
        )
        .unwrap();
        let (dx, dw, _) =
            reference::conv::conv2d_backward(&geom, &widen(&x), &widen(&w), &widen(&dy));
        assert_close(
            "conv dx",
            &download(&grads.input),
            &dx,
            Tolerance::ACCUMULATED,
        );
        assert_close(
            "conv dw",
            &download(&grads.weight),
            &dw,
            Tolerance::ACCUMULATED,
        );
    }
}
