//! Every variant of the GEMM core: this machine's adapter picks one class (lavapipe: the
//! software shapes, with A shared through subgroups where the adapter has them), so this
//! binary runs matmul and every convolution pass under the GPU class and under the
//! software class with and without subgroups, against the reference, on shapes that are
//! not multiples of any tile and that reach the tall, square and narrow software shapes,
//! the strided and the unit-stride backward-data loaders, and a dense layer's weight and
//! bias gradients.

mod common;

use common::{
    assert_batch_statistics, assert_close, assert_tensor, download, gpu, random, rng,
    uneven_strided, upload, widen, RunningBefore, Tolerance,
};
use facemtl::autodiff::{ParamStore, Tape};
use facemtl::geometry::{Conv2dGeometry, Conv2dSpec};
use facemtl::gpu::{Gpu, Tensor};
use facemtl::kernels::{conv, matmul, norm, texel_path, GemmSwitches};
use facemtl::reference;

/// What `run` returns, and the dispatches it records (pending work flushed first).
fn dispatches<T>(g: &Gpu, run: impl FnOnce() -> T) -> (T, u64) {
    g.flush();
    let (_, before) = g.counters();
    let value = run();
    let (_, after) = g.counters();
    (value, after - before)
}

/// The tests here switch the device's tile class, which every test of this binary shares:
/// they take turns.
static TILE_SWITCH: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `check` (given the class in words) under each GEMM tile class: software tiles with
/// subgroups and texel operands, with subgroups only, without either, and GPU tiles; then
/// puts the device's own class back. Hold `TILE_SWITCH`.
fn under_every_tile_class(mut check: impl FnMut(&str)) {
    let g = gpu();
    for (software, subgroups, texels) in [
        (true, true, true),
        (true, true, false),
        (true, false, true),
        (false, false, true),
    ] {
        let switches = GemmSwitches {
            software_tiles: software,
            subgroups,
            texels,
        };
        switches.apply(g);
        check(&format!(
            "software={software} subgroups={subgroups} texels={}",
            texel_path(g)
        ));
    }
    GemmSwitches::for_adapter(g).apply(g);
}

#[test]
fn every_tile_shape_matches_the_reference() {
    let _turn = TILE_SWITCH.lock().unwrap_or_else(|e| e.into_inner());
    under_every_tile_class(check_all_kernels);
}

#[test]
fn the_texel_path_is_taken_where_the_device_has_it() {
    // Where the device takes the texel path (software adapter, subgroups of 8), a
    // convolution with its operands packed records the two packing dispatches before its
    // GEMM, and one with a single input channel (padded fourfold) does not; elsewhere
    // neither does; likewise a large matmul and a small one. So the texel cases above
    // cannot silently run the storage path.
    let _turn = TILE_SWITCH.lock().unwrap_or_else(|e| e.into_inner());
    let g = gpu();
    let mut r = rng(32);
    let unit = Conv2dSpec::new(1, 1);
    for (input, weight, packed) in [
        ([2usize, 8, 6, 6], [12usize, 8, 3, 3], true),
        ([2, 1, 6, 6], [12, 1, 3, 3], false),
    ] {
        let x = upload(&input, &random(&mut r, input.iter().product()));
        let w = upload(&weight, &random(&mut r, weight.iter().product()));
        let (_, recorded) = dispatches(g, || conv::conv2d(g, &x, &w, None, unit).unwrap());
        let want = if packed && texel_path(g) { 3 } else { 1 };
        assert_eq!(
            recorded,
            want,
            "conv {input:?} * {weight:?}: dispatches (texel path on this device: {})",
            texel_path(g)
        );
    }
    // Matmuls: past the size threshold, and under it.
    for ((m, k, n), packed) in [
        ((131usize, 257usize, 509usize), true),
        ((67, 33, 130), false),
    ] {
        let a = upload(&[m, k], &random(&mut r, m * k));
        let b = upload(&[n, k], &random(&mut r, k * n));
        let (_, recorded) = dispatches(g, || matmul::matmul(g, &a, &b, false, true).unwrap());
        let want = if packed && texel_path(g) { 3 } else { 1 };
        assert_eq!(recorded, want, "matmul {m}x{k}x{n}: dispatches");
    }
}

