//! Bad shapes and sizes come back as errors that name the op and the shapes, never as a
//! panic from inside wgpu.

mod common;

use common::gpu;
use facemtl::geometry::{Conv2dSpec, Pool2dSpec};
use facemtl::gpu::{GpuError, Indices, Tensor};
use facemtl::kernels::{conv, elementwise, loss, matmul, norm, optim, pool, reduce};

fn zeros(shape: &[usize]) -> Tensor {
    Tensor::zeros(gpu(), shape).unwrap()
}

/// Asserts a shape/argument error whose message contains every one of `words`.
fn assert_error<T>(result: Result<T, GpuError>, words: &[&str]) {
    match result {
        Ok(_) => panic!("expected an error mentioning {words:?}"),
        Err(e) => {
            let text = e.to_string();
            for w in words {
                assert!(text.contains(w), "error {text:?} should mention {w:?}");
            }
        }
    }
}

#[test]
fn upload_with_wrong_length_is_an_error() {
    assert_error(
        Tensor::from_slice(gpu(), &[2, 3], &[1.0; 5]),
        &["upload", "[2, 3]", "5"],
    );
    assert_error(zeros(&[2, 3]).write(gpu(), &[0.0; 7]), &["write", "7"]);
    assert_error(
        zeros(&[2, 3]).reshape(&[4, 2]),
        &["reshape", "[2, 3]", "[4, 2]"],
    );
}

#[test]
fn elementwise_shape_mismatch_is_an_error() {
    assert_error(
        elementwise::add(gpu(), &zeros(&[2, 3]), &zeros(&[3, 2])),
        &["add", "[2, 3]", "[3, 2]"],
    );
    assert_error(
        elementwise::accumulate(gpu(), &zeros(&[4]), &zeros(&[5]), 1.0),
        &["accumulate", "[4]", "[5]"],
    );
}

#[test]
fn matmul_and_linear_shape_errors() {
    assert_error(
        matmul::matmul(gpu(), &zeros(&[2, 3]), &zeros(&[4, 5]), false, false),
        &["matmul", "[2, 3]", "[4, 5]"],
    );
    assert_error(
        matmul::matmul(gpu(), &zeros(&[2, 3, 4]), &zeros(&[3, 4, 5]), false, false),
        &["matmul", "[2, 3, 4]", "[3, 4, 5]"],
    );
    assert_error(
        matmul::matmul(gpu(), &zeros(&[6]), &zeros(&[6, 1]), false, false),
        &["matmul", "[6]"],
    );
    assert_error(
        matmul::linear(gpu(), &zeros(&[8, 10]), &zeros(&[4, 9]), None),
        &["linear", "[8, 10]", "[4, 9]"],
    );
    assert_error(
        matmul::linear(
            gpu(),
            &zeros(&[8, 10]),
            &zeros(&[4, 10]),
            Some(&zeros(&[5])),
        ),
        &["linear", "bias", "[4]", "[5]"],
    );
    assert_error(
        matmul::linear_backward(gpu(), &zeros(&[8, 10]), &zeros(&[4, 10]), &zeros(&[8, 5])),
        &["linear_backward", "dy"],
    );
}

#[test]
fn conv_shape_errors() {
    let spec = Conv2dSpec::new(1, 0);
    assert_error(
        conv::conv2d(
            gpu(),
            &zeros(&[1, 3, 8, 8]),
            &zeros(&[4, 2, 3, 3]),
            None,
            spec,
        ),
        &["conv2d", "3 channels", "[4, 2, 3, 3]"],
    );
    assert_error(
        conv::conv2d(gpu(), &zeros(&[3, 8, 8]), &zeros(&[4, 3, 3, 3]), None, spec),
        &["conv2d", "[3, 8, 8]"],
    );
    assert_error(
        conv::conv2d(
            gpu(),
            &zeros(&[1, 3, 2, 2]),
            &zeros(&[4, 3, 3, 3]),
            None,
            spec,
        ),
        &["conv2d", "does not fit", "[1, 3, 2, 2]"],
    );
    assert_error(
        conv::conv2d(
            gpu(),
            &zeros(&[1, 3, 8, 8]),
            &zeros(&[4, 3, 3, 3]),
            None,
            Conv2dSpec::new(0, 0),
        ),
        &["conv2d", "stride"],
    );
    assert_error(
        conv::conv2d(
            gpu(),
            &zeros(&[1, 3, 8, 8]),
            &zeros(&[4, 3, 3, 3]),
            Some(&zeros(&[3])),
            spec,
        ),
        &["conv2d", "bias"],
    );
    assert_error(
        conv::conv2d_backward(
            gpu(),
            &zeros(&[1, 3, 8, 8]),
            &zeros(&[4, 3, 3, 3]),
            &zeros(&[1, 4, 8, 8]),
            spec,
        ),
        &["dy", "[1, 4, 6, 6]", "[1, 4, 8, 8]"],
    );
}

