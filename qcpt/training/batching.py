"""Global batch → per-device batch and gradient accumulation, from the devices a job actually gets.

The papers state global batches (fine-tuning 64 queries, coCondenser 2k, CoT-MAE 16k, bottlenecked
generation 2k); a cluster gives a job some number of GPUs (the rule's ``gpu`` resource after
``--set-resources``, i.e. the torchrun process count). :func:`plan_batch` turns the one into the
other, or refuses with an error naming the config key, before any training:

- the global batch must split evenly over the devices (full batches on every process);
- accumulation (several micro-batches per optimiser step) is used only where the loss allows it:
  losses that are means of per-example (per-token) terms, such as MLM or a decoder's LM loss.
  A loss with in-batch negatives (the contrastive pre-training loss, the fine-tuning InfoNCE) would
  see only one micro-batch's negatives per step, so it is never accumulated: the whole per-device
  share is one forward, and ``max_per_device`` (the memory bound) is either met, lifted by gradient
  caching (which bounds memory by its chunk, not the batch), or the job fails naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass


class BatchPlanError(ValueError):
    """The stated global batch cannot be made with these devices (the message names the key)."""


@dataclass(frozen=True)
class BatchPlan:
    global_batch_size: int
    devices: int
    per_device_batch_size: int
    gradient_accumulation_steps: int

    def as_log(self) -> dict[str, int]:
        """What the training log records."""
        return {"global_batch_size": self.global_batch_size, "world_size": self.devices,
                "per_device_batch_size": self.per_device_batch_size,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}


def plan_batch(
    global_batch_size: int,
    devices: int,
    *,
    key: str,
    max_per_device: int | None = None,
    accumulation_allowed: bool,
    gradient_caching: bool = False,
) -> BatchPlan:
    """The per-device batch and accumulation that make ``global_batch_size`` on ``devices``.

    ``key`` is the config key path of the global batch (named in every error). With accumulation
    allowed, the per-device batch is the largest divisor of the per-device share that is at most
    ``max_per_device``; without it, the share must fit ``max_per_device`` unless
    ``gradient_caching`` bounds the memory instead."""
    if devices < 1:
        devices = 1  # a CPU job: one process
    if global_batch_size < 1:
        raise BatchPlanError(f"{key}: must be >= 1, got {global_batch_size}")
    if global_batch_size % devices:
        raise BatchPlanError(
            f"{key}: a global batch of {global_batch_size} does not split evenly over {devices} devices "
            f"(the job's gpu resource); use a device count that divides it")
    share = global_batch_size // devices
    if max_per_device is None or share <= max_per_device:
        return BatchPlan(global_batch_size, devices, share, 1)
    if accumulation_allowed:
        per_device = max(d for d in range(1, max_per_device + 1) if share % d == 0)
        return BatchPlan(global_batch_size, devices, per_device, share // per_device)
    if gradient_caching:
        return BatchPlan(global_batch_size, devices, share, 1)
    raise BatchPlanError(
        f"{key}: a global batch of {global_batch_size} on {devices} devices needs {share} per device, "
        f"above max_per_device_batch_size {max_per_device}, and this loss takes in-batch negatives, so "
        f"gradient accumulation would shrink them; give the job more devices, raise the limit, or use "
        f"gradient caching where the schema has it (grad_cache_chunk)")


def plan_from_settings(
    world: int,
    *,
    key: str,
    global_batch_size: int | None,
    per_device_batch_size: int | None,
    gradient_accumulation_steps: int = 1,
    max_per_device: int | None = None,
    accumulation_allowed: bool,
    gradient_caching: bool = False,
) -> BatchPlan:
    """A job's batch from its settings: the global batch when given (:func:`plan_batch`), else the
    per-device mode of CPU configs (per device × processes × accumulation, recorded as such)."""
    if global_batch_size is None:
        if per_device_batch_size is None:
            raise BatchPlanError(f"{key}: neither a global nor a per-device batch size is set")
        world = max(world, 1)
        return BatchPlan(per_device_batch_size * world * gradient_accumulation_steps, world,
                         per_device_batch_size, gradient_accumulation_steps)
    return plan_batch(global_batch_size, world, key=key, max_per_device=max_per_device,
                      accumulation_allowed=accumulation_allowed, gradient_caching=gradient_caching)