#[test]
fn a_training_tape_packs_a_convolutions_input_once_for_both_passes() {
    // On the texel path a training tape keeps x as the forward pass packed it, and the
    // backward-weight pass reads that instead of packing x again. So x is overwritten with
    // NaN between the passes there: a pass that packed x again would give NaN, one that
    // reads the kept packing gives the standalone pass's gradient on the original x bit
    // for bit (the same kernels over the same texels). A second convolution on the same
    // tape packs its own input after x, so a kept packing that went back to the pool
    // early would be overwritten and the gradient would differ. The tape's pass also
    // records one dispatch fewer than the standalone pass (which packs x); elsewhere the
    // counts are equal.
    let _turn = TILE_SWITCH.lock().unwrap_or_else(|e| e.into_inner());
    let g = gpu();
    let mut r = rng(33);
    let spec = Conv2dSpec::new(1, 1);
    let (input, weight) = ([2usize, 8, 7, 5], [12usize, 8, 3, 3]);
    let mut store = ParamStore::new();
    let w_id = store
        .add("w", upload(&weight, &random(&mut r, 12 * 8 * 9)))
        .unwrap();
    let x_values = random(&mut r, input.iter().product());
    let other_values = random(&mut r, input.iter().product());
    let dy_values = random(&mut r, 2 * 12 * 7 * 5);

    let mut tape = Tape::new(g, &store, true, 0);
    let x_taped = upload(&input, &x_values);
    let x = tape.input(x_taped.clone());
    let other = tape.input(upload(&input, &other_values));
    let w = tape.param(w_id);
    let y = tape.conv2d(x, w, None, spec).unwrap();
    // Packs `other` after x: if the kept packing were a recycled texture, this would
    // overwrite it.
    tape.conv2d(other, w, None, spec).unwrap();
    if texel_path(g) {
        x_taped.write(g, &vec![f32::NAN; x_values.len()]).unwrap();
    }
    let (got, taped) = dispatches(g, || {
        let grads = tape
            .backward(&[(y, upload(&[2, 12, 7, 5], &dy_values))], &[w_id])
            .unwrap();
        download(grads.get(w_id).expect("a weight gradient"))
    });

    let geometry = Conv2dGeometry::new(&input, &weight, spec).unwrap();
    let dy = upload(&[2, 12, 7, 5], &dy_values);
    let x_alone = upload(&input, &x_values);
    let (alone, standalone) = dispatches(g, || {
        conv::conv2d_backward_weight(g, &dy, &x_alone, &geometry).unwrap()
    });
    let want = match texel_path(g) {
        true => standalone - 1,
        false => standalone,
    };
    assert_eq!(
        taped,
        want,
        "backward dispatches (texel path: {})",
        texel_path(g)
    );
    assert_same_bits("dw", &got, &download(&alone));
}

/// `got` and `want` the same length and element for element the same bits.
fn assert_same_bits(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(a.to_bits() == b.to_bits(), "{what}[{i}]: {a}, against {b}");
    }
}

