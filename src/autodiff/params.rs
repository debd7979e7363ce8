//! Named parameters: the tensors that live across steps (weights, and non-trainable
//! buffers such as batch-norm running statistics).

use crate::gpu::{Gpu, GpuError, Result, Tensor};

/// Handle to one entry of a [`ParamStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub(crate) usize);

struct Entry {
    name: String,
    value: Tensor,
    trainable: bool,
}

/// Every parameter and buffer of a model, by unique dotted name (`trunk.conv1.weight`).
#[derive(Default)]
pub struct ParamStore {
    entries: Vec<Entry>,
}

impl ParamStore {
    pub fn new() -> ParamStore {
        ParamStore::default()
    }

    fn insert(&mut self, name: &str, value: Tensor, trainable: bool) -> Result<ParamId> {
        if self.find(name).is_some() {
            return Err(GpuError::invalid(
                "ParamStore",
                format!("parameter name {name:?} is already taken"),
            ));
        }
        self.entries.push(Entry {
            name: name.to_string(),
            value,
            trainable,
        });
        Ok(ParamId(self.entries.len() - 1))
    }

    /// Adds a trainable parameter.
    pub fn add(&mut self, name: &str, value: Tensor) -> Result<ParamId> {
        self.insert(name, value, true)
    }

    /// Adds state that is saved with the model but not trained (e.g. running statistics).
    pub fn add_buffer(&mut self, name: &str, value: Tensor) -> Result<ParamId> {
        self.insert(name, value, false)
    }

    pub fn get(&self, id: ParamId) -> &Tensor {
        &self.entries[id.0].value
    }

    pub fn name(&self, id: ParamId) -> &str {
        &self.entries[id.0].name
    }

    pub fn is_trainable(&self, id: ParamId) -> bool {
        self.entries[id.0].trainable
    }

    pub fn find(&self, name: &str) -> Option<ParamId> {
        self.entries
            .iter()
            .position(|e| e.name == name)
            .map(ParamId)
    }

    /// Every entry, trainable or not, in creation order.
    pub fn ids(&self) -> impl Iterator<Item = ParamId> + '_ {
        (0..self.entries.len()).map(ParamId)
    }

    /// The trainable parameters whose names start with `prefix` ("" for all).
    pub fn trainable_with_prefix(&self, prefix: &str) -> Vec<ParamId> {
        self.ids()
            .filter(|&id| self.is_trainable(id) && self.name(id).starts_with(prefix))
            .collect()
    }

    /// Number of scalars in the trainable parameters.
    pub fn trainable_len(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.trainable)
            .map(|e| e.value.len())
            .sum()
    }

    /// Replaces an entry's tensor by another of the same shape holding the same values
    /// (the optimiser moves its parameters into one flat buffer this way).
    pub(crate) fn rebind(&mut self, id: ParamId, value: Tensor) -> Result<()> {
        let entry = &mut self.entries[id.0];
        if value.shape() != entry.value.shape() {
            return Err(GpuError::shape(
                "ParamStore",
                format!(
                    "{} is {:?}; cannot rebind it to a tensor {:?}",
                    entry.name,
                    entry.value.shape(),
                    value.shape()
                ),
            ));
        }
        entry.value = value;
        Ok(())
    }

    /// Overwrites an entry's values (e.g. from a checkpoint), checking the length.
    pub fn set(&self, gpu: &Gpu, id: ParamId, data: &[f32]) -> Result<()> {
        self.get(id).write(gpu, data)
    }
}
