"""Train the screening classifier on the corpus's tuning half, and write the model Waymark ships.

    .venv/bin/python bench/train_screening.py            # k-fold CV figures, then write the model
    .venv/bin/python bench/train_screening.py --check    # only say whether the shipped model is current
    .venv/bin/python bench/train_screening.py --search   # CV over a few regularisation strengths

Reads bench/safeguarding_corpus/{disclosures,ordinary}_tuning.*, never a held-apart file. Features
and scoring are `handlers.safeguarding.classifier`'s own (the same code screens messages), so what is
trained is what runs. Two logistic regressions, fitted by full-batch gradient descent (Adam) in
numpy, with the data as sparse (row, column, value) arrays:

- the detector: every disclosure against every ordinary sentence. It has two thresholds, chosen
  together by k-fold cross-validation: at or above `fire` it raises a concern by itself; below
  `book_floor` it overrules a default phrase of the book (the school's own phrases are never
  overruled). The pair is the one under which book and detector together flag at most
  `TARGET_FALSE_ALARMS` of the ordinary sentences they were not trained on and, within that, the
  worst-caught category is caught most;
- the category chooser: softmax over the nine categories, on the disclosures' word features.

Deterministic: folds come from a fixed seed, the optimiser has no randomness, the file is written
with sorted keys, rounded weights and a zero gzip timestamp. tests/test_screening_model.py checks
that the shipped file was trained on the corpus as it stands.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handlers.safeguarding import Category, PhraseBook, default_book, screen  # noqa: E402
from handlers.safeguarding.classifier import (  # noqa: E402
    CHAR_FLOOR,
    FORMAT,
    MODEL_PATH,
    WORD_FLOOR,
    char_features,
    word_features,
)
from handlers.safeguarding.normalise import plain_words  # noqa: E402

CORPUS = ROOT / "bench" / "safeguarding_corpus"
SEED = 20261203
FOLDS = 5
# In cross-validation, all writers (goal: at most 5%). 4% since the tenth round: the last two two-writer
# blind sets ran 1.0-2.0% at a 3% target, and trained without each of their four writers, 4% flagged
# 2.4% of their ordinary messages and caught 2.1 points more of their self-harm (BENCHMARKS.md).
TARGET_FALSE_ALARMS = 0.04
DETECTOR_L2 = 1e-6
CHOOSER_L2 = 1e-5
MIN_COUNT = 2  # a feature must occur in at least this many training sentences
STEPS = 400
DIGITS = 5  # weights are rounded in the file: small, stable to diff, and as good


# The tuning files hold our own sentences first, then (these lines, counted from 0) the first blind set,
# written by an engineer who never saw the lists, then our later probes, then the second blind set, written
# by someone who had seen neither the lists, the corpus nor the code, then our fourth round's breadth
# sentences (bench/safeguarding_corpus/README.md). The blind writers' sentences are reported apart.
BLIND_WRITERS = {
    "first blind set": {"disclosures": range(975, 1380), "ordinary": range(1088, 1486)},
    "second blind set": {"disclosures": range(1434, 1919), "ordinary": range(1685, 2195)},
    "third blind set": {"disclosures": range(2417, 2935), "ordinary": range(2641, 3123)},
    "writer A (fifth round)": {"disclosures": range(2935, 3565), "ordinary": range(3123, 3599)},
    "writer B (fifth round)": {"disclosures": range(3565, 4164), "ordinary": range(3599, 4068)},
    "writer C (fifth round)": {"disclosures": range(4164, 4797), "ordinary": range(4068, 4525)},
    "fourth blind set": {"disclosures": range(4797, 5331), "ordinary": range(4525, 5020)},
    "writer D (sixth round)": {"disclosures": range(5331, 5883), "ordinary": range(5020, 5426)},
    "writer E (sixth round)": {"disclosures": range(5883, 6385), "ordinary": range(5426, 5825)},
    "fifth blind set": {"disclosures": range(6385, 6917), "ordinary": range(5825, 6318)},
    "writer F (seventh round)": {"disclosures": range(6917, 7416), "ordinary": range(6318, 6711)},
    "writer G (seventh round)": {"disclosures": range(7416, 7915), "ordinary": range(6711, 7110)},
    "writer H (seventh round)": {"disclosures": range(7915, 8415), "ordinary": range(7110, 7508)},
    "writer I (seventh round)": {"disclosures": range(8415, 8907), "ordinary": range(7508, 7906)},
    "sixth blind set, writer X": {"disclosures": range(8907, 9446), "ordinary": range(7906, 8204)},
    "sixth blind set, writer Y": {"disclosures": range(9446, 9985), "ordinary": range(8204, 8499)},
    "writer J (eighth round)": {"disclosures": range(9985, 10485), "ordinary": range(8499, 8898)},
    "writer K (eighth round)": {"disclosures": range(10485, 10984), "ordinary": range(8898, 9297)},
    "writer L (eighth round)": {"disclosures": range(10984, 11478), "ordinary": range(9297, 9697)},
    "writer M (eighth round)": {"disclosures": range(11478, 11973), "ordinary": range(9697, 10097)},
    "seventh blind set, writer Z1": {"disclosures": range(11973, 12512), "ordinary": range(10097, 10389)},
    "seventh blind set, writer Z2": {"disclosures": range(12512, 13052), "ordinary": range(10389, 10688)},
    "writer N (ninth round)": {"disclosures": range(13052, 13549), "ordinary": range(10688, 11084)},
    "writer O (ninth round)": {"disclosures": range(13549, 14049), "ordinary": range(11084, 11478)},
    "eighth blind set, writer W1": {"disclosures": range(14049, 14587), "ordinary": range(11478, 11765)},
    "eighth blind set, writer W2": {"disclosures": range(14587, 15126), "ordinary": range(11765, 12058)},
    "writer P (tenth round)": {"disclosures": range(15126, 15619), "ordinary": range(12058, 12452)},
    "writer Q (tenth round)": {"disclosures": range(15619, 16117), "ordinary": range(12452, 12852)},
    "writer R (tenth round)": {"disclosures": range(16117, 16606), "ordinary": range(12852, 13242)},
    "writer S (tenth round)": {"disclosures": range(16606, 17094), "ordinary": range(13242, 13639)},
    "writer T (tenth round)": {"disclosures": range(17094, 17593), "ordinary": range(13639, 14037)},
    "writer U (tenth round)": {"disclosures": range(17593, 18082), "ordinary": range(14037, 14433)},
    "writer V (tenth round)": {"disclosures": range(18082, 18582), "ordinary": range(14433, 14833)},
}


def blind_writer(half: str, number: int) -> str:
    """Which blind writer wrote this line of a tuning file ("" for our own)."""
    return next((name for name, lines in BLIND_WRITERS.items() if number in lines[half]), "")


@dataclass(frozen=True)
class Example:
    text: str
    words: tuple[str, ...]
    category: Category | None  # None: an ordinary sentence
    writer: str = ""  # the blind writer's name (BLIND_WRITERS), "" for our own sentences

    @property
    def other_writer(self) -> bool:
        return bool(self.writer)


def corpus_files() -> list[Path]:
    return [CORPUS / "disclosures_tuning.tsv", CORPUS / "ordinary_tuning.txt"]


def corpus_digest() -> str:
    digest = hashlib.sha256()
    for path in corpus_files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def examples() -> list[Example]:
    found: list[Example] = []
    disclosures, ordinary = corpus_files()
    lines = [line for line in disclosures.read_text(encoding="utf-8").splitlines() if line.strip()]
    for number, line in enumerate(lines):
        category, text = line.split("\t", 1)
        writer = blind_writer("disclosures", number)
        found.append(Example(text, tuple(plain_words(text)[0]), Category(category), writer))
    texts = [text for text in ordinary.read_text(encoding="utf-8").splitlines() if text.strip()]
    for number, text in enumerate(texts):
        found.append(Example(text, tuple(plain_words(text)[0]), None, blind_writer("ordinary", number)))
    return found


# Sparse design matrices


@dataclass
class Design:
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    n_rows: int
    n_cols: int

    def dot(self, w: np.ndarray) -> np.ndarray:
        """X @ w, for w of shape (n_cols,) or (n_cols, k)."""
        if w.ndim == 1:
            return np.bincount(self.rows, weights=self.vals * w[self.cols], minlength=self.n_rows)
        return np.stack([self.dot(w[:, j]) for j in range(w.shape[1])], axis=1)

    def tdot(self, g: np.ndarray) -> np.ndarray:
        """X.T @ g."""
        if g.ndim == 1:
            return np.bincount(self.cols, weights=self.vals * g[self.rows], minlength=self.n_cols)
        return np.stack([self.tdot(g[:, j]) for j in range(g.shape[1])], axis=1)


def vocabulary(lists: list[list[str]]) -> list[str]:
    """Features met in at least MIN_COUNT sentences, sorted (so the order never depends on hashing)."""
    counts: Counter[str] = Counter()
    for features in lists:
        counts.update(set(features))
    return sorted(feature for feature, count in counts.items() if count >= MIN_COUNT)


def design(blocks: list[tuple[list[list[str]], dict[str, int], int, int]], n_rows: int) -> Design:
    """Columns block after block; each occurrence of a known feature adds 1/sqrt(the sentence's
    feature count in that block, or the block's floor if more), as `Classifier.score` does."""
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for lists, index, offset, least in blocks:
        for row, features in enumerate(lists):
            if not features:
                continue
            value = 1 / math.sqrt(max(len(features), least))
            for feature in features:
                col = index.get(feature)
                if col is not None:
                    rows.append(row)
                    cols.append(col + offset)
                    vals.append(value)
    n_cols = sum(len(index) for _, index, _, _ in blocks)
    return Design(np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64), np.array(vals), n_rows, n_cols)


