"""The second matcher: a small linear text classifier trained by us on our corpus
(`bench/train_screening.py`), beside the phrase book.

A phrase book catches the phrasings its writers thought of; another writer's words slip past it
(bench/safeguarding_corpus/README.md). A linear model over a message's normalised words, pairs of
words and character n-grams weighs every part of a message, so a misspelling still shares most of
its n-grams with the word meant, and a disclosure worded in a new way still carries the words that
disclosures carry.

Two parts, both logistic regression over the same features:
- the **detector**: one score, "is this a disclosure at all"; above the trained threshold it raises
  a concern, and far below it (under `book_floor`) it overrules a default phrase of the book, whose
  words alone cannot tell "my teacher will kill me" from a threat. It is the only part every
  message pays for, so it is one dict look-up per feature;
- the **category chooser**: nine scores (softmax), asked only when the detector fires and the
  phrase book has not already named a category.

The weights are a data file shipped in this package (`screening_model.json.gz`), loaded once per
process on first use, like the default phrase book. A missing or unreadable file is an error at
start-up (`ModelError`), never silence. Pure Python, standard library only.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Sequence
from itertools import pairwise, repeat
from pathlib import Path

from handlers.safeguarding.categories import Category

MODEL_PATH = Path(__file__).with_name("screening_model.json.gz")
FORMAT = 2  # 2: the detector has a `book_floor` below which it overrules a default phrase
# Character n-grams of these lengths, of each normalised word with a space either side.
CHAR_SIZES = (3, 4, 5)
# A block of features is scaled by one over the square root of its size, but never of less than this:
# otherwise one word of a two-word message ("yes please", "keep it") weighs as much as a whole
# sentence of evidence, and short everyday replies read as disclosures.
WORD_FLOOR = 5
CHAR_FLOOR = 36
# Only the first letters of a word give n-grams: the longest word in the corpus has 15, and a pasted
# run of 600 letters ("Supercalifragilistic" thirty times) would otherwise add n-gram after n-gram
# until it outweighed any sentence and read as a disclosure.
GRAM_LETTERS = 24
# Words whose part of a score is kept (see Classifier.score), the trained vocabulary's among them; a few MB at most.
PART_CACHE = 50_000
PART_LETTERS = 40  # and only words of at most this many letters


class ModelError(RuntimeError):
    """The screening model cannot be used: screening without it would silently miss disclosures."""


def word_features(words: Sequence[str]) -> list[str]:
    """Each normalised word, and each pair of neighbouring words ("kill myself")."""
    return [*words, *(a + " " + b for a, b in pairwise(words))]


def word_grams(word: str) -> list[str]:
    """The character n-grams of one word, with a space either side so that its first and last
    letters form n-grams of their own ("suicde" still shares " su", "sui" and "de " with "suicide")."""
    text = " " + word[:GRAM_LETTERS] + " "
    size = len(text)
    return [text[i : i + n] for n in CHAR_SIZES for i in range(size - n + 1)]


def char_features(words: Sequence[str]) -> list[str]:
    """Every character n-gram of every word (word by word: pairs of words are word features)."""
    return [gram for word in words for gram in word_grams(word)]


class Classifier:
    """The trained weights. `score(words)` is the detector; `category(words)` the chooser."""

    def __init__(self, data: dict[str, object]) -> None:
        try:
            if data.get("format") != FORMAT:
                raise ModelError(f"screening model format {data.get('format')!r}, expected {FORMAT}")
            detector = data["detector"]
            chooser = data["chooser"]
            assert isinstance(detector, dict) and isinstance(chooser, dict)
            self.threshold = float(detector["threshold"])
            # Below this score the words read so plainly as ordinary talk that a default phrase found
            # in them raises nothing ("my teacher will kill me if this essay is late"); trained with
            # the threshold (bench/train_screening.py). None in the file: no floor.
            floor = detector["book_floor"]
            self.book_floor = -math.inf if floor is None else float(floor)
            self.bias = float(detector["bias"])
            self.word_weights: dict[str, float] = {str(k): float(v) for k, v in detector["words"].items()}
            self.char_weights: dict[str, float] = {str(k): float(v) for k, v in detector["chars"].items()}
            self.categories = tuple(Category(name) for name in chooser["categories"])
            self.category_bias = tuple(float(v) for v in chooser["bias"])
            self.category_weights: dict[str, tuple[float, ...]] = {
                str(k): tuple(float(x) for x in v) for k, v in chooser["words"].items()
            }
            if len(self.category_bias) != len(self.categories) or any(
                len(v) != len(self.categories) for v in self.category_weights.values()
            ):
                raise ModelError("screening model: category weights of the wrong length")
            self.trained_on = str(data.get("corpus_sha256", ""))
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError, AssertionError, AttributeError) as error:
            raise ModelError(f"screening model is malformed: {error!r}") from error
        if not self.word_weights or not self.char_weights:
            raise ModelError("screening model holds no weights")
        # What each word the model was trained on adds to a score, worked out once at load (a few
        # hundredths of a second): most of what a pupil types is such words, so a message this process
        # has never seen still costs a look-up per word rather than one per character n-gram.
        self._known: dict[str, tuple[float, float, int]] = {
            word: self._part_of(word) for word in self.word_weights if " " not in word
        }
        self._parts: dict[str, tuple[float, float, int]] = dict(self._known)

    def score(self, words: Sequence[str]) -> float:
        """The detector's log-odds that these normalised words are a disclosure. Each block of
        features counts once per occurrence, scaled by one over the square root of the block's size
        (as in training; at least WORD_FLOOR and CHAR_FLOOR), so a long message is not a disclosure
        merely for being long, nor a short one for being short.

        What one word adds (its own weight, its n-grams' weights and their count) is the same
        wherever it stands, so it is worked out once per word and kept: a message costs a look-up
        per word and one per pair of words (this is most of why screening stays cheap in a step)."""
        if not words:
            return -math.inf
        parts = self._parts
        wsum = csum = 0.0
        count = 0
        for word in words:
            part = parts.get(word)
            if part is None:
                part = self._part(word)
            wsum += part[0]
            csum += part[1]
            count += part[2]
        pairs = len(words) - 1
        if pairs:
            wsum += sum(map(self.word_weights.get, map(" ".join, pairwise(words)), repeat(0.0)))
        return (
            self.bias + wsum / math.sqrt(max(len(words) + pairs, WORD_FLOOR)) + csum / math.sqrt(max(count, CHAR_FLOOR))
        )

    def _part_of(self, word: str) -> tuple[float, float, int]:
        grams = word_grams(word)
        return (
            self.word_weights.get(word, 0.0),
            sum(map(self.char_weights.get, grams, repeat(0.0))),
            len(grams),
        )

    def _part(self, word: str) -> tuple[float, float, int]:
        part = self._part_of(word)
        if len(word) > PART_LETTERS:  # a pasted run of letters is not kept (the cache stays small)
            return part
        if len(self._parts) >= PART_CACHE:  # bounded: pupils type a great many different words
            self._parts = dict(self._known)
        self._parts[word] = part
        return part

    def fires(self, words: Sequence[str]) -> bool:
        return self.score(words) >= self.threshold

    def category(self, words: Sequence[str]) -> Category:
        """The most likely category of a message the detector flagged."""
        totals = list(self.category_bias)
        feats = word_features(words)
        scale = 1 / math.sqrt(len(feats)) if feats else 0.0
        for feature in feats:
            weights = self.category_weights.get(feature)
            if weights is not None:
                for index, weight in enumerate(weights):
                    totals[index] += weight * scale
        best = max(range(len(totals)), key=totals.__getitem__)
        return self.categories[best]

    def weighty(self, words: Sequence[str]) -> tuple[int, int]:
        """The run of words that weighs most towards a disclosure, as (first, one past the last):
        what a concern's span points at. Each word is credited with its own weight and half of each
        pair it is in; character n-grams are left out here (they cross words)."""
        credit = [self.word_weights.get(word, 0.0) for word in words]
        for index in range(len(words) - 1):
            pair = self.word_weights.get(words[index] + " " + words[index + 1], 0.0) / 2
            credit[index] += pair
            credit[index + 1] += pair
        if not credit:
            return (0, 0)
        top = max(credit)
        if top <= 0:
            return (0, len(words))
        # The words within half of the heaviest, first to last: "scared to go home" rather than one word.
        heavy = [index for index, value in enumerate(credit) if value >= top / 2]
        return (heavy[0], heavy[-1] + 1)


def load(path: Path | None = None) -> Classifier:
    """Read a model file (the shipped one by default); any fault is one `ModelError` naming the file."""
    path = path if path is not None else MODEL_PATH
    try:
        raw = gzip.decompress(path.read_bytes())
        data = json.loads(raw.decode("utf-8"))
    except FileNotFoundError as error:
        raise ModelError(f"the screening model {path} is missing: reinstall Waymark") from error
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"the screening model {path} cannot be read ({error}): reinstall Waymark") from error
    if not isinstance(data, dict):
        raise ModelError(f"the screening model {path} is malformed")
    try:
        return Classifier(data)
    except ModelError as error:
        raise ModelError(f"{error} ({path})") from error


_DEFAULT: Classifier | None = None


def default_classifier() -> Classifier:
    """The shipped model, loaded once per process (about 0.1 s)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load()
    return _DEFAULT
