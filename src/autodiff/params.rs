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
    /// Whether the value is a view of an optimiser group's flat buffer.
    grouped: bool,
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
            grouped: false,
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

    /// Whether an optimiser keeps this entry in its flat buffers (see
    /// `ParamStore::move_into_group`).
    pub fn is_grouped(&self, id: ParamId) -> bool {
        self.entries[id.0].grouped
    }

    /// Replaces an entry's tensor by `view`, a view of an optimiser group's flat buffer of
    /// the same shape holding the same values. An entry joins one group only: a second
    /// optimiser over it would update a buffer the model no longer reads.
    pub(crate) fn move_into_group(&mut self, id: ParamId, view: Tensor) -> Result<()> {
        let entry = &mut self.entries[id.0];
        if entry.grouped {
            return Err(already_grouped(&entry.name));
        }
        if view.shape() != entry.value.shape() {
            return Err(GpuError::shape(
                "ParamStore",
                format!(
                    "{} is {:?}; cannot move it into a slot of shape {:?}",
                    entry.name,
                    entry.value.shape(),
                    view.shape()
                ),
            ));
        }
        entry.value = view;
        entry.grouped = true;
        Ok(())
    }

    /// Overwrites an entry's values (e.g. from a checkpoint), checking the length.
    pub fn set(&self, gpu: &Gpu, id: ParamId, data: &[f32]) -> Result<()> {
        self.get(id).write(gpu, data)
    }
}

/// The error for a parameter given to a second optimiser.
pub(crate) fn already_grouped(name: &str) -> GpuError {
    GpuError::invalid(
        "optimizer",
        format!(
            "parameter {name:?} already belongs to another optimiser's group (give each parameter one optimiser)"
        ),
    )
}