#[test]
fn a_training_tape_packs_a_convolutions_filters_both_ways_in_one_dispatch() {
    // On the texel path a training convolution packs its filters by input channel (for
    // its forward GEMM) and by output channel (for backward-data) in one dispatch, and the
    // backward-data pass reads the kept packing. So w is overwritten with NaN between the
    // passes there: a backward pass that packed w again would give NaN, one that reads the
    // kept texels gives the standalone passes' gradients on the original w bit for bit,
    // and the forward pass the plain convolution's output (the same GEMMs over the same
    // texels, if the two-way pack writes what the one-way packs do). 7 input and 13 output
    // channels pad a texel both ways, and the pool's textures hold NaN first (a tape that
    // packed NaN operands is dropped just before), so a texel left unwritten shows. The
    // forward pass records as many dispatches as the plain convolution; the backward pass
    // three fewer than the two standalone passes (the filters, x and dy each packed once
    // fewer); elsewhere the counts are equal.
    let _turn = TILE_SWITCH.lock().unwrap_or_else(|e| e.into_inner());
    let g = gpu();
    let mut r = rng(37);
    let (input, weight) = ([2usize, 7, 7, 5], [13usize, 7, 3, 3]);
    for spec in [Conv2dSpec::new(1, 1), uneven_strided()] {
        let geometry = Conv2dGeometry::new(&input, &weight, spec).unwrap();
        let out = geometry.output_shape();
        let w_values = random(&mut r, weight.iter().product());
        let x_values = random(&mut r, input.iter().product());
        let dy_values = random(&mut r, out.iter().product());
        let mut store = ParamStore::new();
        let w_id = store.add("w", upload(&weight, &w_values)).unwrap();
        let x_id = store.add("x", upload(&input, &x_values)).unwrap();
        {
            let mut poisoned = ParamStore::new();
            let nan = |shape: &[usize]| upload(shape, &vec![f32::NAN; shape.iter().product()]);
            let w_nan = poisoned.add("w", nan(&weight)).unwrap();
            let x_nan = poisoned.add("x", nan(&input)).unwrap();
            let mut tape = Tape::new(g, &poisoned, true, 0);
            let (x, w) = (tape.param(x_nan), tape.param(w_nan));
            tape.conv2d(x, w, None, spec).unwrap();
        }

        let mut tape = Tape::new(g, &store, true, 0);
        let (x, w) = (tape.param(x_id), tape.param(w_id));
        let (y, taped_forward) = dispatches(g, || tape.conv2d(x, w, None, spec).unwrap());
        if texel_path(g) {
            let nan = vec![f32::NAN; w_values.len()];
            store.get(w_id).write(g, &nan).unwrap();
        }
        let y_taped = download(tape.value(y));
        let (got, taped) = dispatches(g, || {
            let grads = tape
                .backward(&[(y, upload(&out, &dy_values))], &[x_id, w_id])
                .unwrap();
            [x_id, w_id].map(|id| download(grads.get(id).expect("a gradient")))
        });

        let (w_alone, x_alone) = (upload(&weight, &w_values), upload(&input, &x_values));
        let (plain, plain_forward) = dispatches(g, || {
            conv::conv2d(g, &x_alone, &w_alone, None, spec).unwrap()
        });
        let dy = upload(&out, &dy_values);
        let (dx_alone, standalone_input) = dispatches(g, || {
            conv::conv2d_backward_input(g, &dy, &w_alone, &geometry).unwrap()
        });
        let (dw_alone, standalone_weight) = dispatches(g, || {
            conv::conv2d_backward_weight(g, &dy, &x_alone, &geometry).unwrap()
        });
        let case = format!("{spec:?} (texel path: {})", texel_path(g));
        assert_eq!(taped_forward, plain_forward, "{case}: forward dispatches");
        let standalone = standalone_input + standalone_weight;
        let want = match texel_path(g) {
            true => standalone - 3,
            false => standalone,
        };
        assert_eq!(taped, want, "{case}: backward dispatches");
        let [dx, dw] = [&got[0], &got[1]];
        for (what, got, alone) in [
            ("y", &y_taped, plain),
            ("dx", dx, dx_alone),
            ("dw", dw, dw_alone),
        ] {
            assert_same_bits(&format!("{case} {what}"), got, &download(&alone));
        }
    }
}

#[test]
fn a_training_convolutions_moments_give_its_batch_statistics() {
    // A training convolution without bias also writes each tile's (chunk's) per-channel
    // moments, and batch norm merges those instead of reading the output again. Under
    // every tile class (the storage cores through workgroup memory, the texel cores
    // through subgroups) and in the first layer's single-channel kernel, against the
    // reference convolution's statistics (and the running statistics' update), on outputs
    // under the tall, square, narrow and GPU tiles, with rows, columns and chunks that
    // fill no tile and inputs offset far from zero (the merge must not cancel); the output
    // itself is the plain convolution's bit for bit. Moments are NaN-poisoned first, so
    // an unwritten chunk shows.
    let _turn = TILE_SWITCH.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rng(34);
    let spec = Conv2dSpec::new(1, 1);
    under_every_tile_class(|class| {
        for (input, weight) in [
            ([2usize, 8, 9, 11], [40usize, 8, 3, 3]),
            ([3, 12, 10, 7], [12, 12, 3, 3]),
            ([1, 8, 6, 6], [20, 8, 3, 3]),
            ([2, 1, 9, 12], [16, 1, 3, 3]),
            ([1, 1, 5, 4], [5, 1, 3, 3]),
        ] {
            let case = format!("{class}: conv {input:?} * {weight:?}");
            check_moments(&case, &mut r, input, weight, spec);
        }
    });
}

