//! The `facemtl` command line.

use clap::{Parser, Subcommand};
use facemtl::data::synthetic::SyntheticConfig;
use facemtl::gpu::{Gpu, GpuOptions};

mod gen_data;

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
    /// Write the built-in synthetic faces as PNGs, a manifest CSV and a montage.
    GenData(GenDataArgs),
}

#[derive(clap::Args)]
struct GenDataArgs {
    /// Output folder (created if missing): images/, manifest.csv, montage.png.
    #[arg(long)]
    out: std::path::PathBuf,
    /// Number of subjects.
    #[arg(long, default_value_t = SyntheticConfig::default().subjects)]
    subjects: usize,
    /// Images per subject and expression.
    #[arg(long, default_value_t = SyntheticConfig::default().images_per_expression)]
    per_expression: usize,
    /// Image side in pixels.
    #[arg(long, default_value_t = SyntheticConfig::default().size)]
    size: usize,
    #[arg(long, default_value_t = SyntheticConfig::default().seed)]
    seed: u64,
    /// Variety between subjects (1 default; smaller makes face recognition harder).
    #[arg(long, default_value_t = 1.0)]
    identity_spread: f32,
    /// Expression strength (1 default; smaller makes expression recognition harder).
    #[arg(long, default_value_t = 1.0)]
    expression_strength: f32,
    /// Pose, lighting and noise (1 default, 0 none).
    #[arg(long, default_value_t = 1.0)]
    nuisance: f32,
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
    if let Command::GenData(args) = &cli.command {
        return report(gen_data::run(args));
    }
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
        Command::GenData(_) => unreachable!("handled before the device is opened"),
    }
    std::process::ExitCode::SUCCESS
}

/// Prints an error as `facemtl: error: ...` and turns it into the exit status.
fn report(result: Result<(), String>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("facemtl: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
