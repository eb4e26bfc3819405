from pathlib import Path

import pytest
from transformers import AutoTokenizer, CLIPTokenizer, T5TokenizerFast

from engine.tokenizer import (
    DEFAULT_WORDS,
    END_TOKEN,
    START_TOKEN,
    build_clip_tokenizer,
    build_t5_tokenizer,
)


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tokenizer")
    build_clip_tokenizer(folder, DEFAULT_WORDS)
    return folder


@pytest.mark.parametrize("loader", [CLIPTokenizer, AutoTokenizer])
def test_known_words_are_one_token_each_between_the_specials(
    tokenizer_dir: Path, loader: type[CLIPTokenizer]
) -> None:
    tokenizer = loader.from_pretrained(tokenizer_dir)

    tokens = tokenizer.convert_ids_to_tokens(tokenizer("a red circle").input_ids)

    assert tokens == [START_TOKEN, "a</w>", "red</w>", "circle</w>", END_TOKEN]


def test_every_default_word_is_a_single_token(tokenizer_dir: Path) -> None:
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)

    split = [word for word in DEFAULT_WORDS if len(tokenizer(word).input_ids) != 3]

    assert split == []


def test_the_tokenizer_is_cased_like_clip_and_knows_its_limits(tokenizer_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)

    assert tokenizer("A RED Circle").input_ids == tokenizer("a red circle").input_ids
    assert tokenizer.model_max_length == 77
    assert tokenizer.pad_token == END_TOKEN
    padded = tokenizer("a red circle", padding="max_length", max_length=8).input_ids
    assert padded[5:] == [tokenizer.pad_token_id] * 3


def test_unknown_words_fall_back_to_characters_and_decode_back(tokenizer_dir: Path) -> None:
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    text = "a zebra on a café"

    ids = tokenizer(text).input_ids

    assert len(ids) > 2 + 5
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_a_custom_word_list_makes_its_own_words_single_tokens(tmp_path: Path) -> None:
    build_clip_tokenizer(tmp_path, ["zebra", "zeppelin", "zest"])
    tokenizer = CLIPTokenizer.from_pretrained(tmp_path)

    assert [len(tokenizer(word).input_ids) for word in ("zebra", "zeppelin", "zest")] == [3] * 3
    assert len(tokenizer("red").input_ids) == 2 + 3


@pytest.mark.parametrize("loader", [T5TokenizerFast, AutoTokenizer])
def test_the_t5_tokenizer_knows_the_words_ends_with_eos_and_pads_like_t5(
    tmp_path: Path, loader: type[T5TokenizerFast]
) -> None:
    build_t5_tokenizer(tmp_path, DEFAULT_WORDS)
    tokenizer = loader.from_pretrained(tmp_path)

    ids = tokenizer("a red circle", padding="max_length", max_length=6).input_ids

    assert tokenizer.convert_ids_to_tokens(ids) == [
        "▁a", "▁red", "▁circle", "</s>", "<pad>", "<pad>"
    ]  # fmt: skip
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    assert tokenizer.model_max_length == 512
    split = [word for word in DEFAULT_WORDS if len(tokenizer(word).input_ids) != 2]
    assert split == []


def test_the_t5_tokenizer_spells_out_other_words_cased(tmp_path: Path) -> None:
    build_t5_tokenizer(tmp_path, DEFAULT_WORDS)
    tokenizer = T5TokenizerFast.from_pretrained(tmp_path)
    text = "A Zebra, 3 stripes!"

    ids = tokenizer(text).input_ids

    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