fn check_moments(
    case: &str,
    r: &mut rand::rngs::StdRng,
    input: [usize; 4],
    weight: [usize; 4],
    spec: Conv2dSpec,
) {
    let g = gpu();
    let x_values: Vec<f32> = random(r, input.iter().product())
        .iter()
        .map(|v| v + 2.0)
        .collect();
    let w_values = random(r, weight.iter().product());
    let (x, w) = (upload(&input, &x_values), upload(&weight, &w_values));
    let trained = conv::conv2d_for_training(g, &x, &w, None, spec).unwrap();
    let plain = conv::conv2d(g, &x, &w, None, spec).unwrap();
    assert_same_bits(
        &format!("{case}: output against the plain convolution's"),
        &download(&trained.y),
        &download(&plain),
    );
    // Only the single-channel kernel without subgroups of 8 writes none.
    let Some(moments) = trained.moments else {
        assert!(input[1] == 1 && !texel_path(g), "{case}: no moments");
        return;
    };
    let c = weight[0];
    let running_mean0 = random(r, c);
    let (running_mean, running_var) = (upload(&[c], &running_mean0), upload(&[c], &vec![1.0; c]));
    let stats = norm::batch_norm_stats_from_moments(
        g,
        &moments,
        Some(norm::RunningStats {
            mean: &running_mean,
            var: &running_var,
            momentum: 0.1,
        }),
    )
    .unwrap();
    let geometry = Conv2dGeometry::new(&input, &weight, spec).unwrap();
    let want = reference::conv::conv2d(&geometry, &widen(&x_values), &widen(&w_values), None);
    let inner = geometry.out_h * geometry.out_w;
    assert_batch_statistics(
        case,
        &stats,
        RunningBefore {
            mean: &running_mean,
            var: &running_var,
            mean_before: &running_mean0,
            var_before: &vec![1.0; c],
        },
        &want,
        [input[0], c, inner],
    );
}

#[test]
fn a_training_tapes_batch_norm_merges_its_convolutions_moments() {
    // A batch norm recorded on a training tape right after a convolution takes its
    // statistics from the convolution's moments: the running mean it moves is bit for bit
    // the one the merge of those moments gives, not the one a pass over the output gives
    // (another summation order, so other last bits).
    let _turn = TILE_SWITCH.lock().unwrap_or_else(|e| e.into_inner());
    let g = gpu();
    if !texel_path(g) {
        return;
    }
    let mut r = rng(35);
    let spec = Conv2dSpec::new(1, 1);
    let (input, weight) = ([4usize, 8, 13, 11], [24usize, 8, 3, 3]);
    let c = weight[0];
    let x_values: Vec<f32> = random(&mut r, input.iter().product())
        .iter()
        .map(|v| v + 2.0)
        .collect();
    let w_values = random(&mut r, weight.iter().product());
    let mut store = ParamStore::new();
    let w_id = store.add("w", upload(&weight, &w_values)).unwrap();
    let gamma_id = store.add("gamma", upload(&[c], &vec![1.0; c])).unwrap();
    let beta_id = store.add("beta", upload(&[c], &vec![0.0; c])).unwrap();
    let running_mean = upload(&[c], &vec![0.0; c]);
    let running_var = upload(&[c], &vec![1.0; c]);
    let mut tape = Tape::new(g, &store, true, 0);
    let x = tape.input(upload(&input, &x_values));
    let (w, gamma, beta) = (tape.param(w_id), tape.param(gamma_id), tape.param(beta_id));
    let y = tape.conv2d(x, w, None, spec).unwrap();
    tape.batch_norm(y, gamma, beta, &running_mean, &running_var, 1.0, 1e-5, true)
        .unwrap();
    let taped = download(&running_mean);

    let (xt, wt) = (upload(&input, &x_values), upload(&weight, &w_values));
    let conv = conv::conv2d_for_training(g, &xt, &wt, None, spec).unwrap();
    let merged = norm::batch_norm_stats_from_moments(g, &conv.moments.unwrap(), None).unwrap();
    let read = norm::batch_norm_stats(g, &conv.y, None).unwrap();
    let (merged, read) = (download(&merged.mean), download(&read.mean));
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&taped),
        bits(&merged),
        "taped running mean against the merged moments"
    );
    assert_ne!(
        bits(&merged),
        bits(&read),
        "the two paths give the same bits: the check above proves nothing"
    );
}

