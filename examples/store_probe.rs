//! Probe: what a store costs on this adapter: storage f32, storage vec4, textureStore
//! rgba32float, and copy_buffer_to_texture of the same bytes (BENCHMARKS.md, "Texel operands on software adapters").

mod probe;

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
    let probe = probe::Probe::new();
    let device = &probe.device;
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
        let dst = match kind {
            "texture_store" => wgpu::BindingResource::TextureView(&view),
            _ => buffer.as_entire_binding(),
        };
        let (pipeline, bind) = probe.pipeline(&shader(kind), &[dst]);
        let best = probe.time_dispatch(&pipeline, &bind, GROUPS);
        println!(
            "{kind:>14}: {:7.2} ms, {:6.2} ns per lane store",
            best * 1e3,
            best * 1e9 / n as f64
        );
    }
    let best = probe.best_of_five(|encoder| {
        encoder.copy_buffer_to_texture(
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
        )
    });
    println!(
        "copy buffer->texture: {:7.2} ms, {:6.2} ns per texel",
        best * 1e3,
        best * 1e9 / n as f64
    );
}
