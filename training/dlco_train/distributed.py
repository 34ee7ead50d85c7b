"""Process-group setup for multi-GPU and multi-node training with torchrun.

``torchrun`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` for every process. When they
are present, training joins a process group (NCCL on GPUs, Gloo on CPUs), wraps the model
in ``DistributedDataParallel`` and shards the training bags with ``DistributedSampler``.
Without them it runs as a single process.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)

__all__ = ["DistributedContext", "setup_distributed", "teardown_distributed"]


@dataclasses.dataclass
class DistributedContext:
    """Rank, world size and device of this process."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    device: torch.device = dataclasses.field(
        default_factory=lambda: torch.device("cpu")
    )

    @property
    def enabled(self) -> bool:
        """Whether a process group is active."""
        return dist.is_available() and dist.is_initialized()

    @property
    def is_main(self) -> bool:
        """Whether this process writes checkpoints, curves and metrics."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every process; a no-op without a process group."""
        if self.enabled:
            dist.barrier()


def setup_distributed(device: str | None = None) -> DistributedContext:
    """Join the torchrun process group when the environment requests one.

    Args:
        device: ``"cpu"``, ``"cuda"`` or None to pick CUDA when available.

    Returns:
        The context; ``device`` is ``cuda:LOCAL_RANK`` on GPUs.

    Raises:
        ValueError: If ``device`` is unknown or CUDA is requested but unavailable.
    """
    if device not in (None, "cpu", "cuda"):
        raise ValueError(f"device {device!r} is not 'cpu' or 'cuda'")
    use_cuda = torch.cuda.is_available() if device is None else device == "cuda"
    if use_cuda and not torch.cuda.is_available():
        raise ValueError(
            "device 'cuda' was requested but torch.cuda.is_available() is False"
        )

    launched = "LOCAL_RANK" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1
    if not launched:
        return DistributedContext(device=torch.device("cuda" if use_cuda else "cpu"))

    world_size = int(os.environ["WORLD_SIZE"])
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    logger.info(
        "joined process group: rank %d of %d, backend %s", rank, world_size, backend
    )
    return DistributedContext(
        world_size=world_size,
        rank=rank,
        local_rank=local_rank,
        device=torch.device(f"cuda:{local_rank}" if use_cuda else "cpu"),
    )


def teardown_distributed(context: DistributedContext) -> None:
    """Leave the process group if this process joined one."""
    if context.enabled:
        dist.destroy_process_group()