#[test]
fn first_layer_kernel_matches_the_reference_and_the_gemm_bit_for_bit() {
    // One input channel, 3x3, stride 1, padding 1, width a multiple of 4: software
    // adapters take conv/single_channel_forward.wgsl, GPUs the GEMM; both against the
    // reference, and against each other bit for bit (the training figures measured with
    // one hold for the other). Several quads per row, one, rows of one pixel's height, and
    // with and without bias.
    let _turn = TILE_SWITCH.lock().unwrap_or_else(|e| e.into_inner());
    let g = gpu();
    let mut r = rng(31);
    let unit = Conv2dSpec::new(1, 1);
    for (input, out_c, with_bias) in [
        ([3usize, 1, 7, 12], 5usize, false),
        ([2, 1, 4, 4], 16, true),
        ([1, 1, 1, 8], 3, true),
        ([2, 1, 9, 20], 32, false),
    ] {
        let weight = [out_c, 1, 3, 3];
        let geom = Conv2dGeometry::new(&input, &weight, unit).unwrap();
        let x = random(&mut r, input.iter().product());
        let w = random(&mut r, weight.iter().product());
        let b = random(&mut r, out_c);
        let (tx, tw, tb) = (
            upload(&input, &x),
            upload(&weight, &w),
            upload(&[out_c], &b),
        );
        let want = reference::conv::conv2d(
            &geom,
            &widen(&x),
            &widen(&w),
            with_bias.then(|| widen(&b)).as_deref(),
        );
        let mut outputs = Vec::new();
        for software in [true, false] {
            GemmSwitches {
                software_tiles: software,
                ..GemmSwitches::for_adapter(g)
            }
            .apply(g);
            let y = conv::conv2d(g, &tx, &tw, with_bias.then_some(&tb), unit).unwrap();
            let case = format!("conv {input:?} * {weight:?} bias={with_bias} software={software}");
            assert_tensor(&case, &y, &want, Tolerance::ACCUMULATED);
            outputs.push(download(&y));
        }
        GemmSwitches::for_adapter(g).apply(g);
        assert_same_bits(
            &format!("conv {input:?} * {weight:?}: the first-layer kernel against the GEMM"),
            &outputs[0],
            &outputs[1],
        );
    }
}

