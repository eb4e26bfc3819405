import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine import Engine, EngineError, LocalEngine, ModelInfo, Progress
from tests.engine.support import RequestFactory


def test_the_local_engine_is_an_engine(local_engine: LocalEngine) -> None:
    engine: Engine = local_engine

    assert callable(engine.generate)


async def test_describe_tells_the_size_and_prompt_limits(
    local_engine: LocalEngine, tiny_model_dir: Path
) -> None:
    info = await local_engine.describe(str(tiny_model_dir))

    assert info == ModelInfo(str(tiny_model_dir), 64, 64, 16, 77)


async def test_count_tokens_includes_the_special_tokens(
    local_engine: LocalEngine, tiny_model_dir: Path
) -> None:
    model = str(tiny_model_dir)

    assert await local_engine.count_tokens(model, "a red circle") == 5
    assert await local_engine.count_tokens(model, "") == 2
    assert await local_engine.count_tokens(model, " ".join(["red"] * 100)) == 102


async def test_the_event_loop_keeps_running_during_a_generation(
    local_engine: LocalEngine, request_for: RequestFactory
) -> None:
    events: list[str] = []
    loop_thread = threading.get_ident()
    callback_threads: set[int] = set()

    def on_progress(progress: Progress) -> None:
        callback_threads.add(threading.get_ident())
        events.append(f"step {progress.step}")

    async def tick() -> None:
        while True:
            events.append("tick")
            await asyncio.sleep(0.001)

    ticker = asyncio.create_task(tick())
    await local_engine.generate(request_for(steps=8), on_progress)
    ticker.cancel()

    steps = [index for index, event in enumerate(events) if event.startswith("step")]
    assert len(steps) == 8
    assert "tick" in events[steps[0] : steps[-1]]
    assert callback_threads == {loop_thread}


async def test_a_loaded_model_answers_questions_while_a_generation_runs(
    local_engine: LocalEngine, request_for: RequestFactory, tiny_model_dir: Path
) -> None:
    # A new /imagine checks its prompt against the model; that must not wait for the engine.
    model = str(tiny_model_dir)
    await local_engine.describe(model)
    started = asyncio.Event()
    generation = asyncio.create_task(
        local_engine.generate(request_for(steps=40), lambda _progress: started.set())
    )
    await started.wait()

    info = await local_engine.describe(model)
    tokens = await local_engine.count_tokens(model, "a red circle")

    assert not generation.done()
    assert (info.native_width, tokens) == (64, 5)
    assert len(await generation) == 4


async def test_requests_made_together_are_all_served(
    local_engine: LocalEngine, request_for: RequestFactory
) -> None:
    batches = await asyncio.gather(
        local_engine.generate(request_for(seeds=(1,))),
        local_engine.generate(request_for(seeds=(2, 3))),
        local_engine.count_tokens(request_for().model, "a star"),
    )

    assert [len(batches[0]), len(batches[1]), batches[2]] == [1, 2, 4]


async def test_other_torch_work_runs_on_the_engine_thread_between_generations(
    local_engine: LocalEngine, request_for: RequestFactory
) -> None:
    """Fine-tuning beside generations must share their thread: torch on a CPU runs at half
    speed while two threads of a process use it."""

    def where() -> tuple[int, str]:
        return threading.get_ident(), threading.current_thread().name

    first, images, second = await asyncio.gather(
        local_engine.run_on_engine_thread(where),
        local_engine.generate(request_for(seeds=(1,))),
        local_engine.run_on_engine_thread(where),
    )

    assert len(images) == 1
    assert first == second and first[0] != threading.get_ident()
    assert first[1].startswith("pickloop-engine-cpu")


async def test_a_closed_engine_refuses_work(tmp_path: Path) -> None:
    engine = LocalEngine(tmp_path, device="cpu")

    await engine.close()

    with pytest.raises(EngineError, match="closed"):
        await engine.describe("embedded-random")


def test_an_engine_for_a_device_this_machine_lacks_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EngineError):
        LocalEngine(tmp_path, device="tpu")


def test_an_engine_keeps_to_the_threads_it_is_given(tmp_path: Path) -> None:
    # In a process of its own: the thread count is the whole process's.
    probe = (
        "import sys, torch\n"
        "from engine import LocalEngine\n"
        "LocalEngine(sys.argv[1], device='cpu', threads=1)\n"
        "print(torch.get_num_threads())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
