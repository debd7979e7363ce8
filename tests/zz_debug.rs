use facemtl::autodiff::{ParamStore, Tape};
use facemtl::data::synthetic::{self, SyntheticConfig};
use facemtl::gpu::{Gpu, GpuOptions, Indices, Tensor};
use facemtl::kernels::reduce;
use facemtl::model::{ForwardOptions, MultiTaskNet, Preset};

#[test]
fn debug_grads() {
    let gpu = Gpu::new(&GpuOptions { adapter: None, quiet: true }).unwrap();
    let d = synthetic::generate(&SyntheticConfig { subjects: 8, images_per_expression: 1, size: 48, ..Default::default() });
    let mut store = ParamStore::new();
    let net = MultiTaskNet::new(&gpu, &mut store, Preset::Small, 8, 7, 1).unwrap();
    let n = 32;
    let images: Vec<f32> = (0..n).flat_map(|i| d.pixels(i).unwrap().to_vec()).collect();
    let labels: Vec<u32> = (0..n).map(|i| i as u32 % 7).collect();
    let mut tape = Tape::new(&gpu, &store, true, 1);
    let out = net.forward(&mut tape, Tensor::from_slice(&gpu, &[n, 1, 48, 48], &images).unwrap(), ForwardOptions { unit: true, detach_unit_input: true }).unwrap();
    let l = tape.softmax_cross_entropy(out.fer_logits, &Indices::from_slice(&gpu, &labels).unwrap(), &Tensor::full(&gpu, &[n], 1.0).unwrap()).unwrap();
    println!("loss {:?}", tape.value(l).to_vec(&gpu).unwrap());
    println!("fer logits row0 {:?}", &tape.value(out.fer_logits).to_vec(&gpu).unwrap()[..7]);
    let params = MultiTaskNet::main_params(&store);
    let grads = tape.backward(&[(l, Tensor::full(&gpu, &[1], 1.0).unwrap())], &params).unwrap();
    for id in params {
        let norm = grads.get(id).map(|g| reduce::sum_squares(&gpu, g).unwrap().to_vec(&gpu).unwrap()[0].sqrt());
        let pnorm = reduce::sum_squares(&gpu, store.get(id)).unwrap().to_vec(&gpu).unwrap()[0].sqrt();
        println!("{:30} param {:8.4} grad {:?}", store.name(id), pnorm, norm);
    }
}