#[test]
fn first_layer_weight_gradient_kernel_matches_the_reference() {
    // One input channel, 3x3, stride 1, padding 1, width a multiple of 4, output channels
    // a multiple of 8: software adapters take conv/single_channel_backward_weight.wgsl,
    // GPUs (and other channel counts) the GEMM; both against the reference. One quad per
    // row and several; one and four passes of eight channels; rows of one pixel's height;
    // and more rows than invocations per quad column (48 wide: 42 row lanes for 60 rows),
    // so an invocation's rows run across an image boundary.
    let _turn = TILE_SWITCH.lock().unwrap_or_else(|e| e.into_inner());
    let g = gpu();
    let mut r = rng(34);
    let unit = Conv2dSpec::new(1, 1);
    for (input, out_c) in [
        ([3usize, 1, 7, 12], 8usize),
        ([2, 1, 4, 4], 16),
        ([1, 1, 1, 8], 8),
        ([2, 1, 9, 20], 32),
        ([2, 1, 30, 48], 8),
        ([2, 1, 5, 8], 12),
    ] {
        let weight = [out_c, 1, 3, 3];
        let geom = Conv2dGeometry::new(&input, &weight, unit).unwrap();
        let x = random(&mut r, input.iter().product());
        let w = random(&mut r, weight.iter().product());
        let dy = random(&mut r, geom.output_shape().iter().product());
        let (_, want, _) =
            reference::conv::conv2d_backward(&geom, &widen(&x), &widen(&w), &widen(&dy));
        let (tx, tdy) = (upload(&input, &x), upload(&geom.output_shape(), &dy));
        for software in [true, false] {
            GemmSwitches {
                software_tiles: software,
                ..GemmSwitches::for_adapter(g)
            }
            .apply(g);
            let dw = conv::conv2d_backward_weight(g, &tdy, &tx, &geom).unwrap();
            let case = format!("conv {input:?} * {weight:?} dw software={software}");
            assert_tensor(&case, &dw, &want, Tolerance::ACCUMULATED);
        }
        GemmSwitches::for_adapter(g).apply(g);
    }
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
    // Past the texel path's size threshold (2^24 multiply-adds), K not a multiple of 4,
    // with A and B transposed both ways.
    let (m, k, n) = (131usize, 257usize, 509usize);
    let a = random(&mut r, m * k);
    let b = random(&mut r, k * n);
    let got = matmul::matmul(g, &upload(&[m, k], &a), &upload(&[n, k], &b), false, true).unwrap();
    let want = reference::dense::matmul(&widen(&a), (m, k), false, &widen(&b), (n, k), true);
    let case = format!("matmul {m}x{k}x{n} {variant}");
    assert_tensor(&case, &got, &want, Tolerance::ACCUMULATED);
    let got = matmul::matmul(g, &upload(&[k, m], &a), &upload(&[k, n], &b), true, false).unwrap();
    let want = reference::dense::matmul(&widen(&a), (k, m), true, &widen(&b), (k, n), false);
    assert_tensor(
        &format!("{case} a^T b"),
        &got,
        &want,
        Tolerance::ACCUMULATED,
    );
    // A dense layer's weight and bias gradients in one GEMM (in + 1 columns): narrow
    // (40 + 1), wide (64 + 1 and 130 + 1), ragged rows.
    for (batch, inputs, outputs) in [(32usize, 40usize, 7usize), (5, 64, 37), (3, 130, 70)] {
        let x = random(&mut r, batch * inputs);
        let w = random(&mut r, outputs * inputs);
        let dy = random(&mut r, batch * outputs);
        let grads = matmul::linear_backward(
            g,
            &upload(&[batch, inputs], &x),
            &upload(&[outputs, inputs], &w),
            &upload(&[batch, outputs], &dy),
        )
        .unwrap();
        let (_, dw, db) = reference::dense::linear_backward(
            &widen(&x),
            &widen(&w),
            &widen(&dy),
            batch,
            inputs,
            outputs,
        );
        let case = format!("linear {batch}x{inputs}->{outputs} {variant}");
        assert_tensor(
            &format!("{case} dw"),
            &grads.weight,
            &dw,
            Tolerance::ACCUMULATED,
        );
        assert_tensor(
            &format!("{case} db"),
            &grads.bias,
            &db,
            Tolerance::ACCUMULATED,
        );
    }
    let strided = uneven_strided();
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
        // Texel path: 13 input and 37 output channels padded to whole texels (16, 40),
        // 37 rows (the tall tile and a ragged one; the outer core's rows not a multiple
        // of 4), a 13-row backward-data output, weight-gradient width 144.
        ([3, 13, 10, 9], [37, 13, 3, 3], unit),
        // Texel path with planes of whole vec4s (texels/pack_c4_quads.wgsl): 13 output
        // channels padded to 16 in both backward-data operands (filters by output channel,
        // 72 to a plane, and dy, 48), so unzeroed padding would reach dx.
        ([2, 8, 8, 6], [13, 8, 3, 3], unit),
        // Texel path, strided: 4 channels, weight-gradient width 36 (the narrow outer
        // tile), 12 output channels.
        ([2, 4, 7, 5], [12, 4, 3, 3], strided),
        // Texel path, 1x1 filters at stride 2, 4 output rows.
        ([2, 16, 9, 9], [4, 16, 1, 1], Conv2dSpec::new(2, 0)),
        // 576 terms of K per weight gradient: the backward-weight pass splits K in two
        // and sums the partials (the cases above fit one slice).
        ([4, 8, 12, 12], [8, 8, 3, 3], unit),
    ] {
        let case = format!("conv {input:?} * {weight:?} {spec:?} {variant}");
        let geom = Conv2dGeometry::new(&input, &weight, spec).unwrap();
        let x = random(&mut r, input.iter().product());
        let w = random(&mut r, weight.iter().product());
        let dy = random(&mut r, geom.output_shape().iter().product());
        let (tx, tw) = (upload(&input, &x), upload(&weight, &w));
        let y = conv::conv2d(g, &tx, &tw, None, spec).unwrap();
        assert_tensor(
            &format!("{case} forward"),
            &y,
            &reference::conv::conv2d(&geom, &widen(&x), &widen(&w), None),
            Tolerance::ACCUMULATED,
        );
        // With a bias: its own kernel in each class (gemm/conv_forward_bias.wgsl).
        let b = random(&mut r, weight[0]);
        let tb = upload(&[weight[0]], &b);
        let y = conv::conv2d(g, &tx, &tw, Some(&tb), spec).unwrap();
        assert_tensor(
            &format!("{case} forward with bias"),
            &y,
            &reference::conv::conv2d(&geom, &widen(&x), &widen(&w), Some(&widen(&b))),
            Tolerance::ACCUMULATED,
        );
        let grads =
            conv::conv2d_backward(g, &tx, &tw, &upload(&geom.output_shape(), &dy), spec).unwrap();
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
    check_stacked_convolutions(variant, &mut r);
}

