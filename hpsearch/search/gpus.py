"""Which GPUs the machine has, and what each worker process is told about them.

Decided in the study's process, which never imports TensorFlow: from
``CUDA_VISIBLE_DEVICES`` when it is set, else from ``nvidia-smi``. Each worker process
then starts with, in its environment before TensorFlow touches a device:

- ``TF_FORCE_GPU_ALLOW_GROWTH=true``: TensorFlow otherwise takes nearly all of a GPU's
  memory at its first operation, and a second worker on the same GPU fails at start;
- where there are several GPUs, ``CUDA_VISIBLE_DEVICES`` naming one of them, worker k
  taking GPU k modulo their number, so that parallel jobs spread over the GPUs instead of
  all training on the first.

A machine without GPUs gets nothing: the workers' environment is left as it is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache


def visible_gpus() -> list[str]:
    """The GPUs worker processes may use, as ``CUDA_VISIBLE_DEVICES`` names them."""
    declared = os.environ.get("CUDA_VISIBLE_DEVICES")
    if declared is not None:
        return parse_visible_devices(declared)
    return list(_gpus_nvidia_smi_lists())


def parse_visible_devices(value: str) -> list[str]:
    """``CUDA_VISIBLE_DEVICES`` as a list; empty or ``-1`` hides every GPU, and CUDA stops
    at the first invalid entry (a negative index)."""
    devices = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry or entry.startswith("-"):
            break
        devices.append(entry)
    return devices


@cache
def _gpus_nvidia_smi_lists() -> tuple[str, ...]:
    command = shutil.which("nvidia-smi")
    if command is None:
        return ()
    try:
        listed = subprocess.run(
            [command, "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(line.strip() for line in listed.splitlines() if line.strip().isdigit())


# TensorFlow's memory growth, read when it creates its GPU devices.
MEMORY_GROWTH = {"TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def worker_gpu_environment(slot: int, gpus: list[str] | None = None) -> dict[str, str]:
    """The environment worker ``slot`` (0, 1, ... : one per parallel job) starts with."""
    gpus = visible_gpus() if gpus is None else gpus
    if not gpus:
        return {}
    environment = dict(MEMORY_GROWTH)
    if len(gpus) > 1:
        environment["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    return environment
