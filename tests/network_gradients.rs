//! Whole-network gradients: a small two-head network (conv -> BN -> ReLU -> max-pool ->
//! conv -> global-avg-pool -> two linear + softmax-CE heads sharing the trunk, with
//! per-head loss weights) differentiated by the tape on the GPU equals the same network
//! built from the f64 CPU reference; finite differences confirm the reference network.

mod common;

use common::{assert_close, check_gradient, download, gpu, random, rng, upload, widen, Tolerance};
use facemtl::autodiff::{ParamStore, Tape};
use facemtl::geometry::{Conv2dGeometry, Conv2dSpec, Pool2dGeometry, Pool2dSpec};
use facemtl::gpu::{Indices, Tensor};
use facemtl::nn::{BatchNorm2d, Conv2d, GlobalAvgPool, Init, Linear, MaxPool2d};
use facemtl::reference::{self, batch_norm as bn, conv, dense, loss, pool};
use rand::rngs::StdRng;
use rand::SeedableRng;

const BATCH: usize = 4;
const IMAGE: [usize; 4] = [BATCH, 1, 9, 9];
const CONV1: [usize; 4] = [4, 1, 3, 3];
const CONV2: [usize; 4] = [6, 4, 3, 3];
const CLASSES_A: usize = 3;
const CLASSES_B: usize = 5;
const WEIGHTS: [f64; 2] = [0.3, 0.7];
const EPS: f64 = 1e-5;

/// Parameter names in the order of [`Problem::params`].
const NAMES: [&str; 10] = [
    "trunk.conv1.weight",
    "trunk.conv1.bias",
    "trunk.bn1.weight",
    "trunk.bn1.bias",
    "trunk.conv2.weight",
    "trunk.conv2.bias",
    "a.fc.weight",
    "a.fc.bias",
    "b.fc.weight",
    "b.fc.bias",
];

struct Problem {
    x: Vec<f32>,
    labels_a: Vec<u32>,
    labels_b: Vec<u32>,
    mask_b: Vec<f32>,
    params: Vec<Vec<f32>>,
}

fn problem(seed: u64) -> Problem {
    let mut r = rng(seed);
    let shapes: [Vec<usize>; 10] = [
        CONV1.to_vec(),
        vec![4],
        vec![4],
        vec![4],
        CONV2.to_vec(),
        vec![6],
        vec![CLASSES_A, 6],
        vec![CLASSES_A],
        vec![CLASSES_B, 6],
        vec![CLASSES_B],
    ];
    Problem {
        x: random(&mut r, IMAGE.iter().product()),
        labels_a: vec![0, 2, 1, 2],
        labels_b: vec![4, 0, 3, 1],
        mask_b: vec![1.0, 0.0, 1.0, 1.0],
        params: shapes
            .iter()
            .map(|s| random(&mut r, s.iter().product()))
            .collect(),
    }
}

fn geometries() -> (Conv2dGeometry, Pool2dGeometry, Conv2dGeometry) {
    let g1 = Conv2dGeometry::new(&IMAGE, &CONV1, Conv2dSpec::new(1, 1)).unwrap();
    let gp = Pool2dGeometry::new("test", &g1.output_shape(), Pool2dSpec::new(2, 2, 0)).unwrap();
    let g2 = Conv2dGeometry::new(&gp.output_shape(), &CONV2, Conv2dSpec::new(1, 0)).unwrap();
    (g1, gp, g2)
}