def adam(grad: object, w: np.ndarray, steps: int = STEPS, rate: float = 0.1) -> np.ndarray:
    """Full-batch Adam: no sampling, so the same data give the same weights."""
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t in range(1, steps + 1):
        g = grad(w)  # type: ignore[operator]
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - rate * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return w


@dataclass
class Detector:
    words: dict[str, float]
    chars: dict[str, float]
    bias: float

    def score(self, words: tuple[str, ...]) -> float:
        if not words:
            return -math.inf
        feats, grams = word_features(words), char_features(words)
        return (
            self.bias
            + sum(self.words.get(f, 0.0) for f in feats) / math.sqrt(max(len(feats), WORD_FLOOR))
            + sum(self.chars.get(g, 0.0) for g in grams) / math.sqrt(max(len(grams), CHAR_FLOOR))
        )


def train_detector(train: list[Example], l2: float = DETECTOR_L2) -> Detector:
    word_lists = [word_features(e.words) for e in train]
    char_lists = [char_features(e.words) for e in train]
    wv, cv = vocabulary(word_lists), vocabulary(char_lists)
    windex = {f: i for i, f in enumerate(wv)}
    cindex = {f: i for i, f in enumerate(cv)}
    x = design([(word_lists, windex, 0, WORD_FLOOR), (char_lists, cindex, len(wv), CHAR_FLOOR)], len(train))
    y = np.array([1.0 if e.category is not None else 0.0 for e in train])
    n = len(train)

    def grad(theta: np.ndarray) -> np.ndarray:
        w, b = theta[:-1], theta[-1]
        p = 1 / (1 + np.exp(-(x.dot(w) + b)))
        g = np.empty_like(theta)
        g[:-1] = x.tdot(p - y) / n + l2 * w
        g[-1] = float(np.sum(p - y)) / n
        return g

    theta = adam(grad, np.zeros(x.n_cols + 1))
    w = theta[:-1]
    return Detector(
        {f: float(w[i]) for f, i in windex.items()},
        {f: float(w[i + len(wv)]) for f, i in cindex.items()},
        float(theta[-1]),
    )