/// `plain` [batch, out_c, pixels] as `stacks` stacks: [stacks, batch, out_c / stacks,
/// pixels].
fn to_stacks(plain: &[f64], [batch, out_c, pixels]: [usize; 3], stacks: usize) -> Vec<f64> {
    let per = out_c / stacks;
    let mut out = vec![f64::NAN; plain.len()];
    for n in 0..batch {
        for c in 0..out_c {
            let (s, j) = (c / per, c % per);
            for i in 0..pixels {
                out[((s * batch + n) * per + j) * pixels + i] = plain[(n * out_c + c) * pixels + i];
            }
        }
    }
    out
}

/// Convolutions whose output channels are stored in stacks (the two branches' first layers
/// as one GEMM): the output is the reference's in stacks, and the gradients from a stacked
/// dy are the reference's from dy unstacked. Stacks of 12 and 8 channels (whole texels:
/// the texel path's packing of dy unstacks them) and of 10 (the backward passes take the
/// storage path); unit stride and strided, rows and columns that fill no tile.
fn check_stacked_convolutions(variant: &str, r: &mut rand::rngs::StdRng) {
    let g = gpu();
    let strided = uneven_strided();
    for (input, weight, spec, stacks) in [
        (
            [2usize, 8, 7, 5],
            [24usize, 8, 3, 3],
            Conv2dSpec::new(1, 1),
            2usize,
        ),
        ([3, 13, 6, 6], [30, 13, 3, 3], Conv2dSpec::new(1, 1), 3),
        ([2, 4, 7, 5], [16, 4, 3, 3], strided, 2),
    ] {
        let case = format!("conv {input:?} * {weight:?} {spec:?} in {stacks} stacks {variant}");
        let plain = Conv2dGeometry::new(&input, &weight, spec).unwrap();
        let geom = plain.with_output_stacks(stacks).unwrap();
        let [batch, out_c, oh, ow] = plain.output_shape();
        let dims = [batch, out_c, oh * ow];
        let x = random(r, input.iter().product());
        let w = random(r, weight.iter().product());
        let dy_plain = random(r, batch * out_c * oh * ow);
        let (xt, wt) = (upload(&input, &x), upload(&weight, &w));
        let y = conv::conv2d_stacked(g, &xt, &wt, &geom, false).unwrap().y;
        assert_eq!(y.shape(), geom.stored_output_shape().as_slice(), "{case}");
        let want = reference::conv::conv2d(&plain, &widen(&x), &widen(&w), None);
        assert_tensor(
            &format!("{case} forward"),
            &y,
            &to_stacks(&want, dims, stacks),
            Tolerance::ACCUMULATED,
        );
        let dy_stacked: Vec<f32> = to_stacks(&widen(&dy_plain), dims, stacks)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let dy = upload(&geom.stored_output_shape(), &dy_stacked);
        let (dx, dw) =
            conv::conv2d_backward_input_and_weight(g, &dy, &xt, None, &wt, &geom, true, true)
                .unwrap();
        let (want_dx, want_dw, _) =
            reference::conv::conv2d_backward(&plain, &widen(&x), &widen(&w), &widen(&dy_plain));
        let tolerance = Tolerance::ACCUMULATED;
        assert_tensor(&format!("{case} dx"), &dx.unwrap(), &want_dx, tolerance);
        assert_tensor(&format!("{case} dw"), &dw.unwrap(), &want_dw, tolerance);
    }
}

