//! The `facemtl` command line.

use clap::{Parser, Subcommand};
use facemtl::gpu::{Gpu, GpuOptions};

#[derive(Parser)]
#[command(
    name = "facemtl",
    version,
    about = "Multi-task face recognition + facial expression recognition with dynamic task weights, on a from-scratch wgpu compute engine"
)]
struct Cli {
    /// Use the adapter whose name contains this text (case-insensitive), e.g. "llvmpipe".
    /// WGPU_BACKEND=vulkan|metal|dx12|gl picks the backend.
    #[arg(long, global = true, value_name = "NAME")]
    adapter: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the chosen GPU adapter and its limits.
    Info,
}

fn info(gpu: &Gpu) {
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
    println!("limits:");
    println!(
        "  max_storage_buffer_binding_size    {}",
        limits.max_storage_buffer_binding_size
    );
    println!(
        "  max_buffer_size                    {}",
        limits.max_buffer_size
    );
    println!(
        "  max_storage_buffers_per_shader_stage {}",
        limits.max_storage_buffers_per_shader_stage
    );
    println!(
        "  max_compute_workgroup_storage_size {}",
        limits.max_compute_workgroup_storage_size
    );
    println!(
        "  max_compute_invocations_per_workgroup {}",
        limits.max_compute_invocations_per_workgroup
    );
    println!(
        "  max_compute_workgroups_per_dimension {}",
        limits.max_compute_workgroups_per_dimension
    );
}

fn main() -> std::process::ExitCode {
    // Mesa's device-select layer prints "XDG_RUNTIME_DIR is invalid" on headless machines;
    // it only orders adapters, which facemtl does itself. Set while single-threaded.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none()
        && std::env::var_os("NODEVICE_SELECT").is_none()
    {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
    let cli = Cli::parse();
    let gpu = match Gpu::new(&GpuOptions {
        adapter: cli.adapter.clone(),
        quiet: false,
    }) {
        Ok(gpu) => gpu,
        Err(e) => {
            eprintln!("facemtl: error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Info => info(&gpu),
    }
    std::process::ExitCode::SUCCESS
}
