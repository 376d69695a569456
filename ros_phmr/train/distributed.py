"""Data-parallel training over the GPUs of one host: one process per GPU, each making its own
synthetic batches, gradients averaged with one all-reduce per step.

Why not DistributedDataParallel: the losses call the detector's and decoder's parts directly
(tokens, regress, decode), never one ``forward``, which DDP needs to hook its reducer. One flat
all-reduce of every gradient is simple, exact and cheap for the models trained here.

Processes are started by ``torchrun`` or by ``ros-phmr train --gpus N`` (``launch``), which
set RANK / WORLD_SIZE / LOCAL_RANK.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, List, Optional

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DataParallel:
    """This process's place in a data-parallel run."""

    rank: int
    world_size: int
    local_rank: int

    @classmethod
    def from_env(cls) -> Optional["DataParallel"]:
        """The run described by torchrun's variables, or None for a single process."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return None
        return cls(rank=int(os.environ["RANK"]), world_size=world, local_rank=int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def start(self, device: torch.device) -> torch.device:
        """Join the process group; CUDA runs use NCCL on GPU ``local_rank``, CPU runs gloo."""
        if device.type == "cuda":
            if self.local_rank >= torch.cuda.device_count():
                raise RuntimeError(f"rank {self.rank} wants GPU {self.local_rank} but only "
                                   f"{torch.cuda.device_count()} are visible")
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=self.rank,
                                    world_size=self.world_size)
        return device

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Every rank starts from rank 0's weights (fresh models are seeded alike, but be sure)."""
        for tensor in module.state_dict().values():
            if torch.is_tensor(tensor):
                dist.broadcast(tensor, 0)

    def average_gradients(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Mean gradient over ranks; a parameter without a gradient here counts as zero."""
        params: List[torch.nn.Parameter] = [p for p in parameters if p.requires_grad]
        if not params:
            return
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float()
                          for p in params])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset:offset + n].view_as(p).to(p.dtype)
            offset += n

    def largest(self, value: float, device: torch.device) -> float:
        """The largest of every rank's ``value`` (the same answer on every rank)."""
        tensor = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return float(tensor.item())

    def stop(self) -> None:
        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def launch(gpus: int, argv: List[str]) -> int:
    """Run ``ros-phmr <argv>`` once per GPU through torch's elastic launcher (torchrun)."""
    from torch.distributed.run import main as torchrun

    if gpus < 2:
        raise ValueError(f"launch needs at least 2 processes, got {gpus}")
    torchrun(["--standalone", f"--nproc_per_node={gpus}", "-m", "ros_phmr.cli", *argv])
    return 0
