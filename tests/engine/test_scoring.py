"""An adapter's implicit reward for pictures: what it learnt to prefer, read back."""

from __future__ import annotations

from pathlib import Path

from engine import LocalEngine, ScoreRequest
from tests.engine.support import RequestFactory
from tests.engine.test_adapters import make_adapter


async def test_scores_repeat_for_a_seed_and_are_nothing_for_an_adapter_that_changes_nothing(
    local_engine: LocalEngine, request_for: RequestFactory, tiny_model_dir: Path, tmp_path: Path
) -> None:
    pictures = tuple(await local_engine.generate(request_for(seeds=(1, 2, 3))))
    adapter = str(make_adapter(tiny_model_dir, tmp_path / "adapter", seed=1))
    unchanged = str(make_adapter(tiny_model_dir, tmp_path / "unchanged", seed=1, scale=0.0))

    def asked(folder: str, seed: int = 0) -> ScoreRequest:
        return ScoreRequest(
            model=str(tiny_model_dir),
            adapter=folder,
            prompt="a red circle",
            images=pictures,
            seed=seed,
        )

    scores = await local_engine.preference_scores(asked(adapter))
    again = await local_engine.preference_scores(asked(adapter))
    other_noise = await local_engine.preference_scores(asked(adapter, seed=1))
    nothing = await local_engine.preference_scores(asked(unchanged))

    assert len(scores) == 3 and scores == again != other_noise
    assert len(set(scores)) == 3  # it tells the pictures apart
    assert nothing == [0.0, 0.0, 0.0]
    # Drawing after scoring draws as before: scoring leaves no adapter on.
    assert [i.tobytes() for i in await local_engine.generate(request_for(seeds=(1, 2, 3)))] == [
        i.tobytes() for i in pictures
    ]
