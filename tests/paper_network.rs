//! The paper's network (`--preset paper-small`) differentiated by the tape on the GPU
//! equals the same network restated here on the f64 CPU reference: a small reference tape
//! (every op's forward and backward from `facemtl::reference`, each confirmed by finite
//! differences in tests/reference_gradients.rs and tests/inception_ops.rs) that builds
//! the Inception-ResNet trunk from docs/method.md's description and reads the parameters by
//! name.

mod common;

use std::collections::HashMap;

use common::{
    assert_close, assert_flat_memory_and_one_submission, download, gpu, own_gpu, random, rng,
    upload, widen, Tolerance,
};
use facemtl::autodiff::{ParamStore, Tape};
use facemtl::geometry::{Conv2dGeometry, Conv2dSpec, Padding, Pool2dGeometry, Pool2dSpec};
use facemtl::gpu::{Indices, Tensor};
use facemtl::model::{ForwardOptions, MultiTaskNet, Preset};
use facemtl::reference::{self, batch_norm as bn, channels, conv, dense, loss, pool};

const BATCH: usize = 8;
const EPS: f64 = 1e-5;
const WEIGHTS: [f64; 2] = [0.3, 0.7];

/// A value on the reference tape.
#[derive(Clone, Copy)]
struct V(usize);

enum Op {
    Leaf,
    Conv {
        x: V,
        w: V,
        b: Option<V>,
        g: Conv2dGeometry,
    },
    BnRelu {
        x: V,
        gamma: V,
        beta: V,
        c: usize,
        inner: usize,
        mean: Vec<f64>,
        var: Vec<f64>,
    },
    MaxPool {
        x: V,
        g: Pool2dGeometry,
        argmax: Vec<u32>,
    },
    Concat {
        parts: Vec<(V, usize)>,
        plane: usize,
    },
    Residual {
        x: V,
        r: V,
        scale: f64,
        relu: bool,
    },
    Gap {
        x: V,
        hw: usize,
    },
    Linear {
        x: V,
        w: V,
        b: V,
        inputs: usize,
        outputs: usize,
    },
    Relu(V),
}

/// The f64 reference tape: values with their `[n, c, h, w]` (or `[n, k]`) shapes.
struct Reference<'p> {
    values: Vec<Vec<f64>>,
    shapes: Vec<Vec<usize>>,
    ops: Vec<Op>,
    params: &'p HashMap<String, (Vec<usize>, Vec<f64>)>,
    by_name: HashMap<String, V>,
}

impl<'p> Reference<'p> {
    fn push(&mut self, op: Op, value: Vec<f64>, shape: Vec<usize>) -> V {
        self.ops.push(op);
        self.values.push(value);
        self.shapes.push(shape);
        V(self.values.len() - 1)
    }

    fn param(&mut self, name: &str) -> V {
        if let Some(&v) = self.by_name.get(name) {
            return v;
        }
        let (shape, value) = self
            .params
            .get(name)
            .unwrap_or_else(|| panic!("no parameter {name}"));
        let v = self.push(Op::Leaf, value.clone(), shape.clone());
        self.by_name.insert(name.to_string(), v);
        v
    }

    fn conv(&mut self, x: V, name: &str, spec: Conv2dSpec, bias: bool) -> V {
        let w = self.param(&format!("{name}.weight"));
        let b = bias.then(|| self.param(&format!("{name}.bias")));
        let g = Conv2dGeometry::new(&self.shapes[x.0], &self.shapes[w.0], spec).unwrap();
        let y = conv::conv2d(
            &g,
            &self.values[x.0],
            &self.values[w.0],
            b.map(|b| &self.values[b.0][..]),
        );
        self.push(Op::Conv { x, w, b, g }, y, g.output_shape().to_vec())
    }

    /// Conv (no bias) + batch norm on batch statistics + ReLU: `name.conv`, `name.bn`.
    fn basic(&mut self, x: V, name: &str, spec: Conv2dSpec) -> V {
        let h = self.conv(x, &format!("{name}.conv"), spec, false);
        let gamma = self.param(&format!("{name}.bn.weight"));
        let beta = self.param(&format!("{name}.bn.bias"));
        let shape = self.shapes[h.0].clone();
        let (c, inner) = (shape[1], shape[2] * shape[3]);
        let (mean, var) = bn::batch_stats(&self.values[h.0], BATCH, c, inner);
        let y = bn::batch_norm(
            &self.values[h.0],
            c,
            inner,
            &mean,
            &var,
            &self.values[gamma.0],
            &self.values[beta.0],
            EPS,
        );
        let y = reference::relu(&y);
        self.push(
            Op::BnRelu {
                x: h,
                gamma,
                beta,
                c,
                inner,
                mean,
                var,
            },
            y,
            shape,
        )
    }

