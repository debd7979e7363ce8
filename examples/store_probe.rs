//! Probe: what a store costs on this adapter: storage f32, storage vec4, textureStore
//! rgba32float, and copy_buffer_to_texture of the same bytes. Throwaway.
use std::time::Instant;

const GROUPS: u32 = 4096;
const STORES: u32 = 16;
const WIDTH: u32 = 4096;

fn shader(kind: &str) -> String {
    let (decl, store) = match kind {
        "storage" => ("@group(0) @binding(0) var<storage, read_write> dst: array<f32>;", "dst[i] = s;"),
        "storage_vec4" => ("@group(0) @binding(0) var<storage, read_write> dst: array<vec4<f32>>;", "dst[i] = vec4<f32>(s, s + 1.0, s + 2.0, s + 3.0);"),
        "texture_store" => ("@group(0) @binding(0) var dst: texture_storage_2d<rgba32float, write>;", "textureStore(dst, vec2<u32>(i & 4095u, i >> 12u), vec4<f32>(s, s + 1.0, s + 2.0, s + 3.0));"),
        _ => unreachable!(),
    };
    format!(
        "{decl}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {{
    for (var k = 0u; k < {STORES}u; k = k + 1u) {{
        let i = k * {GROUPS}u * 64u + g.x;
        let s = f32(i);
        {store}
    }}
}}
"
    )
}

fn main() {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter =
        pollster::block_on(instance.request_adapter(&Default::default())).expect("adapter");
    println!("{:?}", adapter.get_info().name);
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_limits: adapter.limits(),
        ..Default::default()
    }))
    .expect("device");
    let n = (GROUPS * 64 * STORES) as u64;
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: n * 16,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let texture = device.create_texture(&wgpu::TextureDescriptor {
        label: None,
        size: wgpu::Extent3d {
            width: WIDTH,
            height: (n / WIDTH as u64) as u32,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba32Float,
        usage: wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    });
    let view = texture.create_view(&Default::default());
    for kind in ["storage", "storage_vec4", "texture_store"] {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: None,
            source: wgpu::ShaderSource::Wgsl(shader(kind).into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: None,
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        let res = match kind {
            "texture_store" => wgpu::BindingResource::TextureView(&view),
            _ => buffer.as_entire_binding(),
        };
        let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: res,
            }],
        });
        let mut best = f64::MAX;
        for _ in 0..5 {
            let mut enc = device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &bind, &[]);
                pass.dispatch_workgroups(GROUPS, 1, 1);
            }
            let t = Instant::now();
            queue.submit([enc.finish()]);
            device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "{kind:>14}: {:7.2} ms, {:6.2} ns per lane store",
            best * 1e3,
            best * 1e9 / n as f64
        );
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let mut enc = device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_texture(
            wgpu::TexelCopyBufferInfo {
                buffer: &buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(WIDTH * 16),
                    rows_per_image: None,
                },
            },
            texture.as_image_copy(),
            texture.size(),
        );
        let t = Instant::now();
        queue.submit([enc.finish()]);
        device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "copy buffer->texture: {:7.2} ms, {:6.2} ns per texel",
        best * 1e3,
        best * 1e9 / n as f64
    );
}
