//! Probe: what a gathered load costs on this adapter from a storage buffer, a uniform
//! buffer, an r32float texture and an rgba32float texture (BENCHMARKS.md, "Texel operands on software adapters").

mod probe;

const N: u32 = 1 << 20;
const WIDTH: u32 = 1024;
const LOADS: u32 = 256;
const GROUPS: u32 = 4096;

fn shader(kind: &str) -> String {
    let (decl, load) = match kind {
        "storage" => (
            "@group(0) @binding(0) var<storage, read> src: array<f32>;",
            "src[i]",
        ),
        "storage_vec4" => (
            "@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;",
            "dot(src[i >> 2u], vec4<f32>(1.0))",
        ),
        "uniform" => (
            "@group(0) @binding(0) var<uniform> src: array<vec4<f32>, 4096>;",
            "src[(i >> 2u) & 4095u][i & 3u]",
        ),
        "texture" => (
            "@group(0) @binding(0) var src: texture_2d<f32>;",
            "textureLoad(src, vec2<u32>(i & 1023u, i >> 10u), 0).x",
        ),
        "texture_vec4" => (
            "@group(0) @binding(0) var src: texture_2d<f32>;",
            "dot(textureLoad(src, vec2<u32>((i >> 2u) & 1023u, i >> 12u), 0), vec4<f32>(1.0))",
        ),
        _ => unreachable!(),
    };
    format!(
        "{decl}
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(8)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {{
    var s = 0.0;
    var i = (g.x * 37u) % {N}u;
    for (var k = 0u; k < {LOADS}u; k = k + 1u) {{
        s = s + {load};
        i = (i + 1031u) % {N}u;
    }}
    out[g.x] = s;
}}
"
    )
}

fn main() {
    let probe = probe::Probe::new();
    let (device, queue) = (&probe.device, &probe.queue);
    let data: Vec<f32> = (0..N).map(|i| (i % 7) as f32).collect();
    let storage = wgpu::util::DeviceExt::create_buffer_init(
        device,
        &wgpu::util::BufferInitDescriptor {
            label: None,
            contents: bytemuck::cast_slice(&data),
            usage: wgpu::BufferUsages::STORAGE,
        },
    );
    let uniform = wgpu::util::DeviceExt::create_buffer_init(
        device,
        &wgpu::util::BufferInitDescriptor {
            label: None,
            contents: bytemuck::cast_slice(&data[..16384]),
            usage: wgpu::BufferUsages::UNIFORM,
        },
    );
    let make_texture = |format: wgpu::TextureFormat, texel_floats: u32| {
        let width = WIDTH;
        let height = N / texel_floats / width;
        let t = device.create_texture(&wgpu::TextureDescriptor {
            label: None,
            size: wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        queue.write_texture(
            t.as_image_copy(),
            bytemuck::cast_slice(&data),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(width * texel_floats * 4),
                rows_per_image: None,
            },
            t.size(),
        );
        t.create_view(&Default::default())
    };
    let tex1 = make_texture(wgpu::TextureFormat::R32Float, 1);
    let tex4 = make_texture(wgpu::TextureFormat::Rgba32Float, 4);
    let out = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: (GROUPS * 8 * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    for kind in [
        "storage",
        "storage_vec4",
        "uniform",
        "texture",
        "texture_vec4",
    ] {
        let src = match kind {
            "storage" | "storage_vec4" => storage.as_entire_binding(),
            "uniform" => uniform.as_entire_binding(),
            "texture" => wgpu::BindingResource::TextureView(&tex1),
            _ => wgpu::BindingResource::TextureView(&tex4),
        };
        let (pipeline, bind) = probe.pipeline(&shader(kind), &[src, out.as_entire_binding()]);
        let best = probe.time_dispatch(&pipeline, &bind, GROUPS);
        let loads = (GROUPS * 8 * LOADS) as f64;
        println!(
            "{kind:>14}: {:7.2} ms, {:6.2} ns per lane load",
            best * 1e3,
            best * 1e9 / loads
        );
    }
}
