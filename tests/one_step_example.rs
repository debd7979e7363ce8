//! The whole API for one multi-task training step, in a screenful: forward on the tape,
//! one readback of the task losses and weights, host-set weights, a backward pass for the
//! network and a separate one for the weight unit, and the two optimisers.

mod common;

use common::gpu;
use facemtl::autodiff::{ParamStore, Tape};
use facemtl::geometry::Conv2dSpec;
use facemtl::gpu::{Indices, Tensor};
use facemtl::nn::{Conv2d, Init, Linear};
use facemtl::optim::{LrSchedule, Optimizer, OptimizerKind, SgdConfig};
use rand::{rngs::StdRng, SeedableRng};

#[test]
fn one_multi_task_step() -> Result<(), facemtl::gpu::GpuError> {
    let g = gpu();
    let (mut store, mut rng) = (ParamStore::new(), StdRng::seed_from_u64(1));
    let conv = Conv2d::new(
        g,
        &mut store,
        &mut rng,
        "trunk.conv",
        1,
        4,
        (3, 3),
        Conv2dSpec::new(2, 1),
        true,
        Init::He,
    )?;
    let fr = Linear::new(g, &mut store, &mut rng, "fr.fc", 64, 10, true, Init::Xavier)?;
    let fer = Linear::new(g, &mut store, &mut rng, "fer.fc", 64, 7, true, Init::Xavier)?;
    let unit = Linear::new(
        g,
        &mut store,
        &mut rng,
        "unit.fc",
        64,
        2,
        true,
        Init::Xavier,
    )?;
    let sgd = |lr| {
        OptimizerKind::Sgd(SgdConfig {
            lr,
            momentum: 0.9,
            weight_decay: 0.0,
        })
    };
    let (main_params, unit_params) = (
        store
            .ids()
            .filter(|&id| store.is_trainable(id) && !store.name(id).starts_with("unit."))
            .collect::<Vec<_>>(),
        store.trainable_with_prefix("unit."),
    );
    let mut main_opt = Optimizer::new(
        g,
        &mut store,
        main_params.clone(),
        sgd(0.01),
        LrSchedule::Constant(0.01),
        Some(5.0),
    )?;
    let mut unit_opt = Optimizer::new(
        g,
        &mut store,
        unit_params.clone(),
        sgd(0.1),
        LrSchedule::Constant(0.1),
        None,
    )?;
    let unit_before = store.get(unit_params[0]).to_vec(g)?;

    // Forward: the trunk feeds both task heads and the weight unit.
    let mut tape = Tape::new(g, &store, true, 0);
    let x = tape.input(Tensor::from_slice(g, &[8, 1, 8, 8], &vec![0.5; 512])?);
    let h = conv.forward(&mut tape, x)?;
    let h = tape.relu(h)?;
    let h = tape.flatten(h)?;
    let (fr_logits, fer_logits) = (fr.forward(&mut tape, h)?, fer.forward(&mut tape, h)?);
    let mask = Tensor::full(g, &[8], 1.0)?;
    let l_fr = tape.softmax_cross_entropy(
        fr_logits,
        &Indices::from_slice(g, &[0, 1, 2, 3, 4, 5, 6, 7])?,
        &mask,
    )?;
    let l_fer = tape.softmax_cross_entropy(
        fer_logits,
        &Indices::from_slice(g, &[0, 1, 2, 3, 4, 5, 6, 0])?,
        &mask,
    )?;
    let unit_in = tape.detach(h);
    let unit_in = tape.l2_normalize(unit_in, 1e-12)?;
    let z = unit.forward(&mut tape, unit_in)?;
    let w_rows = tape.softmax_rows(z)?;
    let w = tape.mean_rows(w_rows)?;

    // The one readback of the step: two losses and two weights.
    let read =
        Tensor::concat(g, &[tape.value(l_fr), tape.value(l_fer), tape.value(w)])?.to_vec(g)?;
    let (losses, weights) = ([read[0], read[1]], [read[2], read[3]]);
    assert!((weights[0] + weights[1] - 1.0).abs() < 1e-5);

    // L_total = sum w_i L_i updates the network; L_w = sum w_i / (L_i + 0.01) the unit.
    let seeds = [
        (l_fr, Tensor::full(g, &[1], weights[0])?),
        (l_fer, Tensor::full(g, &[1], weights[1])?),
    ];
    let main_grads = tape.backward(&seeds, &main_params)?;
    let dl_dw = [1.0 / (losses[0] + 0.01), 1.0 / (losses[1] + 0.01)];
    let unit_grads = tape.backward(&[(w, Tensor::from_slice(g, &[2], &dl_dw)?)], &unit_params)?;
    assert!(unit_params.iter().all(|&p| main_grads.get(p).is_none()));
    assert!(main_params.iter().all(|&p| unit_grads.get(p).is_none()));
    main_opt.step(g, &main_grads)?;
    unit_opt.step(g, &unit_grads)?;
    assert_ne!(store.get(unit_params[0]).to_vec(g)?, unit_before);
    Ok(())
}
