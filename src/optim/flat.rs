//! A parameter group in flat buffers: every parameter of the group is a slot of one
//! device tensor, and so is its gradient and each optimiser state, so that the clipping
//! norm and the update are one dispatch over the group instead of one per tensor.
//!
//! Slots start at the adapter's binding alignment; the gaps between them are zeros that
//! nothing reads but the group-wide kernels, for which a zero gradient with zero state is
//! a no-op (and adds nothing to a sum of squares).

use std::ops::Range;

use crate::autodiff::{already_grouped, Gradients, ParamId, ParamStore};
use crate::gpu::{Gpu, GpuError, Result, Tensor};

/// One parameter's place in the flat buffers.
struct Slot {
    start: usize,
    shape: Vec<usize>,
}

impl Slot {
    fn end(&self) -> usize {
        self.start + self.shape.iter().product::<usize>()
    }
}

/// The layout of a parameter group, its flat parameter tensor (which the store's
/// parameters are views of) and its flat gradient tensor.
pub(crate) struct FlatGroup {
    /// The parameters, in group order, and each one's slot.
    ids: Vec<ParamId>,
    slots: Vec<Slot>,
    params: Tensor,
    grads: Tensor,
}

impl FlatGroup {
    /// Moves the parameters `ids` of `store` into one flat buffer: each is copied into its
    /// slot and the store's tensor becomes a view of that slot, so kernels that read the
    /// parameter read the flat buffer.
    pub(crate) fn pack(gpu: &Gpu, store: &mut ParamStore, ids: &[ParamId]) -> Result<FlatGroup> {
        let alignment = Tensor::view_alignment(gpu);
        let mut slots = Vec::with_capacity(ids.len());
        let mut len: usize = 0;
        for (k, &id) in ids.iter().enumerate() {
            if ids[..k].contains(&id) {
                return Err(GpuError::invalid(
                    "optimizer",
                    format!("parameter {:?} is listed twice", store.name(id)),
                ));
            }
            if store.is_grouped(id) {
                return Err(already_grouped(store.name(id)));
            }
            let start = len.next_multiple_of(alignment);
            let slot = Slot {
                start,
                shape: store.get(id).shape().to_vec(),
            };
            len = slot.end();
            slots.push(slot);
        }
        let params = Tensor::zeros(gpu, &[len])?;
        let grads = Tensor::zeros(gpu, &[len])?;
        for (&id, slot) in ids.iter().zip(&slots) {
            let view = params.view(gpu, slot.start, &slot.shape)?;
            store.get(id).copy_to(gpu, &view)?;
            store.move_into_group(id, view)?;
        }
        Ok(FlatGroup {
            slots,
            ids: ids.to_vec(),
            params,
            grads,
        })
    }

    /// The first element of parameter `k`'s slot (the group's length for `k` past its
    /// last parameter).
    pub(crate) fn start_of(&self, k: usize) -> usize {
        self.slots.get(k).map_or(self.params.len(), |s| s.start)
    }

    /// The group's parameters, in order.
    pub(crate) fn ids(&self) -> &[ParamId] {
        &self.ids
    }

    /// A flat tensor of the group's layout with every element `value` (optimiser state),
    /// and each parameter's view of it.
    pub(crate) fn state(&self, gpu: &Gpu, value: f32) -> Result<(Tensor, Vec<Tensor>)> {
        let flat = Tensor::full(gpu, &[self.params.len()], value)?;
        let views = self
            .slots
            .iter()
            .map(|s| flat.view(gpu, s.start, &s.shape))
            .collect::<Result<Vec<_>>>()?;
        Ok((flat, views))
    }

    /// Copies the gradients that `grads` holds for the group into the flat gradient tensor
    /// and returns the runs of neighbouring slots that got one, as element ranges (one run
    /// covering the group when every parameter has a gradient).
    pub(crate) fn gather(&self, gpu: &Gpu, grads: &Gradients) -> Result<Vec<Range<usize>>> {
        let mut runs: Vec<Range<usize>> = Vec::new();
        let mut open = false;
        for (&id, slot) in self.ids.iter().zip(&self.slots) {
            let Some(grad) = grads.get(id) else {
                open = false;
                continue;
            };
            grad.copy_to(gpu, &self.grads.view(gpu, slot.start, &slot.shape)?)?;
            match runs.last_mut() {
                Some(run) if open => run.end = slot.end(),
                _ => runs.push(slot.start..slot.end()),
            }
            open = true;
        }
        Ok(runs)
    }

    /// The parameters of `run` as one tensor.
    pub(crate) fn params(&self, gpu: &Gpu, run: &Range<usize>) -> Result<Tensor> {
        flat_view(gpu, &self.params, run)
    }

    /// The gradients of `run` as one tensor (after [`FlatGroup::gather`]).
    pub(crate) fn grads(&self, gpu: &Gpu, run: &Range<usize>) -> Result<Tensor> {
        flat_view(gpu, &self.grads, run)
    }
}

/// Elements `run` of a flat tensor of a group's layout.
pub(crate) fn flat_view(gpu: &Gpu, flat: &Tensor, run: &Range<usize>) -> Result<Tensor> {
    flat.view(gpu, run.start, &[run.len()])
}
