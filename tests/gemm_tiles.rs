//! Every variant of the GEMM core: this machine's adapter picks one class (lavapipe: the
//! software shapes, with A shared through subgroups where the adapter has them), so this
//! binary runs matmul and every convolution pass under the GPU class and under the
//! software class with and without subgroups, against the reference, on shapes that are
//! not multiples of any tile and that reach the tall, square and narrow software shapes,
//! the strided and the unit-stride backward-data loaders.

mod common;

use common::{assert_tensor, gpu, random, rng, upload, widen, Tolerance};
use facemtl::geometry::{Conv2dGeometry, Conv2dSpec, Padding};
use facemtl::kernels::{conv, matmul};
use facemtl::reference;

#[test]
fn every_tile_shape_matches_the_reference() {
    let g = gpu();
    for (software, subgroups) in [(true, true), (true, false), (false, false)] {
        g.set_software_tiles(software);
        g.set_gemm_subgroups(subgroups);
        check_all_kernels(&format!("software={software} subgroups={subgroups}"));
    }
    g.set_software_tiles(g.is_software());
    g.set_gemm_subgroups(true);
}

fn check_all_kernels(variant: &str) {
    let g = gpu();
    let mut r = rng(30);
    // Tall (67 and 37 rows: a 32-row tile and a ragged one), square (9 rows) and narrow
    // (one column) outputs.
    for (m, k, n) in [
        (1usize, 1usize, 1usize),
        (67, 33, 130),
        (37, 20, 100),
        (9, 500, 65),
    ] {
        let a = random(&mut r, m * k);
        let b = random(&mut r, k * n);
        let got =
            matmul::matmul(g, &upload(&[m, k], &a), &upload(&[n, k], &b), false, true).unwrap();
        let want = reference::dense::matmul(&widen(&a), (m, k), false, &widen(&b), (n, k), true);
        assert_tensor(
            &format!("matmul {m}x{k}x{n} {variant}"),
            &got,
            &want,
            Tolerance::ACCUMULATED,
        );
    }
    let strided = Conv2dSpec {
        stride: (2, 1),
        padding: Padding {
            top: 1,
            bottom: 0,
            left: 2,
            right: 1,
        },
    };
    let unit = Conv2dSpec::new(1, 1);
    for (input, weight, spec) in [
        ([2usize, 3, 17, 13], [70usize, 3, 3, 2], strided),
        ([3, 9, 8, 8], [5, 9, 1, 5], strided),
        // Stride 1: the unit-stride backward-data loader; weight-gradient widths 45
        // (narrow software tile) and 72 (wide).
        ([2, 5, 9, 7], [6, 5, 3, 3], unit),
        ([2, 8, 7, 9], [12, 8, 3, 3], unit),
        // 20 input channels: a tall backward-data output.
        ([2, 20, 9, 11], [24, 20, 3, 3], unit),
    ] {
        let case = format!("conv {input:?} * {weight:?} {spec:?} {variant}");
        let geom = Conv2dGeometry::new(&input, &weight, spec).unwrap();
        let x = random(&mut r, input.iter().product());
        let w = random(&mut r, weight.iter().product());
        let dy = random(&mut r, geom.output_shape().iter().product());
        let y = conv::conv2d(g, &upload(&input, &x), &upload(&weight, &w), None, spec).unwrap();
        assert_tensor(
            &format!("{case} forward"),
            &y,
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
        assert_tensor(
            &format!("{case} dx"),
            &grads.input,
            &dx,
            Tolerance::ACCUMULATED,
        );
        assert_tensor(
            &format!("{case} dw"),
            &grads.weight,
            &dw,
            Tolerance::ACCUMULATED,
        );
    }
}