@dataclass
class Chooser:
    words: dict[str, list[float]]
    bias: list[float]

    def category(self, words: tuple[str, ...]) -> Category:
        totals = list(self.bias)
        feats = word_features(words)
        for f in feats:
            for j, weight in enumerate(self.words.get(f, ())):
                totals[j] += weight / math.sqrt(len(feats))
        return list(Category)[max(range(len(totals)), key=totals.__getitem__)]


def train_chooser(train: list[Example], l2: float = CHOOSER_L2) -> Chooser:
    told = [e for e in train if e.category is not None]
    word_lists = [word_features(e.words) for e in told]
    wv = vocabulary(word_lists)
    windex = {f: i for i, f in enumerate(wv)}
    x = design([(word_lists, windex, 0, 1)], len(told))
    k = len(Category)
    order = list(Category)
    y = np.zeros((len(told), k))
    for row, e in enumerate(told):
        y[row, order.index(e.category)] = 1.0  # type: ignore[arg-type]
    n = len(told)

    def grad(theta: np.ndarray) -> np.ndarray:
        w, b = theta[:-1], theta[-1]
        z = x.dot(w) + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = np.empty_like(theta)
        g[:-1] = x.tdot(p - y) / n + l2 * w
        g[-1] = (p - y).sum(axis=0) / n
        return g

    theta = adam(grad, np.zeros((x.n_cols + 1, k)))
    return Chooser({f: [float(v) for v in theta[i]] for f, i in windex.items()}, [float(v) for v in theta[-1]])


