//! The FaceNet converter's name table against the `facenet` preset: every tensor of
//! facenet-pytorch's InceptionResnetV1 (its state dict's names and shapes, listed in
//! `tests/fixtures/facenet_pytorch_state_dict.txt`) maps through
//! `benches/peers/facenet_to_safetensors.py` onto a tensor of the preset of the same shape,
//! and every tensor of the preset but the task heads' own layers gets one. (The embedding
//! parity itself needs PyTorch: `benches/peers/facenet_parity.py`.)

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use facemtl::autodiff::ParamStore;
use facemtl::model::{MultiTaskNet, Preset};

#[test]
fn every_facenet_tensor_lands_on_a_facenet_preset_tensor_of_its_shape() {
    let fixture = format!(
        "{}/tests/fixtures/facenet_pytorch_state_dict.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let script = format!("{}/benches/peers", env!("CARGO_MANIFEST_DIR"));
    // The converter's table, without torch: each FaceNet line becomes "facemtl_name shape".
    let program = format!(
        "import sys; sys.path.insert(0, {script:?})\n\
         from facenet_to_safetensors import facemtl_names\n\
         for line in open({fixture:?}):\n\
         \x20   name, _, shape = line.strip().partition(' ')\n\
         \x20   for target in facemtl_names(name):\n\
         \x20       print(target, shape)\n"
    );
    let output = Command::new("python3")
        .args(["-c", &program])
        .output()
        .expect("python3 runs the converter's name table");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mapped: BTreeMap<String, String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| {
            let (name, shape) = l.split_once(' ').unwrap();
            (name.to_string(), shape.to_string())
        })
        .collect();

    let gpu = common::gpu();
    let mut store = ParamStore::new();
    MultiTaskNet::with_input_channels(gpu, &mut store, Preset::Facenet, 3, 5, 7, 0).unwrap();
    let preset: BTreeMap<String, String> = store
        .ids()
        .map(|id| {
            let shape: Vec<String> = store.get(id).shape().iter().map(usize::to_string).collect();
            (store.name(id).to_string(), shape.join(","))
        })
        .collect();
    for (name, shape) in &mapped {
        assert_eq!(
            preset.get(name),
            Some(shape),
            "{name} {shape}: not a tensor of that shape in the facenet preset"
        );
    }
    let unmapped: Vec<&String> = preset.keys().filter(|n| !mapped.contains_key(*n)).collect();
    // The heads FaceNet does not have: the identity classifier, the FER head, the unit.
    assert!(
        unmapped.iter().all(|n| n.starts_with("fr.logits")
            || n.starts_with("fer.hidden")
            || n.starts_with("fer.logits")
            || n.starts_with("unit.")),
        "{unmapped:?}"
    );
    assert_eq!(unmapped.len(), 8, "{unmapped:?}");
    // FaceNet has 25.1 million values the preset takes (its last Block8 twice).
    assert!(mapped.len() > 600, "{}", mapped.len());
}