#[test]
fn a_tapes_stacked_convolutions_are_the_separate_ones() {
    // Two convolutions of one input recorded as one stacked GEMM, each followed by batch
    // norm + ReLU (whose statistics merge the stack's channels of the GEMM's moments),
    // against the two recorded apart: the same outputs, running statistics and gradients
    // (filters, batch-norm parameters, input; the two stacks' parts of the output
    // gradient gathered into one). With a seed on the first output only, the second
    // filters' gradient is zero (their stack's part of dy is zero-filled, not left as it
    // was: the output gradient buffer is poisoned with NaN where it is allocated).
    let _turn = TILE_SWITCH.lock().unwrap_or_else(|e| e.into_inner());
    let g = gpu();
    let mut r = rng(36);
    let spec = Conv2dSpec::new(1, 1);
    let (input, weight, channels) = ([3usize, 8, 6, 5], [12usize, 8, 3, 3], 12usize);
    let mut store = ParamStore::new();
    let mut add = |name: &str, shape: &[usize], values: Vec<f32>| {
        store.add(name, upload(shape, &values)).unwrap()
    };
    let filters = [
        add("w0", &weight, random(&mut r, 12 * 8 * 9)),
        add("w1", &weight, random(&mut r, 12 * 8 * 9)),
    ];
    let mut affine = Vec::new();
    for i in 0..2 {
        let gamma: Vec<f32> = random(&mut r, channels).iter().map(|v| 1.0 + v).collect();
        affine.push((
            add(&format!("gamma{i}"), &[channels], gamma),
            add(&format!("beta{i}"), &[channels], random(&mut r, channels)),
        ));
    }
    let x_values: Vec<f32> = random(&mut r, input.iter().product())
        .iter()
        .map(|v| v + 1.0)
        .collect();
    let out = [input[0], channels, input[2], input[3]];
    let dys = [
        random(&mut r, out.iter().product()),
        random(&mut r, out.iter().product()),
    ];
    let wrt: Vec<_> = filters
        .iter()
        .copied()
        .chain(affine.iter().flat_map(|&(a, b)| [a, b]))
        .collect();

    // Outputs, running statistics, gradients of `wrt` and of x, for seeds on `seeded`.
    let run = |stacked: bool, seeded: &[usize]| {
        let running: Vec<(Tensor, Tensor)> = (0..2)
            .map(|_| {
                (
                    upload(&[channels], &vec![0.5; channels]),
                    upload(&[channels], &vec![2.0; channels]),
                )
            })
            .collect();
        let mut tape = Tape::new(g, &store, true, 0);
        let x = tape.input(upload(&input, &x_values));
        let ws: Vec<_> = filters.iter().map(|&w| tape.param(w)).collect();
        let convs = match stacked {
            true => tape.conv2d_stacked(x, &ws, spec).unwrap(),
            false => ws
                .iter()
                .map(|&w| tape.conv2d(x, w, None, spec).unwrap())
                .collect(),
        };
        let outputs: Vec<_> = convs
            .iter()
            .zip(&affine)
            .zip(&running)
            .map(|((&h, &(gamma, beta)), (mean, var))| {
                let (gamma, beta) = (tape.param(gamma), tape.param(beta));
                tape.batch_norm(h, gamma, beta, mean, var, 0.1, 1e-5, true)
                    .unwrap()
            })
            .collect();
        let seeds: Vec<_> = seeded
            .iter()
            .map(|&i| (outputs[i], upload(&out, &dys[i])))
            .collect();
        let grads = tape.backward(&seeds, &wrt).unwrap();
        let dx = tape
            .gradient_at(&seeds, x)
            .unwrap()
            .expect("x reaches the seeds");
        let values: Vec<Vec<f32>> = outputs.iter().map(|&o| download(tape.value(o))).collect();
        let stats: Vec<Vec<f32>> = running
            .iter()
            .flat_map(|(m, v)| [download(m), download(v)])
            .collect();
        let grads: Vec<Option<Vec<f32>>> =
            wrt.iter().map(|&p| grads.get(p).map(download)).collect();
        (values, stats, grads, download(&dx))
    };
    let (values, stats, grads, dx) = run(true, &[0, 1]);
    let (want_values, want_stats, want_grads, want_dx) = run(false, &[0, 1]);
    let close = |what: &str, got: &[f32], want: &[f32]| {
        assert_close(what, got, &widen(want), Tolerance::ACCUMULATED)
    };
    for i in 0..2 {
        close(&format!("output {i}"), &values[i], &want_values[i]);
    }
    for (i, (got, want)) in stats.iter().zip(&want_stats).enumerate() {
        close(&format!("running statistics {i}"), got, want);
    }
    for (i, (got, want)) in grads.iter().zip(&want_grads).enumerate() {
        let (got, want) = (got.as_ref().unwrap(), want.as_ref().unwrap());
        close(&format!("gradient of parameter {i}"), got, want);
    }
    close("dx", &dx, &want_dx);

    let (_, _, grads, dx) = run(true, &[0]);
    let (_, _, want_grads, want_dx) = run(false, &[0]);
    close(
        "w0 gradient, first seeded",
        grads[0].as_ref().unwrap(),
        want_grads[0].as_ref().unwrap(),
    );
    assert!(want_grads[1].is_none());
    let unseeded = grads[1]
        .as_ref()
        .expect("the stacked filters have a gradient");
    let stray = unseeded.iter().position(|&v| v != 0.0);
    assert!(stray.is_none(), "w1 gradient at {stray:?}: not zero");
    close("dx, first seeded", &dx, &want_dx);
}
