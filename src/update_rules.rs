//! The optimisers' update rules as plain data: the hyperparameters of SGD, Adam and
//! RMSProp, shared by the update kernels, the host-side optimiser and the CPU reference
//! (which must not depend on the device layer).

/// SGD with momentum (PyTorch's form) and L2 weight decay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
}

/// Adam with L2 weight decay added to the gradient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
}

/// RMSProp with momentum in TensorFlow's form (the paper uses decay 0.9, momentum 0.9,
/// eps 1.0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsPropConfig {
    pub lr: f32,
    pub decay: f32,
    pub momentum: f32,
    pub eps: f32,
    pub weight_decay: f32,
}
