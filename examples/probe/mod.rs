//! Shared by the memory probes (`load_probe`, `store_probe`): the adapter's device with
//! its own limits, a compute pipeline from WGSL, and the best of five timed submissions.

use std::time::Instant;

pub struct Probe {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
}

impl Probe {
    /// The default adapter's device, with the adapter's limits; prints the adapter's name.
    pub fn new() -> Probe {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
        let adapter =
            pollster::block_on(instance.request_adapter(&Default::default())).expect("adapter");
        println!("{:?}", adapter.get_info().name);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .expect("device");
        Probe { device, queue }
    }

    /// A pipeline for `main` in `source`, and a bind group of `resources` at bindings 0, 1, ...
    pub fn pipeline(
        &self,
        source: &str,
        resources: &[wgpu::BindingResource],
    ) -> (wgpu::ComputePipeline, wgpu::BindGroup) {
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: None,
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: None,
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
        let entries: Vec<_> = resources
            .iter()
            .enumerate()
            .map(|(i, r)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: r.clone(),
            })
            .collect();
        let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        (pipeline, bind)
    }

    /// Seconds of the fastest of five submissions of what `record` encodes.
    pub fn best_of_five(&self, record: impl Fn(&mut wgpu::CommandEncoder)) -> f64 {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let mut encoder = self.device.create_command_encoder(&Default::default());
            record(&mut encoder);
            let started = Instant::now();
            self.queue.submit([encoder.finish()]);
            self.device
                .poll(wgpu::PollType::wait_indefinitely())
                .expect("poll");
            best = best.min(started.elapsed().as_secs_f64());
        }
        best
    }

    /// Seconds of the fastest of five runs of `groups` workgroups of `pipeline`.
    pub fn time_dispatch(
        &self,
        pipeline: &wgpu::ComputePipeline,
        bind: &wgpu::BindGroup,
        groups: u32,
    ) -> f64 {
        self.best_of_five(|encoder| {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, bind, &[]);
            pass.dispatch_workgroups(groups, 1, 1);
        })
    }
}
