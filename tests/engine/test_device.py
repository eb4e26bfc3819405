import pytest
import torch

from engine import EngineError
from engine.device import Accelerators, select_device, select_dtype

CPU_ONLY = Accelerators(cuda=False, cuda_bf16=False, mps=False)
APPLE = Accelerators(cuda=False, cuda_bf16=False, mps=True)
OLD_GPU = Accelerators(cuda=True, cuda_bf16=False, mps=False)
NEW_GPU = Accelerators(cuda=True, cuda_bf16=True, mps=False)


@pytest.mark.parametrize(
    ("available", "device", "dtype"),
    [
        (CPU_ONLY, "cpu", torch.float32),
        (APPLE, "mps", torch.float16),
        (OLD_GPU, "cuda", torch.float16),
        (NEW_GPU, "cuda", torch.bfloat16),
    ],
)
def test_auto_picks_the_best_device_and_its_format(
    available: Accelerators, device: str, dtype: torch.dtype
) -> None:
    assert select_device("auto", available) == device
    assert select_dtype("auto", device, available) == dtype


def test_an_explicit_choice_wins_over_auto() -> None:
    assert select_device("cpu", NEW_GPU) == "cpu"
    assert select_device("cuda:1", NEW_GPU) == "cuda:1"
    assert select_dtype("auto", "cpu", NEW_GPU) == torch.float32
    assert select_dtype("float16", "cpu", CPU_ONLY) == torch.float16
    assert select_dtype("float32", "cuda", NEW_GPU) == torch.float32
    assert select_dtype("bfloat16", "cuda", OLD_GPU) == torch.bfloat16


@pytest.mark.parametrize(
    ("device", "message"),
    [("cuda", "has none"), ("mps", "has none"), ("tpu", "unknown device")],
)
def test_a_device_this_machine_lacks_is_refused(device: str, message: str) -> None:
    with pytest.raises(EngineError, match=message):
        select_device(device, CPU_ONLY)


def test_an_unknown_dtype_is_refused_with_the_choices() -> None:
    with pytest.raises(EngineError, match="float32, float16, bfloat16"):
        select_dtype("int8", "cpu", CPU_ONLY)


def test_this_machine_is_detected() -> None:
    available = Accelerators.detect()

    assert available.cuda == torch.cuda.is_available()
    assert select_device("cpu", available) == "cpu"
