//! `facemtl info`: the adapter facemtl picks and the limits it runs under.

use facemtl::gpu::{Gpu, GpuOptions};

/// `facemtl info`'s flags.
#[derive(clap::Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub gpu: super::AdapterArg,
}

pub fn run(adapter: Option<String>) -> Result<(), String> {
    // Quiet: the adapter is what this command prints.
    let gpu = Gpu::new(&GpuOptions {
        adapter,
        quiet: true,
        speed_notes: false,
    })
    .map_err(|e| e.to_string())?;
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
    println!("GEMM:         {}", facemtl::kernels::describe_tiles(&gpu));
    println!(
        "operands:     {}",
        if gpu.gemm_texels() {
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
    Ok(())
}
