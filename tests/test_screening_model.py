"""The trained screening classifier beside the phrase book (handlers/safeguarding/classifier.py):
what it catches and keeps quiet, how it meets a school's own phrases, a missing or damaged model
file, and that the shipped model is what bench/train_screening.py makes of the corpus."""

from __future__ import annotations

import gzip
import json
import sys
import tracemalloc
from pathlib import Path
from random import Random

import pytest

from handlers.safeguarding import (
    CLASSIFIER_PHRASE,
    Category,
    ModelError,
    PhraseBook,
    default_book,
    default_classifier,
    screen,
)
from handlers.safeguarding import classifier as model_module
from handlers.safeguarding.classifier import MODEL_PATH, load
from handlers.safeguarding.normalise import plain_words

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import train_screening  # noqa: E402

MODEL = default_classifier()
BOOK = default_book()
EMPTY_DEFAULTS: dict[Category, tuple[str, ...]] = {category: () for category in Category}
EMPTY = PhraseBook(defaults=EMPTY_DEFAULTS, quiet=(), classes={})

# The issue's examples: the classifier must catch each on its own, without the phrase book.
ISSUE_DISCLOSURES = (
    "mum's boyfriend says I'll regret it if I tell",
    "My step-dad hit me… scared to go home",
    "I want to hurt myself",
    "kms",
    "wanna die",
)
# The issue's ordinary careers talk, and more like it: quiet with the book and the classifier together.
ISSUE_ORDINARY = (
    "smashed the interview",
    "shoot for the top",
    "cut the ribbon",
    "the vet treated an injured cat",
    "a history essay on child labour",
    "I smashed the interview at the garage!",
    "my tutor told me to shoot for the top",
    "we cut the ribbon at the new sports hall",
    "I wrote a history essay on child labour",
    "killed it in the exam today",
    "my phone died on the way to work experience",
    "I'm dying to start my apprenticeship",
    "I need help with my personal statement",
    "we learned about cyberbullying in PSHE",
    "I burnt the toast in food tech",
)


# Short replies a pupil types inside Waymark's own steps: a classifier trained on sentences once took
# "Yes please" and "no" for disclosures (a lone word weighed like a sentence).
EVERYDAY = (
    "Yes please",
    "no",
    "ok",
    "/stop",
    "Keep it",
    "Where are you now?",
    "food",
    "Ben",
    "Keep as they are",
    "nursing, game design & <animation>",
    # A pasted run of letters: its n-grams once added up until it read as self-harm.
    "Supercalifragilistic" * 30 + " https://example.org/" + "x" * 200,
    "Pneumonoultramicroscopicsilicovolcanoconiosis " * 5,
)


# A bare "wanna die" is as often a joke as not in our writers' ordinary messages ("wanna die this
# homework is so long"), so since the eighth round the classifier alone may stop short of firing on
# it; the book's phrase raises it, and the classifier scores it well above the floor where it would
# overrule that phrase.
BOOK_CATCHES = ("wanna die",)

# Not in EVERYDAY since the tenth round's 4% false-alarm target (bench/train_screening.py): "Something I
# do not want to keep" (and the corpus's "i dont want to keep that one") now scores above where the
# detector fires, since "do not want to" weighs towards a disclosure ("i do not want to go home").
# The price of catching more self-harm, said in README ("How well it does").


def test_the_issues_examples_are_caught_and_careers_talk_kept_quiet() -> None:
    for text in ISSUE_DISCLOSURES:
        assert screen(text, BOOK, MODEL), text
        assert MODEL.score(plain_words(text)[0]) > MODEL.book_floor + 1, text
        if text in BOOK_CATCHES:
            assert screen(text, BOOK) != [], text
            continue
        assert MODEL.fires(plain_words(text)[0]), text
        [match] = screen(text, EMPTY, MODEL)  # no phrase at all: only the classifier can raise it
        assert match.phrase == CLASSIFIER_PHRASE
        start, end = match.span
        assert 0 <= start < end <= len(text)
    for text in (*ISSUE_ORDINARY, *EVERYDAY):
        assert screen(text, BOOK, MODEL) == [], text
    assert screen("", BOOK, MODEL) == [] and screen("🙂 !!", BOOK, MODEL) == []


def test_a_classifier_match_names_itself_a_category_and_the_words_that_weighed() -> None:
    text = "i want to hurt myself"
    [match] = screen(text, EMPTY, MODEL)
    assert match.category is Category.self_harm
    assert "hurt" in text[match.span[0] : match.span[1]]
    # The book's phrase, when there is one, is what a concern names: the classifier adds nothing.
    assert [m.phrase for m in screen(text, BOOK, MODEL)] == [m.phrase for m in screen(text, BOOK)]


