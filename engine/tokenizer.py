"""A CLIP byte-level BPE tokenizer made locally, so the embedded model never needs a download.

The vocabulary holds every byte (alone and as a word end, as CLIP has it) and the two special
tokens, plus the merges that make each given word a single token. Any other word still
tokenizes, one byte-character at a time.

A T5 tokenizer is made locally too (``build_t5_tokenizer``), for SD3's and FLUX's T5 encoders.
"""

import json
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
END_OF_WORD = "</w>"
MAX_LENGTH = 77

DEFAULT_WORDS: tuple[str, ...] = (
    # colours
    "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
    "black", "white", "grey", "gray", "cyan", "magenta",
    # shapes
    "circle", "square", "triangle", "star", "rectangle", "ellipse", "hexagon", "diamond",
    "heart", "cross", "line", "dot", "ring",
    # sizes
    "small", "large", "big", "tiny", "huge", "medium",
    # positions
    "left", "right", "top", "bottom", "centre", "center", "middle", "corner", "upper", "lower",
    # common words
    "a", "an", "the", "on", "in", "of", "at", "and", "with", "background", "image", "picture",
    "shape", "object", "photo", "is", "over", "under", "above", "below", "next", "to",
)  # fmt: skip


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's (and GPT-2's) printable stand-in character for each byte.

    Printable Latin-1 bytes stand for themselves; the others are moved past 255 so that no
    byte maps to whitespace or a control character, which BPE files could not hold.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    shifted = iter(range(256, 512))
    return {byte: chr(byte) if byte in printable else chr(next(shifted)) for byte in range(256)}


def _symbols(word: str, byte_chars: dict[int, str]) -> list[str]:
    symbols = [byte_chars[byte] for byte in word.lower().encode("utf-8")]
    symbols[-1] += END_OF_WORD
    return symbols


def _merge_pair(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    merged: list[str] = []
    index = 0
    while index < len(symbols):
        if index + 1 < len(symbols) and (symbols[index], symbols[index + 1]) == pair:
            merged.append(symbols[index] + symbols[index + 1])
            index += 2
        else:
            merged.append(symbols[index])
            index += 1
    return merged


def learn_merges(words: Sequence[str]) -> list[tuple[str, str]]:
    """BPE training run to the end on the given words: afterwards each word is one symbol.

    Learning the merges (rather than chaining each word's letters on its own) keeps the words
    from competing for shared pairs: the tokenizer replays the merges in the order they were
    learned, which reproduces exactly the segmentation training ended with.
    """
    byte_chars = bytes_to_unicode()
    segmented = [_symbols(word, byte_chars) for word in dict.fromkeys(words) if word]
    merges: list[tuple[str, str]] = []
    while True:
        pairs = Counter(pair for symbols in segmented for pair in pairwise(symbols))
        if not pairs:
            return merges
        # Ties broken by the pair itself, so the same words always give the same tokenizer.
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merges.append(best)
        segmented = [_merge_pair(symbols, best) for symbols in segmented]


def build_clip_tokenizer(folder: Path, words: Sequence[str] = DEFAULT_WORDS) -> None:
    """Write a CLIP tokenizer (vocab.json, merges.txt, tokenizer_config.json) into `folder`."""
    byte_chars = list(bytes_to_unicode().values())
    merges = learn_merges(words)
    tokens = [
        *byte_chars,
        *(char + END_OF_WORD for char in byte_chars),
        *(left + right for left, right in merges),
        START_TOKEN,
        END_TOKEN,
    ]
    write_clip_tokenizer(folder, tokens, merges, MAX_LENGTH)


def write_clip_tokenizer(
    folder: Path, tokens: Sequence[str], merges: Sequence[tuple[str, str]], max_length: int
) -> None:
    """Write the files a CLIPTokenizer loads (vocab.json, merges.txt, tokenizer_config.json):
    ``tokens`` take ids in the order given."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {token: index for index, token in enumerate(tokens)}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merge_lines = "".join(f"{left} {right}\n" for left, right in merges)
    (folder / "merges.txt").write_text(f"#version: 0.2\n{merge_lines}", encoding="utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": max_length,
        "bos_token": START_TOKEN,
        "eos_token": END_TOKEN,
        "unk_token": END_TOKEN,
        "pad_token": END_TOKEN,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


# T5's special tokens, with the ids T5 gives them (and transformers' T5Tokenizer assumes).
T5_PAD, T5_END, T5_UNKNOWN = "<pad>", "</s>", "<unk>"
# T5's mark of a word's start (SentencePiece's "▁"), put before every word.
T5_WORD_START = "▁"
# The longest prompt SD3's and FLUX's T5 encoders read (FLUX's default; SD3's is 256).
T5_MAX_LENGTH = 512
# Any printable ASCII character, so no ASCII word is lost to <unk>.
_T5_CHARACTERS = "".join(chr(code) for code in range(ord("!"), ord("~") + 1))


def build_t5_tokenizer(
    folder: Path, words: Sequence[str] = DEFAULT_WORDS, max_length: int = T5_MAX_LENGTH
) -> None:
    """Write a T5 tokenizer (tokenizer.json, tokenizer_config.json) into ``folder``, for the
    T5 text encoders of SD3 and FLUX pipelines.

    A SentencePiece-style Unigram model as T5's: ``<pad>``, ``</s>`` and ``<unk>`` take ids 0,
    1 and 2, every given word is one token (``▁word``), any other ASCII word splits into ``▁``
    and its characters, and ``</s>`` ends every sequence. Cased, as T5 is. Built the way
    transformers' T5Tokenizer builds itself from a vocabulary, so loading it back gives the same
    tokenizer whether transformers reads tokenizer.json as it is or rebuilds it from its vocab.
    """
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import T5TokenizerFast

    # Scores are log-probabilities: a known word beats spelling it out, which beats <unk>.
    vocabulary = [(T5_PAD, 0.0), (T5_END, 0.0), (T5_UNKNOWN, 0.0), (T5_WORD_START, -2.0)]
    vocabulary += [(T5_WORD_START + word, -1.0) for word in dict.fromkeys(words) if word]
    vocabulary += [(character, -3.0) for character in _T5_CHARACTERS]
    backend = Tokenizer(Unigram(vocabulary, unk_id=2, byte_fallback=False))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement=T5_WORD_START, prepend_scheme="always"),
        ]
    )
    backend.decoder = decoders.Metaspace(replacement=T5_WORD_START, prepend_scheme="always")
    backend.post_processor = processors.TemplateProcessing(
        single=["$A", T5_END],
        pair=["$A", T5_END, "$B", T5_END],
        special_tokens=[(T5_END, 1)],
    )
    tokenizer = T5TokenizerFast(
        tokenizer_object=backend,
        pad_token=T5_PAD,
        eos_token=T5_END,
        unk_token=T5_UNKNOWN,
        # No sentinel tokens: they serve T5's pre-training only.
        extra_ids=0,
        model_max_length=max_length,
    )
    tokenizer.save_pretrained(folder)
