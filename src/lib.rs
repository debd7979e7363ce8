//! facemtl: one convolutional network trained for face recognition and facial expression
//! recognition at once, with dynamic task weights (Ming et al. 2019), on a from-scratch
//! wgpu/WGSL compute engine.
//!
//! Layers, bottom up: [`gpu`] (device, buffer pool, tensors), [`kernels`] (the WGSL kernels'
//! launchers, forward and backward), [`reference`](mod@reference) (the f64 CPU oracle of every kernel),
//! [`autodiff`] (the tape and named parameters), [`nn`] (layers), [`optim`] (optimisers).

pub mod autodiff;
pub mod choice;
pub mod console;
pub mod data;
pub mod fnv;
pub mod geometry;
pub mod gpu;
pub mod kernels;
pub mod model;
pub mod nn;
pub mod optim;
pub mod reference;
pub mod train;
pub mod update_rules;
pub mod weighting;
