"""A per-process memory cap for one training run, and recognising out-of-memory errors.

Trials share machines: two trials on one GPU (0.5 GPU each) or several on one CPU node. A
trial whose batch does not fit should fail *alone*, with a clear reason, instead of
starving its neighbour or waking the kernel's OOM killer. ``train.memory_limit_gb`` caps
the process: on CUDA through ``torch.cuda.set_per_process_memory_fraction`` (allocations
beyond it raise ``torch.OutOfMemoryError``), on the CPU through ``RLIMIT_DATA`` (heap and
private anonymous mappings, where torch's CPU tensors live; the allocator then raises
"can't allocate memory"). Both are library mechanisms; only the glue is written here.
"""

from __future__ import annotations

import resource

import torch

from ssl_core.config import Config

_CPU_OOM_MARKERS = ("DefaultCPUAllocator: can't allocate memory", "DefaultCPUAllocator: not enough memory")


def apply_memory_limit(cfg: Config, device: torch.device) -> None:
    """Cap this process at ``cfg.train.memory_limit_gb`` (0: no cap) on ``device``."""
    limit_gb = cfg.train.memory_limit_gb
    if not limit_gb:
        return
    limit = int(limit_gb * 1e9)
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, limit / total), device)
        return
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def is_out_of_memory(err: BaseException) -> bool:
    """True for CUDA OOM (``torch.OutOfMemoryError``) and the CPU allocator's failure."""
    if isinstance(err, torch.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and any(marker in str(err) for marker in _CPU_OOM_MARKERS)


def out_of_memory_reason(cfg: Config, err: BaseException) -> str:
    """One line: what ran out, at which batch size, and what to change."""
    text = str(err).strip()
    detail = next((line for line in text.splitlines() if "allocate" in line), text.splitlines()[0] if text else "")
    if "DefaultCPUAllocator" in detail:  # drop the "[enforce fail at alloc_cpu.cpp:N] err == 0." prefix
        detail = detail[detail.index("DefaultCPUAllocator"):].split(" Error code")[0]
    cap = f", train.memory_limit_gb={cfg.train.memory_limit_gb:g}" if cfg.train.memory_limit_gb else ""
    return (f"out of memory at data.batch_size={cfg.data.batch_size} with {cfg.model.backbone}{cap} "
            f"({detail.strip()[:160]}); lower data.batch_size or data.crop_seconds, use a smaller backbone, "
            f"or give each trial more memory (--gpus-per-trial 1, or a larger train.memory_limit_gb)")