def test_a_schools_quiet_context_quiets_the_classifier_too() -> None:
    # A book of no phrases but the school's one quiet context, so that only the classifier speaks.
    text = "i want to hurt myself"
    assert screen(text, EMPTY, MODEL)
    quieted = PhraseBook(additions=[("quiet", "i want to hurt myself")], defaults=EMPTY_DEFAULTS, quiet=(), classes={})
    assert screen(text, quieted, MODEL) == []
    assert screen(f"In drama my line was {text}!", quieted, MODEL) == []
    # Words outside the quiet context still count.
    [match] = screen(f"{text}. kms", quieted, MODEL)
    assert match.phrase == CLASSIFIER_PHRASE and f"{text}. kms"[match.span[0] : match.span[1]] == "kms"


def test_removing_a_phrase_leaves_the_classifier_screening() -> None:
    # `phrases remove` takes a phrase out of the book, as it says; the classifier still screens
    # (README, "The phrase lists"), so "kms" is still raised, by the classifier.
    book = PhraseBook(removals=["kms"])
    assert screen("kms", book) == []
    [match] = screen("kms", book, MODEL)
    assert match.phrase == CLASSIFIER_PHRASE and match.category is Category.self_harm


def test_a_missing_or_damaged_model_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="missing"):
        load(tmp_path / "none.json.gz")
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(MODEL_PATH.read_bytes()[:1000])
    with pytest.raises(ModelError, match="cannot be read"):
        load(broken)
    data = json.loads(gzip.decompress(MODEL_PATH.read_bytes()))
    del data["detector"]["chars"]
    malformed = tmp_path / "malformed.json.gz"
    malformed.write_bytes(gzip.compress(json.dumps(data).encode()))
    with pytest.raises(ModelError, match="malformed"):
        load(malformed)
    # What a process loads at start-up: the shipped path, once.
    monkeypatch.setattr(model_module, "MODEL_PATH", tmp_path / "none.json.gz")
    monkeypatch.setattr(model_module, "_DEFAULT", None)
    with pytest.raises(ModelError, match="missing"):
        default_classifier()


def test_the_shipped_model_was_trained_on_the_corpus_as_it_stands() -> None:
    shipped = json.loads(gzip.decompress(MODEL_PATH.read_bytes()))
    assert shipped["corpus_sha256"] == train_screening.corpus_digest(), (
        "the corpus changed: retrain with .venv/bin/python bench/train_screening.py"
    )
    assert shipped["settings"]["seed"] == train_screening.SEED
    assert shipped["detector"]["threshold"] == MODEL.threshold
    assert shipped["detector"]["book_floor"] == MODEL.book_floor < MODEL.threshold


def test_training_is_deterministic() -> None:
    # A slice of the corpus, trained twice: the same bytes (the whole run is bench/train_screening.py).
    data = train_screening.examples()
    sample = data[::12]
    blobs = {
        train_screening.model_bytes(
            train_screening.train_detector(sample),
            train_screening.train_chooser(sample),
            train_screening.Thresholds(fire=1.0, book_floor=-2.0),
            "digest",
        )
        for _ in range(2)
    }
    assert len(blobs) == 1
    model = model_module.Classifier(json.loads(gzip.decompress(blobs.pop())))
    assert model.threshold == 1.0 and model.book_floor == -2.0 and model.word_weights


# Sentences of the tuning half the phrase book alone flags, whose words read as ordinary talk.
OVERRULED = (
    "i need to get this essay done or my teacher will kill me",
    "my brother is a boxer and he punched so hard in his fight he won",
    "my phone is on 2% and im gonna die without spotify",
)


@pytest.mark.parametrize("text", OVERRULED)
def test_the_classifier_overrules_a_default_phrase_in_plainly_ordinary_words(text: str) -> None:
    assert screen(text, BOOK), "the book alone flags this"
    assert MODEL.score(plain_words(text)[0]) < MODEL.book_floor
    assert screen(text, BOOK, MODEL) == []


@pytest.mark.parametrize("text", OVERRULED)
def test_a_schools_own_phrase_is_never_overruled(text: str) -> None:
    book = PhraseBook(additions=[("unsafe", "will kill me"), ("self_harm", "gonna die"), ("harm_by_adult", "punched")])
    assert screen(text, book, MODEL), "the school listed it: it raises whatever the classifier reads"


def test_a_default_phrase_in_a_disclosure_is_not_overruled() -> None:
    for text in ("my step dad hit me and im scared to go home", "i want to kill myself", "he touched me down there"):
        matches = screen(text, BOOK, MODEL)
        assert matches and matches[0].phrase != CLASSIFIER_PHRASE, text  # the book's phrase, not the model's


def test_long_pasted_words_are_screened_but_not_kept() -> None:
    # Screening keeps what it has worked out about each word, bounded in count; a "word" of thousands
    # of letters (pasted, or sent to fill the server's memory) is screened like any other and not kept.
    random = Random(10)
    messages = ["".join(random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(4000)) for _ in range(300)]
    screen(messages[0], BOOK, MODEL)  # whatever the first call sets up, before counting
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for message in messages:
            assert screen(message, BOOK, MODEL) == []
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 300_000, f"{kept} bytes kept after 300 messages of 4,000 letters"
