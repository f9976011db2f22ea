"""Safeguarding screening (handlers.safeguarding): the normaliser, the phrase book and screen().

Pure code, no database: these run in a few seconds. The sample sentences here are written for the
tests and are not the benchmark corpus (bench/safeguarding_corpus/), which stays the lists' yardstick.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.safeguarding import Category, PhraseBook, default_book, normalise, screen
from handlers.safeguarding.patterns import GAP, MAX_EXPANSIONS, MAX_GAP, PatternError, expand
from handlers.safeguarding.phrases import CLASSES, DEFAULTS, QUIET
from handlers.safeguarding.spelling import SHORTHAND

BOOK = default_book()

SAMPLES: dict[Category, tuple[str, ...]] = {
    Category.harm_by_adult: (
        "My step-dad hit me and I'm scared",
        "mums boyfriend says ill regret it if i tell",
        "dad threw a plate at me last night",
    ),
    Category.sexual_abuse: (
        "my uncle touches me when we're alone",
        "he comes into my room at night",
        "they make me carry packages for them and say i owe them",
    ),
    Category.grooming: (
        "a guy on snapchat keeps asking me for pics",
        "he said its our little secret and to delete the chat",
        "someone online wants to meet me on my own",
    ),
    Category.self_harm: ("I want to hurt myself", "kms", "i wanna die", "ive been cutting myself"),
    Category.neglect: ("there's no food in the house again", "mum left us on our own all weekend"),
    Category.domestic_abuse: ("dad hits mum when he's drunk", "the police came round because he was hurting mum"),
    Category.bullying: ("they call me names every day", "im being bullied on insta"),
    Category.unsafe: ("I don't feel safe at home", "someone keeps following me home"),
    Category.radicalisation: ("they want a race war", "i want to join isis"),
}

ORDINARY = (
    "I smashed the interview at the garage!",
    "my tutor told me to shoot for the top",
    "we cut the ribbon at the new sports hall",
    "the vet treated an injured cat while I watched",
    "I wrote a history essay on child labour",
    "killed it in the exam today",
    "my phone died on the way to work experience",
    "I'm dying to start my apprenticeship",
    "I need help with my personal statement",
    "my coach pushes me to do better",
    "we learned about cyberbullying in PSHE",
    "I burnt the toast in food tech",
)


def categories(text: str, book: PhraseBook = BOOK) -> set[Category]:
    return {match.category for match in screen(text, book)}


# The normaliser


@pytest.mark.parametrize(
    ("typed", "plain"),
    [
        ("I’m SOOO scared", "i am so scared"),
        ("I'm so scared", "i am so scared"),
        ("im so scared", "i am so scared"),
        ("Don’t / don't / dont", "do not do not do not"),
        ("pleeease", normalise("please")),
        ("hiiit me", normalise("hit me")),
        ("Café Zoë", "cafe zoe"),
        ("k1ll mys3lf", normalise("kill myself")),
        ("kms", normalise("kill myself")),
        ("wanna die", "want to die"),
        ("step-dad", "step dad"),
        ("Year 10", "year 10"),
        ("", ""),
        ("🙂 !!", ""),
    ],
)
def test_normalise_folds_how_young_people_write(typed: str, plain: str) -> None:
    assert normalise(typed) == plain


def test_shorthand_words_are_already_plain() -> None:
    # A word that shorthand produces must not itself be shorthand: normalising twice changes nothing.
    for plain in SHORTHAND.values():
        for word in plain:
            assert word not in SHORTHAND, word
            assert normalise(word) == word


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once


# screen()


@pytest.mark.parametrize(("category", "text"), [(c, t) for c, texts in SAMPLES.items() for t in texts])
def test_each_category_sample_matches_its_category(category: Category, text: str) -> None:
    assert category in categories(text)


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_careers_talk_stays_quiet(text: str) -> None:
    assert screen(text, BOOK) == []


# A school that adds blunt single words still hears nothing from ordinary careers talk: the quiet
# contexts hold. (Most defaults are phrases that never meet these sentences in the first place.)
BLUNT_WORDS: dict[Category, tuple[str, ...]] = {
    Category.bullying: ("smashed", "cyberbullying"),
    Category.radicalisation: ("shoot",),
    Category.self_harm: ("cut", "killed", "died", "dying", "burnt"),
    Category.harm_by_adult: ("injured", "pushes"),
    Category.sexual_abuse: ("child labour",),
    Category.unsafe: ("help",),
}
BLUNT = PhraseBook(additions=[(category.value, word) for category, words in BLUNT_WORDS.items() for word in words])


@pytest.mark.parametrize("text", ORDINARY)
def test_quiet_contexts_hold_against_blunt_words(text: str) -> None:
    assert screen(text, BLUNT) == []


def test_blunt_words_outside_a_quiet_context_are_caught() -> None:
    assert categories("i cut and burnt my arm", BLUNT) == {Category.self_harm}
    assert categories("he pushes and shoves me", BLUNT) == {Category.harm_by_adult}


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("i sh when im sad", True),
        ("started sh again last week", True),
        ("sh be quiet", False),
        ("Mrs Sh said hi", False),
        ("I want to unalive myself", True),
        ("im gonna kms fr", True),
        ("wanna d13", True),
        ("i w@nna k1ll mys3lf", True),
    ],
)
def test_self_harm_shorthand_only_in_context(text: str, found: bool) -> None:
    assert (Category.self_harm in categories(text)) is found


def test_a_quiet_context_silences_only_its_own_words() -> None:
    text = "I killed it in the exam but honestly I want to kill myself"
    matches = screen(text, BOOK)
    assert [m.category for m in matches] == [Category.self_harm]
    start, end = matches[0].span
    assert text[start:end] == "kill myself"


def test_a_match_names_its_phrase_and_the_words_as_typed() -> None:
    text = "omg... My Step-Dad HIT me!!"
    [match] = screen(text, BOOK)
    assert match.category is Category.harm_by_adult
    assert match.phrase == "<adult> <hurt> me"
    assert text[match.span[0] : match.span[1]] == "Step-Dad HIT me"


def test_every_category_has_a_label_and_default_phrases() -> None:
    assert set(DEFAULTS) == set(Category)
    for category in Category:
        assert category.label and category.label[0].isupper()
        assert DEFAULTS[category]


@pytest.mark.parametrize(
    "text",
    [
        "a" * 10_000,
        "kill myself " * 900,
        "😭😭😭 i want to die 💀",
        "أريد أن أموت لا أشعر بالأمان",
        "אני לא מרגיש בטוח",
        "\x00\x00 help\x00me \x00",
        "\u202eI want to die\u202c",
        "ﬁ ǅ ß İ ΐ ㎒ ①②",
        "",
    ],
)
def test_screening_never_raises(text: str) -> None:
    assert_spans_inside(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_screening_any_text_never_raises(text: str) -> None:
    assert_spans_inside(text)


def assert_spans_inside(text: str) -> None:
    for match in screen(text, BOOK):
        assert 0 <= match.span[0] < match.span[1] <= len(text)


def _shout_and_stretch(text: str, data: st.DataObject) -> str:
    """The same words typed louder and longer: random capitals, letters held down."""
    out = []
    for ch in text:
        if ch.isalpha():
            ch = ch.upper() if data.draw(st.booleans()) else ch
            ch *= data.draw(st.integers(min_value=1, max_value=3))
        out.append(ch)
    return "".join(out)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([(c, t) for c, texts in SAMPLES.items() for t in texts]), st.data())
def test_disclosures_are_found_however_loud_or_long(sample: tuple[Category, str], data: st.DataObject) -> None:
    category, text = sample
    assert category in categories(_shout_and_stretch(text, data))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(ORDINARY), st.data())
def test_quiet_contexts_stay_quiet_however_loud_or_long(text: str, data: st.DataObject) -> None:
    assert screen(_shout_and_stretch(text, data), BLUNT) == []


# The phrase book: a school's own additions and removals


def test_a_schools_removal_silences_a_default_phrase() -> None:
    assert categories("kms") == {Category.self_harm}
    book = PhraseBook(removals=["kms"])
    assert screen("kms", book) == []
    # Removal is by meaning after normalisation: the phrase kms stands for goes with it.
    assert screen("kill myself", book) == []
    # and other phrases stay
    assert categories("i want to die", book) == {Category.self_harm}


def test_removing_a_listed_pattern_removes_everything_it_stands_for() -> None:
    assert [m.phrase for m in screen("my uncle kicked me", BOOK)] == ["<adult> <hurt> me"]
    gapped = "<adult> ... <hurt> me|us"  # the same words with room between them: a pattern of its own
    book = PhraseBook(removals=["<adult> <hurt> me"])
    assert all(item.pattern != "<adult> <hurt> me" for item in book.listed)
    assert [m.phrase for m in screen("my uncle kicked me", book)] == [gapped]
    book = PhraseBook(removals=["<adult> <hurt> me", gapped])
    assert screen("my uncle kicked me", book) == []


def test_a_schools_addition_is_caught() -> None:
    text = "they said meet them at the Dalby underpass tonight"
    assert screen(text, BOOK) == []
    book = PhraseBook(additions=[("unsafe", "dalby underpass")])
    [match] = screen(text, book)
    assert match.category is Category.unsafe
    assert match.phrase == "dalby underpass"
    assert text[match.span[0] : match.span[1]] == "Dalby underpass"
    assert [item.default for item in book.listed if item.pattern == "dalby underpass"] == [False]


def test_a_schools_quiet_context_silences_a_default() -> None:
    text = "our house captain said the kill the lights game was fun"
    book = PhraseBook(additions=[("unsafe", "kill the lights"), ("quiet", "the kill the lights game")])
    assert screen(text, book) == []
    assert categories("kill the lights", book) == {Category.unsafe}


def test_an_unknown_category_is_refused() -> None:
    with pytest.raises(ValueError):
        PhraseBook(additions=[("worried", "anything")])


# The pattern language


def test_patterns_expand_alternatives_groups_classes_and_optional_words() -> None:
    classes = {"who": ("my dad", "he")}
    assert expand("hit|hits me", classes) == {("hit", "me"), ("hits", "me")}
    assert expand("no food (at home|in the house)", classes) == {
        ("no", "fod", "at", "home"),
        ("no", "fod", "in", "the", "house"),
    }
    assert expand("<who> left", classes) == {("my", "dad", "left"), ("he", "left")}
    assert expand("really? scared", classes) == {("realy", "scared"), ("scared",)}


def test_a_gap_joins_two_parts_with_up_to_max_gap_words_between() -> None:
    book = PhraseBook(defaults={}, quiet=(), additions=[("unsafe", "zqdanger ... zqnow")])
    gap = " ".join(["word"] * MAX_GAP)
    assert expand("zqdanger ... zqnow", {}) == {("zqdanger", GAP, "zqnow")}
    assert categories("zqdanger zqnow", book) == {Category.unsafe}
    [match] = screen(f"ZQDANGER {gap} zqnow!", book)
    assert match.span == (0, len(f"ZQDANGER {gap} zqnow"))
    assert screen(f"zqdanger {gap} word zqnow", book) == []  # one word too many
    for bad in ("... zqnow", "zqdanger ...", "..."):
        with pytest.raises(PatternError):
            expand(bad, {})


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("my partner hits me", Category.domestic_abuse),
        ("my bf really hurt me last night", Category.domestic_abuse),
        ("dads new gf hit me with a hairbrush", Category.harm_by_adult),
        ("mum's partner throws things at her", Category.domestic_abuse),
    ],
)
def test_an_adult_or_partner_word_then_a_harm_word_is_caught_with_words_between(text: str, category: Category) -> None:
    assert category in categories(text)


def test_a_pattern_that_stands_for_too_much_is_refused() -> None:
    assert MAX_EXPANSIONS < 25_000
    with pytest.raises(PatternError):
        expand(" ".join(["a|b|c|d|e|f|g|h|i|j"] * 5), {})  # 100,000 phrases
    with pytest.raises(PatternError):
        expand("<nobody> hit me", {})


def test_a_bracket_inside_a_bracket_is_refused_not_silently_misread() -> None:
    # The slot grammar has no nesting: "(a|my (arms|legs))" would lose its brackets and mean
    # something else, so it is refused like any other malformed pattern.
    with pytest.raises(PatternError):
        expand("(till|until) (they|my (arms|legs)) bleed", {})
    with pytest.raises(PatternError):
        expand("(cut|cutting my arm", {})


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("mums boyfriend says ill regret it if i tell anyone", Category.harm_by_adult),
        ("i got hit with a hairbrush again by my mum", Category.harm_by_adult),
        ("a man off instagram bought me trainers and wants to see me", Category.grooming),
        ("he told me to use a different app so my parents cant see", Category.grooming),
        ("i dont want to be here anymore", Category.self_harm),
        ("everyone would be better off without me", Category.self_harm),
        ("im gonna take all the tablets in the cupboard tonight", Category.self_harm),
        ("mum and dad are always drunk and forget to feed us", Category.neglect),
        ("there's nobody home most nights so i make my own tea with whatever", Category.neglect),
        ("we havent had gas or electric for a week", Category.neglect),
        ("the immigrants deserve what's coming to them", Category.radicalisation),
    ],
)
def test_indirect_disclosures_of_the_second_round_are_caught(text: str, category: Category) -> None:
    assert category in categories(text)


@pytest.mark.parametrize(
    "text",
    [
        "I'm proud of myself for asking for help with maths",  # "off myself" folds to "of myself"
        "my nan sent me money for my birthday",
        "my mum left me at home while she went shopping",
        "i've been cutting down on sugar",
        "my dad threatened to take my xbox if i don't revise",
        "i hate being left out of group projects",
        "i had a video chat with a uni student about engineering",
    ],
)
def test_ordinary_talk_near_the_second_rounds_phrases_stays_quiet(text: str) -> None:
    assert screen(text, BOOK) == []


def test_every_default_pattern_expands() -> None:
    for patterns in [*DEFAULTS.values(), QUIET]:
        for pattern in patterns:
            assert expand(pattern, CLASSES), pattern


# The floor: pure code


def test_the_screening_package_imports_only_the_standard_library_and_core() -> None:
    package = Path(__file__).resolve().parent.parent / "handlers" / "safeguarding"
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                allowed = top in sys.stdlib_module_names or top == "core" or name.startswith("handlers.safeguarding")
                assert allowed, f"{path.name} imports {name}"


def test_a_schools_book_builds_only_its_additions_and_shares_the_default_tree() -> None:
    # The default book stands for tens of thousands of phrases; a school with its own changes must
    # not hold a second copy (one per school, for the life of the process).
    book = PhraseBook(additions=[("unsafe", "dalby underpass")], removals=["kms"])
    assert list(book.index) == [("dalby", "underpas")]
    assert len(BOOK.index) > 10_000
    assert categories("kms", book) == set() == categories("kill myself", book)
    assert categories("dalby underpass", book) == {Category.unsafe}
    assert categories("my step dad hit me", book) == {Category.harm_by_adult}
