//! `facemtl info`: the adapter facemtl picks and the limits it runs under; with
//! `--plans`, the GEMM plans of one training step.

use facemtl::data::batches::Batch;
use facemtl::gpu::{Gpu, GpuOptions};
use facemtl::model::Preset;
use facemtl::train::config::{Tasks, TrainConfig};
use facemtl::train::Learner;
use facemtl::weighting::WeightingSpec;
use rand::SeedableRng;

use super::{choice, flags};

/// `facemtl info`'s flags.
#[derive(clap::Args)]
pub struct InfoArgs {
    /// Also run one training step of --preset at --batch on random images and list every
    /// GEMM plan it makes: operands, tile and epilogue per matmul and convolution pass.
    #[arg(long)]
    pub plans: bool,
    /// The network whose step --plans runs.
    #[arg(long, value_parser = choice::parser::<Preset>(), ignore_case = true, default_value_t = Preset::Small)]
    pub preset: Preset,
    /// The batch of the step --plans runs (at least 2).
    #[arg(long, value_parser = flags::at_least::<2>, allow_negative_numbers = true, default_value_t = 32)]
    pub batch: usize,
    #[command(flatten)]
    pub gpu: super::AdapterArg,
}

pub fn run(args: InfoArgs) -> Result<(), String> {
    // Quiet: the adapter is what this command prints.
    let gpu = Gpu::new(&GpuOptions {
        adapter: args.gpu.adapter.clone(),
        quiet: true,
        speed_notes: false,
    })
    .map_err(|e| e.to_string())?;
    describe(&gpu);
    if args.plans {
        print_plans(&gpu, args.preset, args.batch)?;
    }
    Ok(())
}

/// The GEMM plans of one training step of `preset` at `batch` (dynamic weighting, on
/// random images and labels).
fn print_plans(gpu: &Gpu, preset: Preset, batch: usize) -> Result<(), String> {
    const CLASSES: [usize; 2] = [36, 7];
    let config = TrainConfig {
        preset,
        batch,
        ..TrainConfig::default()
    };
    let mut learner = Learner::new(
        gpu,
        &config,
        CLASSES,
        Tasks::Both,
        WeightingSpec::Dynamic,
        1,
    )
    .map_err(|e| e.to_string())?;
    let side = preset.architecture().input;
    // The batch's images are one tensor: refuse a batch the device cannot bind before
    // allocating it on the host (a huge --batch would abort on the allocation).
    let limit = gpu.limits().max_storage_buffer_binding_size;
    let image_bytes = (side * side * std::mem::size_of::<f32>()) as u64;
    if (batch as u64).saturating_mul(image_bytes) > limit {
        return Err(format!(
            "--batch {batch}: a batch of {side}x{side} images takes {} bytes, over this adapter's limit of {limit} bytes for one tensor; give --batch {} or less",
            (batch as u128) * image_bytes as u128,
            (limit / image_bytes).max(2)
        ));
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let random = Batch::random(&mut rng, batch, side * side, CLASSES);
    gpu.record_plans();
    learner
        .step(gpu, &random, 0, 0, None)
        .map_err(|e| e.to_string())?;
    gpu.flush();
    println!("GEMM plans of one {preset}/{batch} training step (times made):");
    for (plan, count) in gpu.recorded_plans() {
        println!("  {count:>3}  {plan}");
    }
    Ok(())
}

fn describe(gpu: &Gpu) {
    let info = gpu.adapter_info();
    let limits = gpu.limits();
    println!("adapter:      {}", info.name);
    println!("backend:      {:?}", info.backend);
    println!(
        "device type:  {:?}{}",
        info.device_type,
        if gpu.is_software() { " (software)" } else { "" }
    );
    println!("driver:       {} {}", info.driver, info.driver_info);
    println!(
        "timestamps:   {}",
        if gpu.has_timestamps() { "yes" } else { "no" }
    );
    println!("GEMM:         {}", facemtl::kernels::describe_tiles(gpu));
    println!(
        "operands:     {}",
        if facemtl::kernels::texel_path(gpu) {
            "convolutions (and matmuls of 2^24 or more multiply-adds) gather A and B from \
             texel arrays packed four channels deep (FACEMTL_GEMM_TEXELS=off: storage buffers)"
        } else {
            "storage buffers"
        }
    );
    println!("limits:");
    for (name, value) in [
        (
            "max_storage_buffer_binding_size",
            limits.max_storage_buffer_binding_size,
        ),
        ("max_buffer_size", limits.max_buffer_size),
        (
            "max_uniform_buffer_binding_size",
            limits.max_uniform_buffer_binding_size,
        ),
        (
            "max_storage_buffers_per_shader_stage",
            limits.max_storage_buffers_per_shader_stage as u64,
        ),
        (
            "max_compute_workgroup_storage_size",
            limits.max_compute_workgroup_storage_size as u64,
        ),
        (
            "max_compute_invocations_per_workgroup",
            limits.max_compute_invocations_per_workgroup as u64,
        ),
        (
            "max_compute_workgroups_per_dimension",
            limits.max_compute_workgroups_per_dimension as u64,
        ),
    ] {
        println!("  {name:<40} {value}");
    }
}