    fn max_pool(&mut self, x: V) -> V {
        let g =
            Pool2dGeometry::new("reference", &self.shapes[x.0], Pool2dSpec::new(3, 2, 0)).unwrap();
        let (y, argmax) = pool::max_pool2d(&g, &self.values[x.0]);
        self.push(Op::MaxPool { x, g, argmax }, y, g.output_shape().to_vec())
    }

    fn concat(&mut self, parts: &[V]) -> V {
        let s = self.shapes[parts[0].0].clone();
        let plane = s[2] * s[3];
        let parts: Vec<(V, usize)> = parts.iter().map(|&p| (p, self.shapes[p.0][1])).collect();
        let views: Vec<(&[f64], usize)> = parts
            .iter()
            .map(|&(p, c)| (&self.values[p.0][..], c))
            .collect();
        let y = channels::concat_channels(&views, BATCH, plane);
        let total = parts.iter().map(|p| p.1).sum();
        self.push(
            Op::Concat { parts, plane },
            y,
            vec![BATCH, total, s[2], s[3]],
        )
    }

    /// A residual block: branches of (kernel) layers after a 1x1 each, concatenated,
    /// projected, `act(x + scale * projection)`.
    fn residual_block(
        &mut self,
        x: V,
        name: &str,
        tails: &[&[(usize, usize)]],
        scale: f64,
        relu: bool,
    ) -> V {
        let mut outs = Vec::new();
        for (i, tail) in tails.iter().enumerate() {
            let mut h = self.basic(x, &format!("{name}.branch{i}.0"), same(1, 1));
            for (j, &(kh, kw)) in tail.iter().enumerate() {
                h = self.basic(h, &format!("{name}.branch{i}.{}", j + 1), same(kh, kw));
            }
            outs.push(h);
        }
        let joined = self.concat(&outs);
        let r = self.conv(joined, &format!("{name}.project"), same(1, 1), true);
        let y = channels::scaled_residual(&self.values[x.0], &self.values[r.0], scale, relu);
        let shape = self.shapes[x.0].clone();
        self.push(Op::Residual { x, r, scale, relu }, y, shape)
    }

    fn gap(&mut self, x: V) -> V {
        let s = self.shapes[x.0].clone();
        let y = reference::global_avg_pool(&self.values[x.0], s[0], s[1], s[2] * s[3]);
        self.push(Op::Gap { x, hw: s[2] * s[3] }, y, vec![s[0], s[1]])
    }

    fn linear(&mut self, x: V, name: &str) -> V {
        let w = self.param(&format!("{name}.weight"));
        let b = self.param(&format!("{name}.bias"));
        let (outputs, inputs) = (self.shapes[w.0][0], self.shapes[w.0][1]);
        let y = dense::linear(
            &self.values[x.0],
            &self.values[w.0],
            Some(&self.values[b.0]),
            BATCH,
            inputs,
            outputs,
        );
        self.push(
            Op::Linear {
                x,
                w,
                b,
                inputs,
                outputs,
            },
            y,
            vec![BATCH, outputs],
        )
    }

    fn relu(&mut self, x: V) -> V {
        let y = reference::relu(&self.values[x.0]);
        let shape = self.shapes[x.0].clone();
        self.push(Op::Relu(x), y, shape)
    }