# Cross-validation


def folds(data: list[Example]) -> list[int]:
    """A fold number per example, stratified by category (ordinary sentences as their own)."""
    rng = np.random.default_rng(SEED)
    fold = [0] * len(data)
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(data):
        groups.setdefault(e.category.value if e.category else "", []).append(i)
    for key in sorted(groups):
        members = groups[key]
        for rank, i in enumerate(rng.permutation(len(members))):
            fold[members[int(i)]] = rank % FOLDS
    return fold


@dataclass
class Screened:
    """What the phrase book says of one example, and what its quiet contexts leave for the detector."""

    book: set[Category]
    first: Category | None
    unquiet: tuple[str, ...] | None  # the words outside quiet contexts, when there are any


def book_view(example: Example, book: PhraseBook) -> Screened:
    matches = screen(example.text, book)
    plain = list(example.words)
    quiet = [(s, e) for s, e, entry in book.find(plain) if entry.category is None]
    unquiet = tuple(w for i, w in enumerate(plain) if not any(s <= i < e for s, e in quiet)) if quiet else None
    return Screened({m.category for m in matches}, matches[0].category if matches else None, unquiet)


@dataclass
class OutOfFold:
    raw: list[float]
    masked: list[float]
    chosen: list[Category | None]


def cross_validate(data: list[Example], views: list[Screened], l2: float = DETECTOR_L2) -> OutOfFold:
    fold = folds(data)
    raw = [0.0] * len(data)
    masked = [0.0] * len(data)
    chosen: list[Category | None] = [None] * len(data)
    for k in range(FOLDS):
        train = [e for e, f in zip(data, fold, strict=True) if f != k]
        detector, chooser = train_detector(train, l2), train_chooser(train)
        for i, e in enumerate(data):
            if fold[i] == k:
                raw[i] = detector.score(e.words)
                unquiet = views[i].unquiet
                masked[i] = raw[i] if unquiet is None else detector.score(unquiet)
                chosen[i] = chooser.category(e.words)
    return OutOfFold(raw, masked, chosen)


@dataclass(frozen=True)
class Thresholds:
    """The detector's two cut-offs: at `fire` or above it raises a concern on its own; below
    `book_floor` it overrules a default phrase (the words are plainly ordinary talk: "my teacher
    will kill me if this essay is late")."""

    fire: float
    book_floor: float


def score_of(oof: OutOfFold, i: int) -> float:
    """As `screen()` reads the detector: it must hold on the whole message and on the words outside
    quiet contexts, so the lower of the two counts."""
    return min(oof.raw[i], oof.masked[i])


def flagged(views: list[Screened], oof: OutOfFold, i: int, cut: Thresholds) -> bool:
    """As `screen()` decides: a default phrase the detector does not overrule, or the detector alone."""
    score = score_of(oof, i)
    return (bool(views[i].book) and score >= cut.book_floor) or score >= cut.fire


def fires(oof: OutOfFold, i: int, cut: Thresholds) -> bool:
    return score_of(oof, i) >= cut.fire


