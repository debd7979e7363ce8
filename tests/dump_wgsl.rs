//! `FACEMTL_DUMP_WGSL=DIR` writes the WGSL of every kernel as compiled, generated GEMM
//! cores included, one file per kernel and variant.

mod common;

use common::{random, rng};
use facemtl::geometry::Conv2dSpec;
use facemtl::gpu::Tensor;
use facemtl::kernels::{channels, conv, matmul};

#[test]
fn every_compiled_kernel_is_written_as_wgsl() {
    let dir = common::scratch_dir("wgsl");
    // This test binary's only test: no other thread reads the environment.
    std::env::set_var("FACEMTL_DUMP_WGSL", &dir);
    let gpu = common::own_gpu();
    let mut r = rng(5);
    // Tensors of this test's own device (common::upload uses the shared one).
    let mut upload = |shape: &[usize]| {
        let data = random(&mut r, shape.iter().product());
        Tensor::from_slice(&gpu, shape, &data).unwrap()
    };
    let x = upload(&[2, 8, 9, 9]);
    let w = upload(&[16, 8, 3, 3]);
    let a = upload(&[33, 20]);
    let y = conv::conv2d_for_training(&gpu, &x, &w, None, Conv2dSpec::new(1, 1)).unwrap();
    channels::concat_channels(&gpu, &[&y.y, &x]).unwrap();
    matmul::matmul(&gpu, &a, &a, false, true).unwrap();
    gpu.flush();

    let mut files = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    let names: Vec<String> = files
        .iter()
        .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    assert!(
        names.iter().any(|n| n == "channels/concat.wgsl"),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("gemm/matmul")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("gemm/conv_forward")),
        "{names:?}"
    );
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            path.extension().is_some_and(|e| e == "wgsl") && text.contains("fn main"),
            "{} is not a kernel's WGSL",
            path.display()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
