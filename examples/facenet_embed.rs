//! FaceNet's embedding on facemtl's kernels, for the parity check against facenet-pytorch
//! (`benches/peers/facenet_parity.py` runs this). Loads FaceNet weights converted to
//! facemtl's names (`benches/peers/facenet_to_safetensors.py`) into the `facenet` preset,
//! runs it in evaluation mode on images given as raw little-endian f32 `[N, 3, 160, 160]`
//! (already standardised), and writes the L2-normalised 512-d embeddings as raw f32
//! `[N, 512]`.
//!
//!     cargo run --release --example facenet_embed -- WEIGHTS.safetensors IMAGES.f32 OUT.f32
//!     cargo run --release --example facenet_embed -- --names    # facemtl's tensor names

use facemtl::autodiff::{ParamStore, Tape};
use facemtl::gpu::{Gpu, GpuOptions, Tensor};
use facemtl::model::{ForwardOptions, MultiTaskNet, Preset};
use facemtl::train::init::{load_into, Source};

const SIDE: usize = 160;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let gpu = Gpu::new(&GpuOptions {
        quiet: true,
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    let mut store = ParamStore::new();
    // One FR class and one FER class: the heads are not used.
    let net = MultiTaskNet::with_input_channels(&gpu, &mut store, Preset::Facenet, 3, 1, 1, 0)
        .map_err(|e| e.to_string())?;
    if args.first().map(String::as_str) == Some("--names") {
        for id in store.ids() {
            println!("{} {:?}", store.name(id), store.get(id).shape());
        }
        return Ok(());
    }
    let [weights, images, out] = &args[..] else {
        return Err(
            "usage: facenet_embed WEIGHTS.safetensors IMAGES.f32 OUT.f32 (or --names)".into(),
        );
    };
    let report =
        load_into(&gpu, &store, &Source::read(weights.as_ref())?).map_err(|e| e.to_string())?;
    eprintln!("{}", report.table());
    let bytes = std::fs::read(images).map_err(|e| format!("{images}: {e}"))?;
    let pixels: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes);
    let per_image = 3 * SIDE * SIDE;
    if pixels.is_empty() || pixels.len() % per_image != 0 {
        return Err(format!(
            "{images}: {} values are not N x 3 x 160 x 160",
            pixels.len()
        ));
    }
    let n = pixels.len() / per_image;
    let mut embeddings = Vec::with_capacity(n * 512);
    for chunk in pixels.chunks(8 * per_image) {
        let m = chunk.len() / per_image;
        let mut tape = Tape::new(&gpu, &store, false, 0);
        let x = Tensor::from_slice(&gpu, &[m, 3, SIDE, SIDE], chunk).map_err(|e| e.to_string())?;
        let options = ForwardOptions {
            unit: false,
            detach_unit_input: true,
        };
        let o = net
            .forward(&mut tape, x, options)
            .map_err(|e| e.to_string())?;
        let e =
            MultiTaskNet::normalize_embedding(&mut tape, o.embedding).map_err(|e| e.to_string())?;
        embeddings.extend(tape.value(e).to_vec(&gpu).map_err(|e| e.to_string())?);
    }
    std::fs::write(out, bytemuck::cast_slice(&embeddings)).map_err(|e| format!("{out}: {e}"))?;
    eprintln!("wrote {n} embeddings of 512 dimensions to {out}");
    Ok(())
}