def pick_thresholds(data: list[Example], views: list[Screened], oof: OutOfFold) -> Thresholds:
    """The pair, out of fold, that flags at most the target share of ordinary sentences and, within
    that, catches most of the worst-caught category (then most disclosures in all).

    For each candidate floor (the ordinary sentences' scores at every 2nd percentile up to the 90th,
    or no floor at all) the lowest `fire` within the target is found by counting down the sorted
    ordinary scores; each pair is then judged by its recall."""
    ordinary = [i for i, e in enumerate(data) if e.category is None]
    allowed = math.floor(TARGET_FALSE_ALARMS * len(ordinary))
    scores = sorted(score_of(oof, i) for i in ordinary)
    floors = [-math.inf] + [round(scores[len(scores) * p // 100], 4) for p in range(0, 91, 2)]
    by_category: dict[Category, list[int]] = {}
    for i, e in enumerate(data):
        if e.category is not None:
            by_category.setdefault(e.category, []).append(i)
    best: tuple[tuple[float, int], Thresholds] | None = None
    for floor in floors:
        book_alarms = {i for i in ordinary if views[i].book and score_of(oof, i) >= floor}
        rest = sorted((score_of(oof, i) for i in ordinary if i not in book_alarms), reverse=True)
        room = allowed - len(book_alarms)
        if room < 0:
            continue
        # The lowest cut that lets at most `room` of the other ordinary sentences through.
        fire = round(rest[room] + 1e-4, 4) if room < len(rest) else -math.inf
        cut = Thresholds(fire, floor)
        caught = {c: sum(flagged(views, oof, i, cut) for i in idx) for c, idx in by_category.items()}
        merit = (min(caught[c] / len(idx) for c, idx in by_category.items()), sum(caught.values()))
        if best is None or merit > best[0]:
            best = (merit, cut)
    return best[1] if best is not None else Thresholds(math.inf, -math.inf)


# What a report counts: per category (None: the ordinary sentences), the examples and how many of them
# the book, the classifier and both flagged, and how many both flagged under the right category.
Tally = dict[Category | None, Counter[str]]


def tally(data: list[Example], views: list[Screened], oof: OutOfFold, cut: Thresholds) -> Tally:
    counts: Tally = {key: Counter() for key in [*Category, None]}
    for i, e in enumerate(data):
        count = counts[e.category]
        count["n"] += 1
        count["book"] += bool(views[i].book)
        count["classifier"] += fires(oof, i, cut)
        both = flagged(views, oof, i, cut)
        count["both"] += both
        named = (views[i].first if score_of(oof, i) >= cut.book_floor else None) or oof.chosen[i]
        count["both right"] += both and named is e.category
    return counts


def print_tally(counts: Tally, title: str) -> None:
    print(f"\n{title}; caught, labelled right")
    print(f"  {'category':<30} {'book':>9} {'classifier':>11} {'both':>9} {'both right':>11}")
    for category in Category:
        c = counts[category]
        if not c["n"]:
            continue
        n = c["n"]
        print(
            f"  {category.label:<30} {c['book'] / n:>9.0%} {c['classifier'] / n:>11.0%}"
            f" {c['both'] / n:>9.0%} {c['both right'] / n:>11.0%}"
        )
    told = [counts[category] for category in Category]
    n, both = sum(c["n"] for c in told), sum(c["both"] for c in told)
    if n:
        print(f"  {'all disclosures':<30} {'':>9} {'':>11} {both / n:>9.1%}  ({both}/{n})")
    ordinary = counts[None]
    for name in ("book", "classifier", "both"):
        if ordinary["n"]:
            alarms, total = ordinary[name], ordinary["n"]
            print(f"  false alarms, {name:<11} {alarms:>4}/{total} = {alarms / total:.1%}")


def report(
    data: list[Example],
    views: list[Screened],
    oof: OutOfFold,
    cut: Thresholds,
    title: str,
    only: list[bool] | None = None,
) -> Tally:
    """Recall per category and false alarms: the book, the classifier, both; `only` picks the examples counted."""
    if only is not None:
        keep = [i for i, chosen in enumerate(only) if chosen]
        data = [data[i] for i in keep]
        views = [views[i] for i in keep]
        oof = OutOfFold([oof.raw[i] for i in keep], [oof.masked[i] for i in keep], [oof.chosen[i] for i in keep])
    counts = tally(data, views, oof, cut)
    print_tally(counts, f"{title} (fire at {cut.fire:.3f}, overrule a phrase below {cut.book_floor:.3f})")
    return counts


# The model file


def model_bytes(detector: Detector, chooser: Chooser, cut: Thresholds, digest: str) -> bytes:
    def r(value: float) -> float:
        return round(value, DIGITS)

    data = {
        "format": FORMAT,
        "corpus_sha256": digest,
        "trained_by": "bench/train_screening.py",
        "settings": {
            "seed": SEED,
            "folds": FOLDS,
            "target_false_alarms": TARGET_FALSE_ALARMS,
            "detector_l2": DETECTOR_L2,
            "chooser_l2": CHOOSER_L2,
            "min_count": MIN_COUNT,
            "steps": STEPS,
        },
        "detector": {
            "threshold": r(cut.fire),
            "book_floor": r(cut.book_floor) if math.isfinite(cut.book_floor) else None,
            "bias": r(detector.bias),
            "words": {f: r(w) for f, w in sorted(detector.words.items()) if r(w) != 0},
            "chars": {f: r(w) for f, w in sorted(detector.chars.items()) if r(w) != 0},
        },
        "chooser": {
            "categories": [c.value for c in Category],
            "bias": [r(b) for b in chooser.bias],
            "words": {f: [r(w) for w in ws] for f, ws in sorted(chooser.words.items()) if any(r(w) for w in ws)},
        },
    }
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def cross_writer_report(data: list[Example], views: list[Screened], names: list[str] | None = None) -> None:
    """For each blind writer: trained, and its threshold chosen by CV, on every other sentence; measured
    on that writer's. The nearest this corpus comes to a blind figure (the book was never tuned on those
    sentences, but the settings here were chosen knowing them, so it flatters a little). Last, every
    writer's counts added up (each measured with its own run's thresholds)."""
    pooled: Tally = {key: Counter() for key in [*Category, None]}
    names = names or list(BLIND_WRITERS)
    for name in names:
        ours = [i for i, e in enumerate(data) if e.writer != name]
        theirs = [i for i, e in enumerate(data) if e.writer == name]
        own, own_views = [data[i] for i in ours], [views[i] for i in ours]
        cut = pick_thresholds(own, own_views, cross_validate(own, own_views))
        detector, chooser = train_detector(own), train_chooser(own)
        test, test_views = [data[i] for i in theirs], [views[i] for i in theirs]
        raw = [detector.score(e.words) for e in test]
        masked = [r if v.unquiet is None else detector.score(v.unquiet) for r, v in zip(raw, test_views, strict=True)]
        oof = OutOfFold(raw, masked, [chooser.category(e.words) for e in test])
        counts = report(test, test_views, oof, cut, f"trained without the {name}, measured on its sentences")
        for key, count in counts.items():
            pooled[key].update(count)
    print_tally(pooled, f"{', '.join(names)}: each trained without ({len(names)} runs, counts added)")


def build(book: PhraseBook | None = None, verbose: bool = True, cross_writer: bool = False) -> bytes:
    """Cross-validate for the threshold, train on everything, and return the model file's bytes."""
    book = book or default_book()
    data = examples()
    views = [book_view(e, book) for e in data]
    started = time.process_time()
    oof = cross_validate(data, views)
    cut = pick_thresholds(data, views, oof)
    if verbose:
        print(f"{len(data)} sentences, {FOLDS}-fold CV in {time.process_time() - started:.1f} s of CPU")
        report(data, views, oof, cut, f"{FOLDS}-fold cross-validation, out of fold, every sentence")
        for name in BLIND_WRITERS:
            report(data, views, oof, cut, f"the same, the {name}'s sentences only", [e.writer == name for e in data])
    if verbose and cross_writer:
        cross_writer_report(data, views)
    detector, chooser = train_detector(data), train_chooser(data)
    return model_bytes(detector, chooser, cut, corpus_digest())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="is the shipped model trained on this corpus?")
    parser.add_argument("--search", action="store_true", help="CV figures for a few regularisation strengths")
    parser.add_argument(
        "--cross-writer", action="store_true", help="also train without each blind writer, test on their sentences"
    )
    parser.add_argument(
        "--writers",
        help="with --cross-writer: only these blind writers (comma-separated, part of each name), and write no model",
    )
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}")
    if args.check:
        shipped = json.loads(gzip.decompress(MODEL_PATH.read_bytes()))
        current = shipped.get("corpus_sha256") == corpus_digest()
        print("the shipped model is current" if current else "the corpus changed since the model was trained")
        raise SystemExit(0 if current else 1)
    if args.search:
        book = default_book()
        data = examples()
        views = [book_view(e, book) for e in data]
        for l2 in (1e-4, 3e-4, 1e-3, 3e-3):
            oof = cross_validate(data, views, l2)
            report(data, views, oof, pick_thresholds(data, views, oof), f"detector L2 {l2:g}")
        return
    if args.cross_writer and args.writers:
        names = [n for part in args.writers.split(",") for n in BLIND_WRITERS if part.strip() in n]
        book = default_book()
        data = examples()
        cross_writer_report(data, [book_view(e, book) for e in data], names)
        return
    blob = build(cross_writer=args.cross_writer)
    args.out.write_bytes(blob)
    print(f"\nwrote {args.out} ({len(blob) / 1e6:.2f} MB, corpus {corpus_digest()[:12]})")


if __name__ == "__main__":
    main()
