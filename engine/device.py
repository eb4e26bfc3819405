"""Which device and number format the models run on."""

from dataclasses import dataclass

import torch

from engine.errors import EngineError

AUTO = "auto"
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


@dataclass(frozen=True)
class Accelerators:
    """What this machine offers; a value of its own so that choosing is a pure function."""

    cuda: bool
    cuda_bf16: bool
    mps: bool

    @classmethod
    def detect(cls) -> "Accelerators":
        cuda = torch.cuda.is_available()
        return cls(
            cuda=cuda,
            cuda_bf16=cuda and torch.cuda.is_bf16_supported(),
            mps=torch.backends.mps.is_available(),
        )


def select_device(requested: str, available: Accelerators) -> str:
    """Auto takes CUDA, then Apple MPS, then the CPU; cuda, cuda:N, mps or cpu insist on one."""
    if requested == AUTO:
        return "cuda" if available.cuda else "mps" if available.mps else "cpu"
    kind = requested.partition(":")[0]
    if kind not in ("cuda", "mps", "cpu"):
        raise EngineError(f"unknown device {requested!r}: use auto, cuda, cuda:N, mps or cpu")
    if (kind == "cuda" and not available.cuda) or (kind == "mps" and not available.mps):
        raise EngineError(f"device {requested!r} was asked for but this machine has none")
    return requested


def select_dtype(requested: str, device: str, available: Accelerators) -> torch.dtype:
    """Auto takes bfloat16 on CUDA where it is fast, else float16 on GPUs and float32 on the CPU."""
    if requested != AUTO:
        if requested not in DTYPES:
            raise EngineError(f"unknown dtype {requested!r}: use auto, {', '.join(DTYPES)}")
        return DTYPES[requested]
    if device.startswith("cuda"):
        return torch.bfloat16 if available.cuda_bf16 else torch.float16
    return torch.float16 if device == "mps" else torch.float32
