"""Fine-tuning a LoRA adapter on preference data: it trains, resumes, and loads back."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from datasets import Dataset, Features, Image, Value
from PIL import Image as PILImage

from engine.loader import load_model
from engine.train.data import DataError, load_labels, load_pairs
from engine.train.options import TrainingOptions
from engine.train.preference import CHECKPOINT, PreferenceTrainer
from tests.engine.support import adapter_changes_pictures

COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220)}


def picture(colour: str) -> PILImage.Image:
    return PILImage.new("RGB", (64, 64), COLOURS[colour])


def jpeg(image: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def pairs_folder(folder: Path, count: int = 8) -> Path:
    """A Pick-a-Pic-layout dataset: red preferred to blue, one tie that must be skipped."""
    rows = {"caption": [], "jpg_0": [], "jpg_1": [], "label_0": []}
    for i in range(count):
        red_first = i % 2 == 0
        rows["caption"].append(f"a square number {i}")
        rows["jpg_0"].append(jpeg(picture("red" if red_first else "blue")))
        rows["jpg_1"].append(jpeg(picture("blue" if red_first else "red")))
        rows["label_0"].append(1.0 if red_first else 0.0)
    rows["caption"].append("a tie")
    rows["jpg_0"].append(jpeg(picture("red")))
    rows["jpg_1"].append(jpeg(picture("blue")))
    rows["label_0"].append(0.5)
    features = Features(
        caption=Value("string"),
        jpg_0=Value("binary"),
        jpg_1=Value("binary"),
        label_0=Value("float64"),
    )
    data = folder / "data"
    data.mkdir(parents=True)
    for split in ("train", "validation_unique"):
        Dataset.from_dict(rows, features=features).to_parquet(
            data / f"{split}-00000-of-00001.parquet"
        )
    return folder


def labels_folder(folder: Path, labels: Sequence[int] = (0, 1, 0, 1, 0, 1)) -> Path:
    """KTO labels of red (desirable) and blue (undesirable) squares."""
    rows = {
        "caption": ["a square"] * len(labels),
        "image": [picture("red" if label else "blue") for label in labels],
        "label": list(labels),
    }
    features = Features(caption=Value("string"), image=Image(), label=Value("int64"))
    data = folder / "data"
    data.mkdir(parents=True)
    Dataset.from_dict(rows, features=features).to_parquet(data / "train-00000-of-00001.parquet")
    return folder


def test_pairs_put_the_preferred_picture_first_and_skip_ties(tmp_path: Path) -> None:
    pairs = load_pairs(str(pairs_folder(tmp_path)))

    assert len(pairs) == 8
    assert all(pair.chosen.getpixel((5, 5))[0] > 150 for pair in pairs)  # red chosen
    assert all(pair.rejected.getpixel((5, 5))[2] > 150 for pair in pairs)


def test_a_folder_without_the_columns_is_refused_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="jpg_0"):
        load_pairs(str(labels_folder(tmp_path)))


def quick(method: str, **changes: object) -> TrainingOptions:
    values: dict[str, object] = {
        "method": method,
        "rank": 4,
        "steps": 4,
        "learning_rate": 5e-3,
        "batch_size": 4,
        "validate_every": 2,
        "checkpoint_every": 2,
    }
    return TrainingOptions.model_validate(values | changes)


def pipeline(model_dir: Path):  # type: ignore[no-untyped-def]
    return load_model(str(model_dir), "cpu", torch.float32).text_to_image


def test_a_dpo_adapter_changes_the_pictures_and_loads_back_through_the_loader(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    data = str(pairs_folder(tmp_path / "pairs"))
    trainer = PreferenceTrainer(
        pipeline(tiny_model_dir),
        load_pairs(data),
        load_pairs(data, "validation_unique"),
        tmp_path / "work",
        quick("dpo"),
    )
    losses = trainer.run(progress=False)
    out = trainer.save_adapter(
        tmp_path / "adapter", {"base_model": str(tiny_model_dir), "data": data}
    )

    assert len(losses) == 4 and all(loss > 0 for loss in losses)
    assert "implicit reward accuracy" in (out / "README.md").read_text()
    base = pipeline(tiny_model_dir)

    def draw() -> bytes:
        generator = torch.Generator().manual_seed(0)
        return (
            base("a square number 1", num_inference_steps=3, generator=generator)
            .images[0]
            .tobytes()
        )

    before = draw()
    base.load_lora_weights(out)
    assert draw() != before


def test_kto_trains_on_labels_and_a_resumed_run_matches_an_uninterrupted_one(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    labels = load_labels(str(labels_folder(tmp_path / "labels")))
    whole = PreferenceTrainer(
        pipeline(tiny_model_dir), labels, [], tmp_path / "whole", quick("kto")
    )
    uninterrupted = whole.run(progress=False)

    pieces = PreferenceTrainer(
        pipeline(tiny_model_dir), labels, [], tmp_path / "pieces", quick("kto")
    )
    first = pieces.run(stop_after=2, progress=False)
    resumed = PreferenceTrainer(
        pipeline(tiny_model_dir), labels, [], tmp_path / "pieces", quick("kto")
    )
    rest = resumed.run(progress=False)

    assert first + rest == pytest.approx(uninterrupted, rel=1e-5)


def adapter_weights(trainer: PreferenceTrainer) -> list[torch.Tensor]:
    return [weight.detach().clone() for weight in trainer.parameters]


def test_an_averaged_run_ends_on_the_mean_of_its_last_steps_even_when_resumed_among_them(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    labels = load_labels(str(labels_folder(tmp_path / "labels")))
    # The same run without averaging passes through the weights the average is made of.
    plain = PreferenceTrainer(
        pipeline(tiny_model_dir), labels, [], tmp_path / "plain", quick("kto")
    )
    trajectory = []
    for _ in range(4):
        plain.train_step()
        trajectory.append(adapter_weights(plain))
    averaged_options = quick("kto", average_last=0.5)  # steps 3 and 4 of 4
    averaged = PreferenceTrainer(
        pipeline(tiny_model_dir), labels, [], tmp_path / "avg", averaged_options
    )
    averaged.run(stop_after=3, progress=False)  # cut off after the first averaged step
    resumed = PreferenceTrainer(
        pipeline(tiny_model_dir), labels, [], tmp_path / "avg", averaged_options
    )
    resumed.run(progress=False)
    out = resumed.save_adapter(tmp_path / "adapter", {})

    expected = [(third + fourth) / 2 for third, fourth in zip(*trajectory[2:], strict=True)]
    assert all(
        torch.allclose(weight, mean, atol=1e-6)
        for weight, mean in zip(adapter_weights(resumed), expected, strict=True)
    )
    assert not torch.allclose(adapter_weights(resumed)[0], trajectory[-1][0])
    assert "averaged over the last 50% of the steps" in (out / "README.md").read_text()


def test_an_extrapolated_adapter_is_written_as_that_many_times_the_trained_change(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    data = str(pairs_folder(tmp_path / "pairs"))

    def trained(name: str, **changes: object) -> tuple[PreferenceTrainer, Path]:
        trainer = PreferenceTrainer(
            pipeline(tiny_model_dir),
            load_pairs(data),
            load_pairs(data, "validation_unique"),
            tmp_path / f"work-{name}",
            quick("dpo", **changes),
        )
        trainer.run(progress=False)
        return trainer, trainer.save_adapter(tmp_path / name, {})

    plain, plain_out = trained("plain")
    further, further_out = trained("further", extrapolate=3.0)
    written = load_file(further_out / "pytorch_lora_weights.safetensors")
    as_trained = load_file(plain_out / "pytorch_lora_weights.safetensors")

    # The same run (same seed), written with three times its change to each weight: LoRA's up
    # projections tripled, its down projections as they were.
    assert written.keys() == as_trained.keys()
    for key, weight in written.items():
        factor = 3.0 if "lora_B" in key or "lora.up" in key else 1.0
        assert torch.allclose(weight, factor * as_trained[key], atol=1e-6), key
    # Training itself, and what a resumed run would go on from, are the trained adapter.
    assert all(
        torch.equal(a, b)
        for a, b in zip(adapter_weights(further), adapter_weights(plain), strict=True)
    )
    # The last validation judged the adapter as written.
    assert further.history[-1]["validation_loss"] != plain.history[-1]["validation_loss"]
    assert further.history[-2] == plain.history[-2]
    assert "3 times the trained change" in (further_out / "README.md").read_text()

    def draw(adapter: Path) -> bytes:
        drawing = pipeline(tiny_model_dir)
        drawing.load_lora_weights(adapter)
        generator = torch.Generator().manual_seed(0)
        image = drawing("a square number 1", num_inference_steps=3, generator=generator).images[0]
        return image.tobytes()

    assert draw(further_out) != draw(plain_out)


@pytest.mark.parametrize("factor", [0.0, -1.0, 9.0])
def test_an_extrapolation_out_of_range_is_refused(factor: float) -> None:
    with pytest.raises(ValueError, match="extrapolate"):
        quick("kto", extrapolate=factor)


def test_a_checkpoint_of_other_options_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    labels = load_labels(str(labels_folder(tmp_path / "labels")))
    PreferenceTrainer(pipeline(tiny_model_dir), labels, [], tmp_path / "w", quick("kto")).run(
        stop_after=1, progress=False
    )

    with pytest.raises(ValueError, match="other options"):
        PreferenceTrainer(
            pipeline(tiny_model_dir), labels, [], tmp_path / "w", quick("kto", beta=9.0)
        )


def test_a_checkpoint_from_before_balanced_batches_resumes_as_it_ran(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    labels = load_labels(str(labels_folder(tmp_path / "labels")))
    plain = quick("kto")
    PreferenceTrainer(pipeline(tiny_model_dir), labels, [], tmp_path / "w", plain).run(
        stop_after=1, progress=False
    )
    saved = torch.load(tmp_path / "w" / CHECKPOINT, weights_only=True)
    del saved["options"]["balanced_batches"]  # as runs wrote it before the option existed
    torch.save(saved, tmp_path / "w" / CHECKPOINT)

    resumed = PreferenceTrainer(pipeline(tiny_model_dir), labels, [], tmp_path / "w", plain)

    assert resumed.step == 1
    with pytest.raises(ValueError, match="other options"):
        PreferenceTrainer(
            pipeline(tiny_model_dir),
            labels,
            [],
            tmp_path / "w",
            quick("kto", balanced_batches=True),
        )
    # One from a later version, with an option this one does not know: refused in words too.
    saved["options"]["a_later_option"] = 1
    torch.save(saved, tmp_path / "w" / CHECKPOINT)
    with pytest.raises(ValueError, match="other options"):
        PreferenceTrainer(pipeline(tiny_model_dir), labels, [], tmp_path / "w", plain)


def test_balanced_kto_batches_hold_as_many_chosen_as_passed_over_pictures(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    # One chosen picture among eight: what a grid's clicks leave.
    labels = load_labels(str(labels_folder(tmp_path / "labels", (1, 0, 0, 0, 0, 0, 0, 0))))

    def chosen_per_batch(**changes: object) -> list[int]:
        trainer = PreferenceTrainer(
            pipeline(tiny_model_dir), labels, [], tmp_path / str(changes), quick("kto", **changes)
        )
        desirable = trainer.train_data.desirable
        assert desirable is not None
        return [int(desirable[trainer.next_batch()].sum()) for _ in range(50)]

    assert chosen_per_batch(balanced_batches=True) == [2] * 50
    assert sum(chosen_per_batch()) < 50  # about 25: 4 draws of 1 in 8


def test_labels_of_one_kind_leave_nothing_to_balance_and_train_all_the_same(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    labels = load_labels(str(labels_folder(tmp_path / "labels", (0, 0, 0))))
    balanced = quick("kto", balanced_batches=True)
    trainer = PreferenceTrainer(pipeline(tiny_model_dir), labels, [], tmp_path / "w", balanced)

    losses = trainer.run(progress=False)

    assert len(losses) == 4 and len(trainer.next_batch()) == 4


def test_an_sdxl_model_trains_too_and_its_adapter_loads_back(
    tiny_xl_model_dir: Path, tmp_path: Path
) -> None:
    data = str(pairs_folder(tmp_path / "pairs"))
    loaded = pipeline(tiny_xl_model_dir)
    assert type(loaded).__name__ == "StableDiffusionXLPipeline"
    trainer = PreferenceTrainer(loaded, load_pairs(data), [], tmp_path / "work", quick("dpo"))
    losses = trainer.run(progress=False)
    out = trainer.save_adapter(tmp_path / "adapter", {"base_model": "tiny-xl", "data": data})

    assert len(losses) == 4 and all(loss > 0 for loss in losses)
    assert adapter_changes_pictures(pipeline(tiny_xl_model_dir), out, "a square number 1", 3)


CARD = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
  - split: validation_unique
    path: data/validation_unique-*
---
"""


def test_a_new_export_in_a_folder_of_the_same_name_is_read_as_it_is_now(tmp_path: Path) -> None:
    # A dataset card naming its files by pattern, as pickloop's exports have: `datasets`' own
    # cache would know both folders by the same key and hand back the first one's rows.
    folders = []
    for day, count in (("monday", 8), ("tuesday", 3)):
        folder = pairs_folder(tmp_path / day / "pairs", count=count)
        (folder / "README.md").write_text(CARD)
        folders.append(str(folder))
    first, second = load_pairs(folders[0]), load_pairs(folders[1])

    assert (len(first), len(second)) == (8, 3)
