import json
from pathlib import Path

import pytest
import torch
from diffusers import DDPMScheduler, StableDiffusionPipeline
from PIL import Image, ImageDraw
from safetensors.torch import load_file
from transformers import AutoTokenizer, CLIPTextModel

from engine.generation import generate_images
from engine.grid import compose_grid
from engine.loader import load_model
from engine.toy.model import ToyArchitecture, save_pipeline, toy_components
from engine.toy.train import (
    CHECKPOINT,
    ToyData,
    ToyTrainer,
    TrainSettings,
    diffusion_loss,
    learning_rate,
    to_unit_range,
    train_toy_model,
    vae_loss,
)
from tests.engine.support import RequestFactory

WORDS = ["a", "red", "blue", "green", "circle", "square", "on", "background", ","]
COLOURS = ("red", "blue", "green")
SMALL = ToyArchitecture(
    resolution=32,
    max_length=12,
    text_width=32,
    text_heads=2,
    vae_channels=(8, 8, 16),
    unet_channels=(16, 16, 32),
)
QUICK = TrainSettings(
    architecture=SMALL,
    vae_steps=3,
    vae_batch=4,
    diffusion_steps=3,
    diffusion_batch=4,
    warmup_steps=1,
    checkpoint_every=2,
)


def _picture(colour: str, shape: str, background: str, size: int = 32) -> Image.Image:
    picture = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(picture)
    box = (size // 4, size // 4, 3 * size // 4, 3 * size // 4)
    (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=colour)
    return picture


def _data(size: int = 32) -> ToyData:
    pairs = [
        (_picture(colour, shape, background, size), f"a {colour} {shape}, on {background}")
        for colour in COLOURS
        for background in COLOURS
        for shape in ("circle", "square")
        if colour != background
    ]
    return ToyData.from_pairs(pairs, size)


@pytest.fixture(scope="module")
def toy_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("toy") / "pipeline"
    return save_pipeline(toy_components([*WORDS, "zebra"], seed=0), folder)


def test_the_folder_is_a_standard_stable_diffusion_pipeline(toy_folder: Path) -> None:
    index = json.loads((toy_folder / "model_index.json").read_text())
    text_config = json.loads((toy_folder / "text_encoder" / "config.json").read_text())

    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["requires_safety_checker"] is False
    assert index["safety_checker"] == [None, None]
    assert text_config["architectures"] == ["CLIPTextModel"]
    for weights in ("unet/diffusion_pytorch_model", "vae/diffusion_pytorch_model"):
        assert (toy_folder / f"{weights}.safetensors").is_file()
    assert (toy_folder / "text_encoder" / "model.safetensors").is_file()
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        assert (toy_folder / "tokenizer" / name).is_file()


def test_diffusers_and_the_training_scripts_read_it(toy_folder: Path, no_network: None) -> None:
    pipeline = StableDiffusionPipeline.from_pretrained(toy_folder, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(toy_folder, subfolder="tokenizer")
    scheduler = DDPMScheduler.from_pretrained(toy_folder, subfolder="scheduler")
    text_encoder = CLIPTextModel.from_pretrained(toy_folder, subfolder="text_encoder")

    assert pipeline.unet.config.sample_size * pipeline.vae_scale_factor == 64
    # v-prediction on a schedule whose last step is pure noise, as the scripts read it.
    assert scheduler.config.prediction_type == "v_prediction"
    assert float(scheduler.alphas_cumprod[-1]) == 0.0
    assert text_encoder.config.vocab_size == len(tokenizer)
    assert tokenizer.model_max_length == 32


def test_each_caption_word_is_one_token(toy_folder: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(toy_folder, subfolder="tokenizer")

    tokens = tokenizer.convert_ids_to_tokens(tokenizer("A red Circle, on zebra").input_ids)
    unknown = tokenizer.convert_ids_to_tokens(tokenizer("q").input_ids)

    assert tokens[1:-1] == ["a</w>", "red</w>", "circle</w>", ",</w>", "on</w>", "zebra</w>"]
    assert unknown[1] == tokenizer.unk_token


def test_the_projects_loader_makes_a_grid_of_64px_pictures(
    toy_folder: Path, no_network: None
) -> None:
    model = load_model(str(toy_folder), "cpu", torch.float32)
    request = RequestFactory(str(toy_folder))(steps=2, prompt="a red circle on blue")

    images = generate_images(model, request, lambda progress: None)

    assert (model.info.native_width, model.info.max_prompt_tokens) == (64, 32)
    assert [image.size for image in images] == [(64, 64)] * 4
    assert compose_grid(images).size == (128, 128)


def test_the_vocabulary_must_be_words() -> None:
    with pytest.raises(ValueError, match="single words"):
        toy_components(["red", "two words"], seed=0)
    with pytest.raises(ValueError, match="one token"):
        toy_components(["red", "red,"], seed=0)


def test_training_pictures_must_have_the_models_size() -> None:
    with pytest.raises(ValueError, match="32px"):
        ToyData.from_pairs([(_picture("red", "circle", "blue", 48), "a red circle")], 32)


def test_a_caption_longer_than_the_text_encoder_takes_is_refused(tmp_path: Path) -> None:
    data = ToyData.from_pairs([(_picture("red", "circle", "blue"), "a red " * 10)], 32)

    with pytest.raises(ValueError, match="longer than 12 tokens"):
        ToyTrainer(data, WORDS, tmp_path, QUICK)


def test_the_learning_rate_warms_up_then_decays() -> None:
    rates = [learning_rate(1.0, step, total=100, warmup=10) for step in range(100)]

    assert rates[0] == pytest.approx(0.1)
    assert rates[9] == pytest.approx(1.0)
    assert rates == sorted(rates[:10]) + sorted(rates[10:], reverse=True)
    assert rates[-1] == pytest.approx(0.1, abs=0.01)


def test_vae_steps_lower_the_reconstruction_loss(tmp_path: Path) -> None:
    settings = TrainSettings(
        architecture=SMALL, vae_steps=20, vae_batch=8, vae_learning_rate=3e-3, warmup_steps=1
    )
    trainer = ToyTrainer(_data(), WORDS, tmp_path, settings)
    pixels = to_unit_range(trainer.data.images)

    def loss() -> float:
        with torch.no_grad():
            return float(vae_loss(trainer.components.vae, pixels, torch.Generator(), 1e-6))

    before = loss()
    for _ in range(20):
        trainer.vae_step()

    assert loss() < 0.8 * before


def test_diffusion_steps_lower_the_noise_prediction_loss(tmp_path: Path) -> None:
    settings = TrainSettings(
        architecture=SMALL,
        vae_steps=0,
        diffusion_batch=8,
        diffusion_learning_rate=2e-3,
        warmup_steps=1,
        snr_gamma=None,
    )
    trainer = ToyTrainer(_data(), WORDS, tmp_path, settings)
    trainer.run(stop_after=0, progress=False)
    assert trainer.latents is not None
    latents = trainer.latents * trainer.components.vae.config.scaling_factor

    def loss() -> float:
        with torch.no_grad():
            return float(
                diffusion_loss(
                    trainer.components.unet,
                    trainer.components.text_encoder,
                    trainer.scheduler,
                    latents,
                    trainer.token_ids,
                    torch.Generator().manual_seed(1),
                    None,
                )
            )

    before = loss()
    for _ in range(15):
        trainer.diffusion_step()

    assert loss() < 0.8 * before


def test_a_resumed_run_continues_exactly_as_an_uninterrupted_one(tmp_path: Path) -> None:
    data = _data()
    whole = ToyTrainer(data, WORDS, tmp_path / "whole", QUICK).run(progress=False)

    pieces: list[float] = []
    # Interrupted once in the VAE stage and once in the diffusion stage.
    for stop_after in (2, 2, None):
        trainer = ToyTrainer(data, WORDS, tmp_path / "pieces", QUICK)
        pieces += trainer.run(stop_after=stop_after, progress=False)

    assert len(whole) == 6
    assert pieces == whole
    assert trainer.stage == "done"


def test_a_checkpoint_of_other_settings_is_refused(tmp_path: Path) -> None:
    ToyTrainer(_data(), WORDS, tmp_path, QUICK).run(stop_after=1, progress=False)
    assert (tmp_path / CHECKPOINT).is_file()

    with pytest.raises(ValueError, match="other settings"):
        ToyTrainer(_data(), WORDS, tmp_path, TrainSettings(architecture=SMALL, seed=1))


def test_the_same_seed_trains_the_same_weights(tmp_path: Path) -> None:
    def train(seed: int, name: str) -> dict[str, torch.Tensor]:
        settings = TrainSettings(
            architecture=SMALL,
            seed=seed,
            vae_steps=2,
            vae_batch=4,
            diffusion_steps=2,
            diffusion_batch=4,
            warmup_steps=1,
        )
        trainer = ToyTrainer(_data(), WORDS, tmp_path / name, settings)
        trainer.run(progress=False)
        trainer.export(tmp_path / f"{name}-model", check=False)
        return load_file(
            tmp_path / f"{name}-model" / "unet" / "diffusion_pytorch_model.safetensors"
        )

    first, again, other = train(0, "first"), train(0, "again"), train(1, "other")

    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not all(torch.equal(first[name], other[name]) for name in first)


def test_the_saved_model_holds_the_averaged_weights(tmp_path: Path) -> None:
    trainer = ToyTrainer(_data(), WORDS, tmp_path / "work", QUICK)
    trainer.run(progress=False)
    live = {name: value.clone() for name, value in trainer.components.unet.state_dict().items()}

    folder = trainer.export(tmp_path / "model")

    saved = load_file(folder / "unet" / "diffusion_pytorch_model.safetensors")
    parameters = dict(trainer.components.unet.named_parameters())
    averaged = dict(zip(parameters, trainer.ema.shadow, strict=False))
    assert all(torch.equal(saved[name], averaged[name]) for name in parameters)
    assert any(not torch.equal(saved[name], live[name]) for name in parameters)
    assert all(
        torch.equal(value, live[name])
        for name, value in trainer.components.unet.state_dict().items()
    )
    vae_config = json.loads((folder / "vae" / "config.json").read_text())
    assert vae_config["scaling_factor"] != pytest.approx(0.18215)


def test_train_toy_model_saves_a_pipeline_the_loader_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = [(_picture("red", "circle", "blue"), "a red circle on blue")] * 3

    folder = train_toy_model(pairs, WORDS, tmp_path / "work", tmp_path / "model", QUICK)

    model = load_model(str(folder), "cpu", torch.float32)
    assert model.info.native_width == 32
    assert "diffusion" in capsys.readouterr().out


def test_training_can_go_on_from_a_saved_model(tmp_path: Path) -> None:
    first = ToyTrainer(_data(), WORDS, tmp_path / "first", QUICK)
    first.run(progress=False)
    folder = first.export(tmp_path / "model", check=False)
    saved_unet = load_file(folder / "unet" / "diffusion_pytorch_model.safetensors")
    scaling = json.loads((folder / "vae" / "config.json").read_text())["scaling_factor"]
    more = TrainSettings(
        architecture=SMALL, vae_steps=0, diffusion_steps=2, diffusion_batch=4, warmup_steps=1
    )

    going_on = ToyTrainer(_data(), WORDS, tmp_path / "second", more, start_from=folder)

    unet = going_on.components.unet.state_dict()
    assert all(torch.equal(unet[name], saved_unet[name]) for name in saved_unet)
    going_on.run(progress=False)
    again = going_on.export(tmp_path / "again", check=False)
    assert json.loads((again / "vae" / "config.json").read_text())["scaling_factor"] == scaling
    trained = load_file(again / "unet" / "diffusion_pytorch_model.safetensors")
    assert any(not torch.equal(trained[name], saved_unet[name]) for name in saved_unet)


def test_a_model_of_other_words_is_no_start(tmp_path: Path) -> None:
    first = ToyTrainer(_data(), WORDS, tmp_path / "first", QUICK)
    first.run(progress=False)
    folder = first.export(tmp_path / "model", check=False)

    with pytest.raises(ValueError, match="other caption words"):
        ToyTrainer(_data(), [*WORDS, "zebra"], tmp_path / "second", QUICK, start_from=folder)
    with pytest.raises(ValueError, match="not a toy model folder"):
        ToyTrainer(_data(), WORDS, tmp_path / "third", QUICK, start_from=tmp_path / "nothing")