#[test]
fn pool_shape_errors() {
    assert_error(
        pool::max_pool2d(gpu(), &zeros(&[1, 1, 2, 2]), Pool2dSpec::new(3, 1, 0)),
        &["max_pool2d", "does not fit"],
    );
    assert_error(
        pool::max_pool2d(gpu(), &zeros(&[1, 1, 8, 8]), Pool2dSpec::new(2, 2, 2)),
        &["max_pool2d", "padding"],
    );
    assert_error(
        pool::avg_pool2d(gpu(), &zeros(&[4, 8, 8]), Pool2dSpec::new(2, 2, 0)),
        &["avg_pool2d", "[4, 8, 8]"],
    );
    let out = pool::max_pool2d(gpu(), &zeros(&[1, 1, 8, 8]), Pool2dSpec::new(2, 2, 0)).unwrap();
    assert_error(
        pool::max_pool2d_backward(
            gpu(),
            &zeros(&[1, 1, 3, 3]),
            &out.argmax,
            &[1, 1, 8, 8],
            Pool2dSpec::new(2, 2, 0),
        ),
        &["dy"],
    );
    assert_error(
        reduce::global_avg_pool(gpu(), &zeros(&[2, 3])),
        &["global_avg_pool", "[2, 3]"],
    );
}

#[test]
fn loss_and_norm_shape_errors() {
    let labels = Indices::from_slice(gpu(), &[0, 1, 2]).unwrap();
    assert_error(
        loss::softmax_cross_entropy(gpu(), &zeros(&[4, 5]), &labels, &zeros(&[4])),
        &["softmax_cross_entropy", "3 labels", "4 rows"],
    );
    let labels4 = Indices::from_slice(gpu(), &[0, 1, 2, 3]).unwrap();
    assert_error(
        loss::softmax_cross_entropy(gpu(), &zeros(&[4, 5]), &labels4, &zeros(&[3])),
        &["mask", "[4]", "[3]"],
    );
    assert_error(
        loss::softmax_cross_entropy(gpu(), &zeros(&[4, 5, 1]), &labels4, &zeros(&[4])),
        &["logits", "2-D"],
    );
    assert_error(
        norm::l2_normalize_rows(gpu(), &zeros(&[4]), 1e-12),
        &["l2_normalize_rows", "[4]"],
    );
}

#[test]
fn optimizer_shape_errors() {
    let c = optim::SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 0.0,
    };
    assert_error(
        optim::sgd_update(
            gpu(),
            &zeros(&[3]),
            &zeros(&[4]),
            &zeros(&[1]),
            &zeros(&[3]),
            c,
        ),
        &["sgd_update", "grad"],
    );
    assert_error(
        optim::sgd_update(
            gpu(),
            &zeros(&[3]),
            &zeros(&[3]),
            &zeros(&[2]),
            &zeros(&[3]),
            c,
        ),
        &["grad_scale"],
    );
}

#[test]
fn tensors_over_the_binding_limit_are_refused() {
    let limit = gpu().limits().max_storage_buffer_binding_size;
    let too_many = (limit / 4 + 1) as usize;
    match Tensor::zeros(gpu(), &[too_many]) {
        Err(GpuError::TooLarge {
            limit: l,
            limit_name,
            ..
        }) => {
            assert_eq!(l, limit);
            assert_eq!(limit_name, "max_storage_buffer_binding_size");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let e = Tensor::zeros(gpu(), &[too_many]).unwrap_err().to_string();
    assert!(e.contains("smaller batch"), "{e}");
}