    /// Gradients of every value from seeds on the given values.
    fn backward(&self, seeds: Vec<(V, Vec<f64>)>) -> Vec<Option<Vec<f64>>> {
        let mut grads: Vec<Option<Vec<f64>>> = vec![None; self.values.len()];
        let add = |grads: &mut Vec<Option<Vec<f64>>>, v: V, g: Vec<f64>| {
            grads[v.0] = Some(match grads[v.0].take() {
                None => g,
                Some(acc) => reference::axpby(1.0, &acc, 1.0, &g),
            });
        };
        for (v, g) in seeds {
            add(&mut grads, v, g);
        }
        for i in (0..self.values.len()).rev() {
            let Some(dy) = grads[i].clone() else { continue };
            match &self.ops[i] {
                Op::Leaf => {}
                Op::Conv { x, w, b, g } => {
                    let (dx, dw, db) =
                        conv::conv2d_backward(g, &self.values[x.0], &self.values[w.0], &dy);
                    add(&mut grads, *x, dx);
                    add(&mut grads, *w, dw);
                    if let Some(b) = b {
                        add(&mut grads, *b, db);
                    }
                }
                Op::BnRelu {
                    x,
                    gamma,
                    beta,
                    c,
                    inner,
                    mean,
                    var,
                } => {
                    let dn = reference::relu_backward(&self.values[i], &dy);
                    let (dx, dgamma, dbeta) = bn::batch_norm_backward(
                        &self.values[x.0],
                        &dn,
                        BATCH,
                        *c,
                        *inner,
                        mean,
                        var,
                        &self.values[gamma.0],
                        EPS,
                        true,
                    );
                    add(&mut grads, *x, dx);
                    add(&mut grads, *gamma, dgamma);
                    add(&mut grads, *beta, dbeta);
                }
                Op::MaxPool { x, g, argmax } => {
                    add(&mut grads, *x, pool::max_pool2d_backward(g, argmax, &dy))
                }
                Op::Concat { parts, plane } => {
                    let total = parts.iter().map(|p| p.1).sum();
                    let mut start = 0;
                    for &(p, c) in parts {
                        add(
                            &mut grads,
                            p,
                            channels::channel_slice(&dy, BATCH, total, *plane, start, c),
                        );
                        start += c;
                    }
                }
                Op::Residual { x, r, scale, relu } => {
                    let (dx, dr) = channels::scaled_residual_backward(
                        &self.values[x.0],
                        &self.values[r.0],
                        &dy,
                        *scale,
                        *relu,
                    );
                    add(&mut grads, *x, dx);
                    add(&mut grads, *r, dr);
                }
                Op::Gap { x, hw } => add(
                    &mut grads,
                    *x,
                    reference::global_avg_pool_backward(&dy, *hw),
                ),
                Op::Linear {
                    x,
                    w,
                    b,
                    inputs,
                    outputs,
                } => {
                    let (dx, dw, db) = dense::linear_backward(
                        &self.values[x.0],
                        &self.values[w.0],
                        &dy,
                        BATCH,
                        *inputs,
                        *outputs,
                    );
                    add(&mut grads, *x, dx);
                    add(&mut grads, *w, dw);
                    add(&mut grads, *b, db);
                }
                Op::Relu(x) => add(
                    &mut grads,
                    *x,
                    reference::relu_backward(&self.values[x.0], &dy),
                ),
            }
        }
        grads
    }
}

/// Stride-1 "same" padding of an odd kernel.
fn same(kh: usize, kw: usize) -> Conv2dSpec {
    let (v, h) = ((kh - 1) / 2, (kw - 1) / 2);
    Conv2dSpec {
        stride: (1, 1),
        padding: Padding {
            top: v,
            bottom: v,
            left: h,
            right: h,
        },
    }
}

