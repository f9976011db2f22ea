"""A school's phrase book: the default lists with that school's own additions and removals, indexed
for matching."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from handlers.safeguarding.categories import Category
from handlers.safeguarding.normalise import normalise
from handlers.safeguarding.patterns import GAP, MAX_GAP, expand
from handlers.safeguarding.phrases import CLASSES, DEFAULTS, QUIET


@dataclass(frozen=True, slots=True)
class Entry:
    """Where a plain phrase came from: its category (None for a quiet context) and the pattern as
    it is listed, so `phrases list|remove` can name it."""

    category: Category | None
    pattern: str
    # The school's own phrase: it always raises its concern, where a default one may be overruled by
    # the classifier when the words around it read as plainly ordinary (handlers/safeguarding/screen.py).
    own: bool = False


@dataclass(frozen=True, slots=True)
class Listed:
    category: Category | None
    pattern: str
    default: bool


class PhraseBook:
    """The defaults, plus a school's additions (category value and pattern, or "quiet" for a quiet
    context), minus its removals (a listed pattern, or any phrase one stands for: removing "kms"
    silences "kms" and everything that normalises like it)."""

    def __init__(
        self,
        additions: Iterable[tuple[str, str]] = (),
        removals: Iterable[str] = (),
        *,
        defaults: Mapping[Category, tuple[str, ...]] = DEFAULTS,
        quiet: tuple[str, ...] = QUIET,
        classes: Mapping[str, tuple[str, ...]] = CLASSES,
    ) -> None:
        removed = {normalise(removal) for removal in removals}
        removed.discard("")
        listed = [Listed(category, pattern, True) for category, patterns in defaults.items() for pattern in patterns]
        listed += [Listed(None, pattern, True) for pattern in quiet]
        for category, pattern in additions:
            listed.append(Listed(None if category == "quiet" else Category(category), pattern, False))
        self.listed: tuple[Listed, ...] = tuple(item for item in listed if normalise(item.pattern) not in removed)
        # A school's book shares the default book's tree (tens of megabytes: the "..." patterns
        # stand for many thousands of phrases) and builds only its own additions; its removals
        # are left out of what the shared tree finds.
        shared = defaults is DEFAULTS and quiet is QUIET and classes is CLASSES and bool(additions or removed)
        self._base = default_book() if shared else None
        own = [item for item in self.listed if not item.default] if shared else list(self.listed)
        self._removed = removed
        self._gone = {Entry(item.category, item.pattern) for item in listed if item.default} - {
            Entry(item.category, item.pattern) for item in self.listed if item.default
        }
        index: dict[tuple[str, ...], list[Entry]] = {}
        for item in own:
            entry = Entry(item.category, item.pattern, not item.default)
            for phrase in expand(item.pattern, classes):
                if " ".join(phrase) in removed:
                    continue
                entries = index.setdefault(phrase, [])
                if entry not in entries:
                    entries.append(entry)
        # The phrases this book holds itself (a school's book: its additions only).
        self.index: dict[tuple[str, ...], tuple[Entry, ...]] = {key: tuple(value) for key, value in index.items()}
        # A tree of words: a phrase is found by walking it from each word of the text, and most
        # walks stop at the first word (measured against one compiled pattern and an Aho-Corasick
        # automaton in bench/safeguarding_bench.py).
        self.tree = _Node()
        for phrase, sources in self.index.items():
            node = self.tree
            for word in phrase:
                node = node.children.setdefault(word, _Node())
            node.entries = sources

    def find(self, words: list[str]) -> list[tuple[int, int, Entry]]:
        """Every phrase in a list of normalised words, as (first word, one past the last, entry);
        overlapping phrases are all found."""
        found: list[tuple[int, int, Entry]] = []
        root = self.tree.children
        for start, word in enumerate(words):
            node = root.get(word)
            if node is not None:
                _walk(node, words, start, start + 1, found)
        if self._base is not None:
            found += [
                (start, end, entry)
                for start, end, entry in self._base.find(words)
                if entry not in self._gone and not self._removes(words, start, end, entry)
            ]
        return found

    def _removes(self, words: list[str], start: int, end: int, entry: Entry) -> bool:
        """Is this match of the shared book a phrase the school removed ("kms" and all it stands for)?"""
        if not self._removed or self._base is None:
            return False
        key = tuple(words[start:end])
        return " ".join(key) in self._removed and entry in self._base.index.get(key, ())


def _walk(node: _Node | None, words: list[str], start: int, end: int, found: list[tuple[int, int, Entry]]) -> None:
    """Follow the tree from a node reached at `end`, word by word, then through each "..." met on
    the way by skipping up to MAX_GAP words (after, so that of two phrases over the same words the
    one written without a gap is found first and named)."""
    count = len(words)
    gaps: list[tuple[_Node, int]] = []
    while node is not None:
        for entry in node.entries:
            found.append((start, end, entry))
        gap = node.children.get(GAP)
        if gap is not None:
            gaps.append((gap, end))
        if end == count:
            break
        node = node.children.get(words[end])
        end += 1
    for gap, at in gaps:
        for after in range(at, min(count, at + MAX_GAP + 1)):
            _walk(gap.children.get(words[after]), words, start, after + 1, found)


class _Node:
    __slots__ = ("children", "entries")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.entries: tuple[Entry, ...] = ()


_DEFAULT_BOOK: PhraseBook | None = None
_BUILDING = threading.Lock()


def default_book() -> PhraseBook:
    """The book with no school's changes, built once (about 0.8 s of CPU). Once per process, not once
    per thread: steps run in worker threads, and several first messages at once each built their own
    copy (measured: 113 -> 516 MB in a burst of 50 pupils), all but one thrown away."""
    global _DEFAULT_BOOK
    if _DEFAULT_BOOK is None:
        with _BUILDING:
            if _DEFAULT_BOOK is None:
                _DEFAULT_BOOK = PhraseBook()
    return _DEFAULT_BOOK
