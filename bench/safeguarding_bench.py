"""Safeguarding screening benchmark: how much it catches, how often it cries wolf, what it costs.

    .venv/bin/python bench/safeguarding_bench.py
    .venv/bin/python bench/safeguarding_bench.py --misses        # also list what the tuning half misses
    .venv/bin/python bench/safeguarding_bench.py --tuning-only --misses   # while tuning: no held-apart figures

Reads the corpus in bench/safeguarding_corpus/ (disclosures by category, ordinary journal and careers
sentences, each split once into a tuning half and a held-apart half) and prints recall per category
(a disclosure counts as caught when screening raises any concern for it, and as labelled right when
one of its concerns has the disclosure's category) and the false-alarm rate on ordinary sentences,
for the phrase book alone, the shipped classifier alone (with the book's quiet contexts) and both
together (what Waymark runs): on the tuning half, in sample (the classifier was trained on it and the
book tuned on it, so these flatter both); as k-fold cross-validation on the tuning half (the
classifier retrained on each fold's rest by bench/train_screening.py; the book is still in sample);
and on the held-apart half when its files are not empty. Only the tuning half's misses are ever
listed: the phrase lists are tuned on it.

Then the CPU cost of screening one message, median and p99 over every sentence of the corpus, each
sentence timed over a batch of calls with time.process_time_ns (CPU time: on a shared machine a
wall clock would count the time other processes ran), against a floor measured in the same run: a bare
`str.casefold()` and one `in` test. The normaliser caches words it has seen (as a running process
would); the cost with that cache emptied before every call is printed too.

Last, the matching approaches the choice was made on, all over the same normalised words and the
same phrase book (less its phrases with a "..." gap, which neither a plain alternation nor an
automaton can hold, so those two screen some sentences differently): the tree of words Waymark uses (stdlib dicts), one compiled `re` alternation, a
pyahocorasick automaton, and rapidfuzz correcting misspelt words before the word tree. The
libraries are optional here (`.venv/bin/pip install pyahocorasick rapidfuzz`; Waymark itself needs
neither): a missing one is reported and skipped. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handlers.safeguarding import Category, Classifier, PhraseBook, default_book, default_classifier, screen  # noqa: E402
from handlers.safeguarding.book import Entry  # noqa: E402
from handlers.safeguarding.normalise import forget_words, plain_words, words  # noqa: E402
from handlers.safeguarding.patterns import GAP  # noqa: E402

CORPUS = ROOT / "bench" / "safeguarding_corpus"
HALVES = ("tuning", "heldout")


@dataclass(frozen=True)
class Corpus:
    disclosures: list[tuple[Category, str]]
    ordinary: list[str]


def load(half: str) -> Corpus:
    """One half of the corpus; a missing file reads as empty (the held-apart half may be kept
    outside the repository until it is measured)."""
    disclosures = []
    tsv, txt = CORPUS / f"disclosures_{half}.tsv", CORPUS / f"ordinary_{half}.txt"
    for line in (tsv.read_text(encoding="utf-8") if tsv.exists() else "").splitlines():
        if line.strip():
            category, text = line.split("\t", 1)
            disclosures.append((Category(category), text))
    ordinary = [line for line in (txt.read_text(encoding="utf-8") if txt.exists() else "").splitlines() if line]
    return Corpus(disclosures, ordinary)


Screener = Callable[[str], set[Category]]


def book_screener(book: PhraseBook) -> Screener:
    return lambda text: {match.category for match in screen(text, book)}


def both_screener(book: PhraseBook, model: Classifier) -> Screener:
    """What Waymark runs: the book, and the classifier when the book finds nothing."""
    return lambda text: {match.category for match in screen(text, book, model)}


def classifier_screener(book: PhraseBook, model: Classifier) -> Screener:
    """The classifier alone: no phrase of the book raises anything, its quiet contexts still hold."""

    def run(text: str) -> set[Category]:
        plain = plain_words(text)[0]
        if not plain or not model.fires(plain):
            return set()
        quiet = [(s, e) for s, e, entry in book.find(plain) if entry.category is None]
        unquiet = [w for i, w in enumerate(plain) if not any(s <= i < e for s, e in quiet)]
        if quiet and (not unquiet or not model.fires(unquiet)):
            return set()
        return {model.category(unquiet)}

    return run


def report_quality(name: str, corpus: Corpus, screener: Screener, show_misses: bool) -> tuple[float, float]:
    print(f"\n{name}: {len(corpus.disclosures)} disclosures, {len(corpus.ordinary)} ordinary sentences")
    print(f"  {'category':<30} {'caught':>12} {'labelled right':>16}")
    worst = 1.0
    for category in Category:
        texts = [text for cat, text in corpus.disclosures if cat == category]
        found = [screener(text) for text in texts]
        caught = sum(1 for categories in found if categories)
        right = sum(1 for categories in found if category in categories)
        worst = min(worst, caught / len(texts))
        print(
            f"  {category.label:<30} {caught:>3}/{len(texts):<3} {caught / len(texts):>5.0%}"
            f" {right:>7}/{len(texts):<3} {right / len(texts):>5.0%}"
        )
        if show_misses:
            for text, categories in zip(texts, found, strict=True):
                if not categories:
                    print(f"      missed: {text}")
    caught_all = sum(1 for _, text in corpus.disclosures if screener(text))
    print(
        f"  {'all categories':<30} {caught_all:>3}/{len(corpus.disclosures):<3} {caught_all / len(corpus.disclosures):>5.0%}"
    )
    alarms = [(text, screener(text)) for text in corpus.ordinary]
    false = [(text, cats) for text, cats in alarms if cats]
    rate = len(false) / len(corpus.ordinary)
    print(f"  false alarms on ordinary sentences: {len(false)}/{len(corpus.ordinary)} = {rate:.1%}")
    if show_misses:
        for text, cats in false:
            print(f"      alarm: {text}  ({', '.join(sorted(c.value for c in cats))})")
    return worst, rate


def per_call_ns(function: Callable[[str], object], text: str, repeat: int) -> float:
    start = time.process_time_ns()
    for _ in range(repeat):
        function(text)
    return (time.process_time_ns() - start) / repeat


def cost(function: Callable[[str], object], texts: list[str], repeat: int) -> tuple[float, float]:
    """Median and p99 over the texts of the time of one call, in microseconds."""
    for text in texts:  # warm up: first calls build caches the steady state has
        function(text)
    samples = sorted(per_call_ns(function, text, repeat) for text in texts)
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    return statistics.median(samples) / 1000, p99 / 1000


def floor(text: str) -> bool:
    return "kill myself" in text.casefold()


# The other matching approaches, over the same normalised words and the same book.


def regex_finder(book: PhraseBook) -> Callable[[list[str]], list[tuple[int, int, Entry]]]:
    """One compiled alternation of every phrase, longest first; a lookahead finds overlapping ones."""
    phrases = sorted((" ".join(key) for key in book.index if GAP not in key), key=len, reverse=True)
    pattern = re.compile(r"(?<= )(?=(" + "|".join(re.escape(p) for p in phrases) + r") )")

    def find(plain: list[str]) -> list[tuple[int, int, Entry]]:
        text = " " + " ".join(plain) + " "
        found = []
        for hit in pattern.finditer(text):
            start = text.count(" ", 0, hit.start(1)) - 1
            key = tuple(hit.group(1).split())
            found += [(start, start + len(key), entry) for entry in book.index[key]]
        return found

    return find


def aho_finder(book: PhraseBook) -> Callable[[list[str]], list[tuple[int, int, Entry]]] | None:
    try:
        import ahocorasick
    except ImportError:
        return None
    automaton = ahocorasick.Automaton()
    for key, entries in book.index.items():
        if GAP in key:
            continue
        automaton.add_word(" " + " ".join(key) + " ", (len(key), entries))
    automaton.make_automaton()

    def find(plain: list[str]) -> list[tuple[int, int, Entry]]:
        text = " " + " ".join(plain) + " "
        found = []
        for end, (size, entries) in automaton.iter(text):
            last = text.count(" ", 0, end) - 1
            found += [(last - size, last, entry) for entry in entries]
        return found

    return find


def rapidfuzz_corrector(book: PhraseBook) -> Callable[[list[str]], list[str]] | None:
    try:
        from rapidfuzz import fuzz, process
    except ImportError:
        return None
    vocabulary = sorted({word for key in book.index for word in key})
    known = set(vocabulary)
    long_words = [word for word in vocabulary if len(word) >= 5]

    def correct(plain: list[str]) -> list[str]:
        out = []
        for word in plain:
            if len(word) >= 5 and word not in known:
                best = process.extractOne(word, long_words, scorer=fuzz.ratio, score_cutoff=85)
                if best is not None:
                    word = best[0]
            out.append(word)
        return out

    return correct


def screener_from(book: PhraseBook, find: Callable[[list[str]], list[tuple[int, int, Entry]]]) -> Screener:
    """Screening with another finder in place of the word tree: same words, same quiet rule."""

    def run(text: str) -> set[Category]:
        found = find([word.text for word in words(text)])
        quiet = [(s, e) for s, e, entry in found if entry.category is None]
        return {
            entry.category
            for s, e, entry in found
            if entry.category is not None and not any(qs < e and s < qe for qs, qe in quiet)
        }

    return run


def held_by(build: Callable[[], object]) -> tuple[int, int]:
    """Bytes a freshly built object holds, and the peak while building it, from a build under
    tracemalloc (which slows building several times over, so no time is taken here)."""
    tracemalloc.start()
    built = build()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del built
    return held, peak


def cross_validation() -> None:
    """k-fold CV of the classifier on the tuning half, as bench/train_screening.py chooses its thresholds."""
    import train_screening as training

    data = training.examples()
    views = [training.book_view(example, default_book()) for example in data]
    started = time.process_time()
    oof = training.cross_validate(data, views)
    cut = training.pick_thresholds(data, views, oof)
    print(f"\n{training.FOLDS}-fold cross-validation on the tuning half ({time.process_time() - started:.1f} s of CPU)")
    print("  (the classifier retrained without each fold; the phrase book is in sample except on the blind")
    print("  sets' sentences, which it was never tuned on)")
    training.report(data, views, oof, cut, "tuning half, k-fold CV")
    for name in training.BLIND_WRITERS:
        only = [example.writer == name for example in data]
        training.report(data, views, oof, cut, f"tuning half, k-fold CV, the {name}'s sentences", only)
    print(f"  load average: {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--misses", action="store_true", help="list the tuning half's misses and false alarms")
    parser.add_argument("--repeat", type=int, default=200, help="calls per sentence when timing")
    parser.add_argument(
        "--tuning-only",
        action="store_true",
        help="report the tuning half only, not the held-apart half, and time nothing (for tuning)",
    )
    args = parser.parse_args()

    started, cpu = time.perf_counter(), time.process_time()
    book = default_book()
    print(
        f"phrase book: {len(book.listed)} patterns, {len(book.index)} plain phrases, built in "
        f"{time.perf_counter() - started:.2f} s ({time.process_time() - cpu:.2f} s of CPU)"
    )
    # Its memory, from a second build under tracemalloc (which slows building several times over,
    # so the time above is taken without it): every test worker and every process holds this.
    held, peak = held_by(PhraseBook)
    print(f"  memory held by one book: {held / 1e6:.0f} MB (peak while building {peak / 1e6:.0f} MB)")
    print(f"load average before: {os.getloadavg()}")

    started = time.process_time()
    model = default_classifier()
    print(
        f"classifier: {len(model.word_weights)} word and {len(model.char_weights)} character features, "
        f"loaded in {time.process_time() - started:.3f} s of CPU, fires at {model.threshold}, "
        f"overrules a default phrase below {model.book_floor}"
    )
    from handlers.safeguarding.classifier import load as load_model

    held, _ = held_by(load_model)
    print(f"  memory held by the classifier: {held / 1e6:.1f} MB")

    corpora = {half: load(half) for half in HALVES}
    own = book_screener(book)
    screeners = (
        ("phrase book alone", own),
        ("classifier alone", classifier_screener(book, model)),
        ("both (what Waymark runs)", both_screener(book, model)),
    )
    for name, screener in screeners:
        report_quality(f"tuning half, IN SAMPLE, {name}", corpora["tuning"], screener, args.misses and screener is own)
    if args.tuning_only:
        return
    cross_validation()
    if corpora["heldout"].disclosures and corpora["heldout"].ordinary:
        for name, screener in screeners:
            worst, rate = report_quality(f"HELD-APART half, {name}", corpora["heldout"], screener, False)
            print(f"  goals: recall >= 95% in every category (lowest {worst:.0%}), false alarms <= 5% ({rate:.1%})")
    else:
        print("\nno held-apart set: the held-apart files are empty, so no figure here says how well")
        print("  screening does on sentences it was not tuned on (see bench/safeguarding_corpus/README.md)")

    texts = [text for corpus in corpora.values() for _, text in corpus.disclosures] + [
        text for corpus in corpora.values() for text in corpus.ordinary
    ]
    print(f"\nCPU per message over {len(texts)} sentences, {args.repeat} calls each (median / p99, microseconds)")
    print(f"  load average: {os.getloadavg()}")
    floor_median, floor_p99 = cost(floor, texts, args.repeat)
    print(f"  floor (casefold + one `in`)              {floor_median:7.2f} / {floor_p99:7.2f}")
    median, p99 = cost(lambda text: screen(text, book), texts, args.repeat)
    print(f"  screen(), book alone, words cache warm   {median:7.2f} / {p99:7.2f}")
    median, p99 = cost(lambda text: screen(text, book, model), texts, args.repeat)
    print(f"  screen(), book and classifier (Waymark)  {median:7.2f} / {p99:7.2f}   (goal: well under 200)")

    def cold(text: str) -> object:
        forget_words()
        return screen(text, book, model)

    cold_median, cold_p99 = cost(cold, texts, max(1, args.repeat // 10))
    print(f"  screen(), words cache emptied each call  {cold_median:7.2f} / {cold_p99:7.2f}")
    plain_lists = [[word.text for word in words(text)] for text in texts]

    def time_finder(name: str, find: Callable[[list[str]], object], repeat: int = args.repeat) -> None:
        samples = sorted(per_call_ns(find, plain, repeat) for plain in plain_lists)  # type: ignore[arg-type]
        p99_ = samples[round(0.99 * (len(samples) - 1))]
        print(f"  {name:<40} {statistics.median(samples) / 1000:7.2f} / {p99_ / 1000:7.2f}")

    print("\nmatching alone, on words already normalised (median / p99, microseconds)")
    time_finder("word tree (stdlib dicts, chosen)", book.find)
    started = time.perf_counter()
    regex = regex_finder(book)
    print(f"  (re alternation compiled in {time.perf_counter() - started:.2f} s)")
    time_finder("one compiled re alternation", regex, repeat=3)  # about a millisecond a call
    started = time.perf_counter()
    aho = aho_finder(book)
    if aho is None:
        print("  pyahocorasick not installed: skipped")
    else:
        print(f"  (automaton built in {time.perf_counter() - started:.2f} s)")
        time_finder("pyahocorasick automaton", aho)
    corrector = rapidfuzz_corrector(book)
    if corrector is None:
        print("  rapidfuzz not installed: skipped")
    else:
        time_finder("rapidfuzz correction alone", corrector, repeat=max(1, args.repeat // 10))
        corrected = screener_from(book, lambda plain: book.find(corrector(plain)))
        for half in (half for half in HALVES if corpora[half].disclosures and corpora[half].ordinary):
            print(f"\n  with rapidfuzz correcting misspellings, {half} half:")
            report_quality(f"  rapidfuzz + word tree, {half}", corpora[half], corrected, False)
    for name, finder in (("re alternation", regex), ("pyahocorasick", aho)):
        if finder is not None:
            differ = sum(1 for text in texts if screener_from(book, finder)(text) != own(text))
            print(f"  {name}: {differ} sentences screened differently from the word tree")
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