/// The paper-small network restated from docs/method.md: (FR logits, FER logits).
fn reference_network(r: &mut Reference, x: V) -> (V, V) {
    let valid = Conv2dSpec::new(1, 0);
    let reduce = Conv2dSpec::new(2, 0);
    let mut h = r.basic(x, "trunk.stem.conv1a", reduce);
    h = r.basic(h, "trunk.stem.conv2a", valid);
    h = r.basic(h, "trunk.stem.conv2b", same(3, 3));
    h = r.max_pool(h);
    h = r.basic(h, "trunk.stem.conv3b", same(1, 1));
    h = r.basic(h, "trunk.stem.conv4a", valid);
    h = r.basic(h, "trunk.stem.conv4b", reduce);
    h = r.residual_block(
        h,
        "trunk.block35.0",
        &[&[], &[(3, 3)], &[(3, 3), (3, 3)]],
        0.17,
        true,
    );
    // Reduction-A.
    let b0 = r.basic(h, "trunk.reduction_a.branch0.0", reduce);
    let mut b1 = r.basic(h, "trunk.reduction_a.branch1.0", same(1, 1));
    b1 = r.basic(b1, "trunk.reduction_a.branch1.1", same(3, 3));
    b1 = r.basic(b1, "trunk.reduction_a.branch1.2", reduce);
    let p = r.max_pool(h);
    h = r.concat(&[b0, b1, p]);
    h = r.residual_block(h, "trunk.block17.0", &[&[], &[(1, 7), (7, 1)]], 0.10, true);
    // Reduction-B.
    let mut outs = Vec::new();
    for (i, mids) in [0, 0, 1].into_iter().enumerate() {
        let mut b = r.basic(h, &format!("trunk.reduction_b.branch{i}.0"), same(1, 1));
        for j in 0..mids {
            b = r.basic(
                b,
                &format!("trunk.reduction_b.branch{i}.{}", j + 1),
                same(3, 3),
            );
        }
        outs.push(r.basic(
            b,
            &format!("trunk.reduction_b.branch{i}.{}", mids + 1),
            reduce,
        ));
    }
    outs.push(r.max_pool(h));
    h = r.concat(&outs);
    let block8: &[&[(usize, usize)]] = &[&[], &[(1, 3), (3, 1)]];
    h = r.residual_block(h, "trunk.block8.0", block8, 0.20, true);
    let f = r.residual_block(h, "fr.block8", block8, 1.0, false);
    let f = r.gap(f);
    let f = r.linear(f, "fr.embedding");
    let fr = r.linear(f, "fr.logits");
    let e = r.residual_block(h, "fer.block8", block8, 1.0, false);
    let e = r.gap(e);
    let e = r.linear(e, "fer.hidden");
    let e = r.relu(e);
    let fer = r.linear(e, "fer.logits");
    (fr, fer)
}