/// The reference network: (weighted loss, gradient of every parameter).
fn reference_network(p: &Problem, params: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
    let (g1, gp, g2) = geometries();
    let x = widen(&p.x);
    let mask_a = vec![1.0; BATCH];
    let mask_b = widen(&p.mask_b);
    let [w1, b1, gamma, beta, w2, b2, wa, ba, wb, bb] =
        <[Vec<f64>; 10]>::try_from(params.to_vec()).unwrap();
    let c1 = conv::conv2d(&g1, &x, &w1, Some(&b1));
    let inner1 = g1.out_h * g1.out_w;
    let (mean, var) = bn::batch_stats(&c1, BATCH, 4, inner1);
    let n1 = bn::batch_norm(&c1, 4, inner1, &mean, &var, &gamma, &beta, EPS);
    let r1 = reference::relu(&n1);
    let (p1, argmax) = pool::max_pool2d(&gp, &r1);
    let c2 = conv::conv2d(&g2, &p1, &w2, Some(&b2));
    let hw2 = g2.out_h * g2.out_w;
    let feat = reference::global_avg_pool(&c2, BATCH, 6, hw2);
    let za = dense::linear(&feat, &wa, Some(&ba), BATCH, 6, CLASSES_A);
    let zb = dense::linear(&feat, &wb, Some(&bb), BATCH, 6, CLASSES_B);
    let (la, pa, _) = loss::softmax_cross_entropy(&za, CLASSES_A, &p.labels_a, &mask_a);
    let (lb, pb, _) = loss::softmax_cross_entropy(&zb, CLASSES_B, &p.labels_b, &mask_b);
    let dza =
        loss::softmax_cross_entropy_backward(&pa, CLASSES_A, &p.labels_a, &mask_a, WEIGHTS[0]);
    let dzb =
        loss::softmax_cross_entropy_backward(&pb, CLASSES_B, &p.labels_b, &mask_b, WEIGHTS[1]);
    let (dfa, dwa, dba) = dense::linear_backward(&feat, &wa, &dza, BATCH, 6, CLASSES_A);
    let (dfb, dwb, dbb) = dense::linear_backward(&feat, &wb, &dzb, BATCH, 6, CLASSES_B);
    let dfeat = reference::axpby(1.0, &dfa, 1.0, &dfb);
    let dc2 = reference::global_avg_pool_backward(&dfeat, hw2);
    let (dp1, dw2, db2) = conv::conv2d_backward(&g2, &p1, &w2, &dc2);
    let dr1 = pool::max_pool2d_backward(&gp, &argmax, &dp1);
    let dn1 = reference::relu_backward(&n1, &dr1);
    let (dc1, dgamma, dbeta) =
        bn::batch_norm_backward(&c1, &dn1, BATCH, 4, inner1, &mean, &var, &gamma, EPS, true);
    let (_, dw1, db1) = conv::conv2d_backward(&g1, &x, &w1, &dc1);
    (
        WEIGHTS[0] * la + WEIGHTS[1] * lb,
        vec![dw1, db1, dgamma, dbeta, dw2, db2, dwa, dba, dwb, dbb],
    )
}

#[test]
fn reference_network_gradients_match_finite_differences() {
    let p = problem(200);
    let params: Vec<Vec<f64>> = p.params.iter().map(|v| widen(v)).collect();
    let (_, grads) = reference_network(&p, &params);
    for (k, name) in NAMES.iter().enumerate() {
        check_gradient(name, &params[k], &grads[k], |v| {
            let mut probe = params.clone();
            probe[k] = v.to_vec();
            reference_network(&p, &probe).0
        });
    }
}