#[test]
fn tape_gradients_of_the_paper_small_network_match_the_reference() {
    let g = gpu();
    let (identities, expressions) = (5, 7);
    let mut store = ParamStore::new();
    let mut net = MultiTaskNet::new(
        g,
        &mut store,
        Preset::PaperSmall,
        identities,
        expressions,
        3,
    )
    .unwrap();
    net.keep = 1.0; // dropout off: the reference has none
                    // He-initialised filters as built; random scales, shifts and biases, so that every
                    // parameter's gradient depends on them.
    let mut r = rng(400);
    let ids = MultiTaskNet::main_params(&store);
    for &id in &ids {
        let name = store.name(id).to_string();
        let len = store.get(id).len();
        let noise = random(&mut r, len);
        let values: Option<Vec<f32>> = if name.ends_with(".bn.weight") {
            Some(noise.iter().map(|v| 1.0 + 0.3 * v).collect())
        } else if name.ends_with(".bias") {
            Some(noise.iter().map(|v| 0.2 * v).collect())
        } else {
            None
        };
        if let Some(values) = values {
            store.set(g, id, &values).unwrap();
        }
    }
    let side = Preset::PaperSmall.architecture().input;
    let shape = [BATCH, 1, side, side];
    let images = random(&mut r, shape.iter().product());
    let fr_labels = [0u32, 4, 2, 1, 3, 0, 2, 4];
    let fer_labels = [6u32, 1, 3, 0, 2, 5, 4, 6];
    let fer_mask = [1.0f32, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0];

    let mut tape = Tape::new(g, &store, true, 0);
    let options = ForwardOptions {
        unit: false,
        detach_unit_input: true,
    };
    let out = net
        .forward(&mut tape, upload(&shape, &images), options)
        .unwrap();
    let l_fr = tape
        .softmax_cross_entropy(
            out.fr_logits,
            &Indices::from_slice(g, &fr_labels).unwrap(),
            &Tensor::full(g, &[BATCH], 1.0).unwrap(),
        )
        .unwrap();
    let l_fer = tape
        .softmax_cross_entropy(
            out.fer_logits,
            &Indices::from_slice(g, &fer_labels).unwrap(),
            &upload(&[BATCH], &fer_mask),
        )
        .unwrap();
    let seeds = [
        (l_fr, upload(&[1], &[WEIGHTS[0] as f32])),
        (l_fer, upload(&[1], &[WEIGHTS[1] as f32])),
    ];
    let grads = tape.backward(&seeds, &ids).unwrap();

    let params: HashMap<String, (Vec<usize>, Vec<f64>)> = ids
        .iter()
        .map(|&id| {
            (
                store.name(id).to_string(),
                (
                    store.get(id).shape().to_vec(),
                    widen(&download(store.get(id))),
                ),
            )
        })
        .collect();
    let mut reference = Reference {
        values: vec![],
        shapes: vec![],
        ops: vec![],
        params: &params,
        by_name: HashMap::new(),
    };
    let x = reference.push(Op::Leaf, widen(&images), shape.to_vec());
    let (fr, fer) = reference_network(&mut reference, x);
    let ones = vec![1.0; BATCH];
    let mask = widen(&fer_mask);
    let (want_fr, probs_fr, _) =
        loss::softmax_cross_entropy(&reference.values[fr.0], identities, &fr_labels, &ones);
    let (want_fer, probs_fer, _) =
        loss::softmax_cross_entropy(&reference.values[fer.0], expressions, &fer_labels, &mask);
    let got = (
        download(tape.value(l_fr))[0] as f64,
        download(tape.value(l_fer))[0] as f64,
    );
    assert!(
        (got.0 - want_fr).abs() < 1e-4 * want_fr.max(1.0),
        "FR loss {} vs reference {want_fr}",
        got.0
    );
    assert!(
        (got.1 - want_fer).abs() < 1e-4 * want_fer.max(1.0),
        "FER loss {} vs reference {want_fer}",
        got.1
    );
    let seeds = vec![
        (
            fr,
            loss::softmax_cross_entropy_backward(
                &probs_fr, identities, &fr_labels, &ones, WEIGHTS[0],
            ),
        ),
        (
            fer,
            loss::softmax_cross_entropy_backward(
                &probs_fer,
                expressions,
                &fer_labels,
                &mask,
                WEIGHTS[1],
            ),
        ),
    ];
    let want = reference.backward(seeds);
    // Every parameter of the network takes part, and every one is compared.
    assert_eq!(
        reference.by_name.len(),
        ids.len(),
        "parameters the reference did not use"
    );
    // Twenty-odd batch norms over 3 images, each dividing by a batch deviation, amplify
    // f32 rounding; an indexing error is far outside this.
    let tol = Tolerance {
        abs: 2e-4,
        rel: 2e-3,
    };
    for &id in &ids {
        let name = store.name(id);
        let v = reference.by_name[name];
        let want = want[v.0]
            .as_ref()
            .unwrap_or_else(|| panic!("no reference gradient for {name}"));
        let got = grads
            .get(id)
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        assert_close(name, &download(got), want, tol);
    }
}

/// Sixteen random paper-small images with fixed labels: a batch to overfit.
fn paper_batch() -> facemtl::data::batches::Batch {
    let n = 16;
    let side = Preset::PaperSmall.architecture().input;
    facemtl::data::batches::Batch {
        indices: (0..n).collect(),
        images: random(&mut rng(401), n * side * side),
        fr_labels: (0..n as u32).map(|i| i % 4).collect(),
        fr_mask: vec![1.0; n],
        fer_labels: (0..n as u32).map(|i| (i * 3) % 7).collect(),
        fer_mask: vec![1.0; n],
    }
}

#[test]
fn paper_small_learns_a_batch_with_flat_memory_and_one_submission_per_step() {
    use facemtl::train::config::{Tasks, TrainConfig};
    use facemtl::train::Learner;
    let gpu = own_gpu();
    let config = TrainConfig {
        preset: Preset::PaperSmall,
        ..TrainConfig::default()
    };
    let mut learner = Learner::new(
        &gpu,
        &config,
        [4, 7],
        Tasks::Both,
        config.weighting.clone(),
        1,
    )
    .unwrap();
    let batch = paper_batch();
    let mut losses = Vec::new();
    assert_flat_memory_and_one_submission(&gpu, 30, |s| {
        let result = learner.step(&gpu, &batch, s, s as u32, None).unwrap();
        losses.push(result.losses);
    });
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    for (task, (a, b)) in ["FR", "FER"].iter().zip(first.iter().zip(&last)) {
        assert!(b < &(a * 0.5), "{task} loss fell too little: {a} -> {b}");
    }
}