#[test]
fn tape_gradients_of_a_two_head_network_match_the_reference() {
    let g = gpu();
    let p = problem(201);
    let mut store = ParamStore::new();
    let mut init_rng = StdRng::seed_from_u64(0);
    let conv1 = Conv2d::new(
        g,
        &mut store,
        &mut init_rng,
        "trunk.conv1",
        1,
        4,
        (3, 3),
        Conv2dSpec::new(1, 1),
        true,
        Init::He,
    )
    .unwrap();
    let bn1 = BatchNorm2d::new(g, &mut store, "trunk.bn1", 4).unwrap();
    let conv2 = Conv2d::new(
        g,
        &mut store,
        &mut init_rng,
        "trunk.conv2",
        4,
        6,
        (3, 3),
        Conv2dSpec::new(1, 0),
        true,
        Init::He,
    )
    .unwrap();
    let head_a = Linear::new(
        g,
        &mut store,
        &mut init_rng,
        "a.fc",
        6,
        CLASSES_A,
        true,
        Init::Xavier,
    )
    .unwrap();
    let head_b = Linear::new(
        g,
        &mut store,
        &mut init_rng,
        "b.fc",
        6,
        CLASSES_B,
        true,
        Init::Xavier,
    )
    .unwrap();
    let ids: Vec<_> = NAMES
        .iter()
        .map(|n| store.find(n).unwrap_or_else(|| panic!("no parameter {n}")))
        .collect();
    for (id, values) in ids.iter().zip(&p.params) {
        store.set(g, *id, values).unwrap();
    }

    let mut tape = Tape::new(g, &store, true, 0);
    let x = tape.input(upload(&IMAGE, &p.x));
    let h = conv1.forward(&mut tape, x).unwrap();
    let h = bn1.forward(&mut tape, h).unwrap();
    let h = tape.relu(h).unwrap();
    let h = MaxPool2d(Pool2dSpec::new(2, 2, 0))
        .forward(&mut tape, h)
        .unwrap();
    let h = conv2.forward(&mut tape, h).unwrap();
    let feat = GlobalAvgPool.forward(&mut tape, h).unwrap();
    let za = head_a.forward(&mut tape, feat).unwrap();
    let zb = head_b.forward(&mut tape, feat).unwrap();
    let la = tape
        .softmax_cross_entropy(
            za,
            &Indices::from_slice(g, &p.labels_a).unwrap(),
            &Tensor::full(g, &[BATCH], 1.0).unwrap(),
        )
        .unwrap();
    let lb = tape
        .softmax_cross_entropy(
            zb,
            &Indices::from_slice(g, &p.labels_b).unwrap(),
            &upload(&[BATCH], &p.mask_b),
        )
        .unwrap();
    let seeds = [
        (la, upload(&[1], &[WEIGHTS[0] as f32])),
        (lb, upload(&[1], &[WEIGHTS[1] as f32])),
    ];
    let grads = tape.backward(&seeds, &ids).unwrap();

    let params: Vec<Vec<f64>> = p.params.iter().map(|v| widen(v)).collect();
    let (total, want) = reference_network(&p, &params);
    let got_total = WEIGHTS[0] * download(tape.value(la))[0] as f64
        + WEIGHTS[1] * download(tape.value(lb))[0] as f64;
    assert!(
        (got_total - total).abs() < 1e-4,
        "weighted loss {got_total} vs reference {total}"
    );
    // Batch norm divides by the batch's standard deviation, which amplifies f32 rounding a
    // little; an indexing error is still orders of magnitude outside this.
    let tol = Tolerance {
        abs: 1e-4,
        rel: 1e-3,
    };
    for (k, id) in ids.iter().enumerate() {
        let got = grads
            .get(*id)
            .unwrap_or_else(|| panic!("no gradient for {}", NAMES[k]));
        assert_close(NAMES[k], &download(got), &want[k], tol);
    }
}

#[test]
fn every_preset_builds_and_runs_forward() {
    use facemtl::model::{ForwardOptions, MultiTaskNet, Preset};
    let g = gpu();
    for preset in [
        Preset::Small,
        Preset::Medium,
        Preset::Large,
        Preset::PaperSmall,
        Preset::Paper,
    ] {
        let mut store = ParamStore::new();
        let mut net = MultiTaskNet::new(g, &mut store, preset, 5, 7, 0).unwrap();
        // A unit with zero weights and bias [3, -1] outputs logits [3, -1] for every image,
        // so its task weights are known: softmax([3, -1] / |(3, -1)|) with the L2
        // normalisation (w_FR = 1 / (1 + e^(-4 / sqrt 10)) = 0.7799), softmax([3, -1])
        // without it (1 / (1 + e^-4) = 0.982).
        let weight = store.find("unit.fc.weight").unwrap();
        let zeros = vec![0.0; store.get(weight).len()];
        store.set(g, weight, &zeros).unwrap();
        store
            .set(g, store.find("unit.fc.bias").unwrap(), &[3.0, -1.0])
            .unwrap();
        let side = preset.architecture().input;
        for (normalize, w_fr) in [(true, 0.779_870_4_f32), (false, 0.982_013_8)] {
            net.normalize_unit_logits = normalize;
            let mut tape = Tape::new(g, &store, false, 0);
            let x = Tensor::full(g, &[2, 1, side, side], 0.5).unwrap();
            let out = net
                .forward(
                    &mut tape,
                    x,
                    ForwardOptions {
                        unit: true,
                        detach_unit_input: true,
                    },
                )
                .unwrap();
            assert_eq!(tape.value(out.fr_logits).shape(), &[2, 5]);
            assert_eq!(tape.value(out.fer_logits).shape(), &[2, 7]);
            let embedding = MultiTaskNet::normalize_embedding(&mut tape, out.embedding).unwrap();
            assert_eq!(tape.value(embedding).shape(), &[2, 128]);
            let w = download(tape.value(out.task_weights.unwrap()));
            approx::assert_relative_eq!(&w[..], &[w_fr, 1.0 - w_fr][..], max_relative = 1e-5);
        }
    }
}
