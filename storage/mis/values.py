"""Cell values from MIS exports, each normalised to one code (pure; ValueError in plain words).

Every export spells the same fact differently: "F", "Female" and "FEMALE" are one gender; "T",
"Y", "Yes", "True" and "1" one flag; "13 April 2010", "13-Apr-2010" and "2010-04-13" one date. The
functions here turn each spelling into the one value stored, so reports never split "F" from
"Female". Sources: REFERENCE.md, "MIS exports".
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

# The 20 main DfE ethnicity codes (school census).
ETHNICITY_CODES = frozenset(
    [
        "WBRI",
        "WIRI",
        "WIRT",
        "WROM",
        "WOTH",
        "MWBC",
        "MWBA",
        "MWAS",
        "MOTH",
        "AIND",
        "APKN",
        "ABAN",
        "AOTH",
        "BCRB",
        "BAFR",
        "BOTH",
        "CHNE",
        "OOTH",
        "REFU",
        "NOBT",
    ]
)
# Census descriptions, as MIS exports spell them, mapped where one code fits without doubt. Keys are
# `_words()` of the description: lower case, punctuation gone, "white british" = "White - British".
_ETHNICITY_WORDS = {
    "white british": "WBRI",
    "british": "WBRI",
    "white irish": "WIRI",
    "irish": "WIRI",
    "traveller of irish heritage": "WIRT",
    "white traveller of irish heritage": "WIRT",
    "gypsy roma": "WROM",
    "white gypsy roma": "WROM",
    "gypsy or roma": "WROM",
    "any other white background": "WOTH",
    "white any other white background": "WOTH",
    "white and black caribbean": "MWBC",
    "mixed white and black caribbean": "MWBC",
    "white and black african": "MWBA",
    "mixed white and black african": "MWBA",
    "white and asian": "MWAS",
    "mixed white and asian": "MWAS",
    "any other mixed background": "MOTH",
    "mixed any other mixed background": "MOTH",
    "indian": "AIND",
    "asian or asian british indian": "AIND",
    "asian indian": "AIND",
    "pakistani": "APKN",
    "asian or asian british pakistani": "APKN",
    "asian pakistani": "APKN",
    "bangladeshi": "ABAN",
    "asian or asian british bangladeshi": "ABAN",
    "asian bangladeshi": "ABAN",
    "any other asian background": "AOTH",
    "asian any other asian background": "AOTH",
    "caribbean": "BCRB",
    "black caribbean": "BCRB",
    "black or black british caribbean": "BCRB",
    "african": "BAFR",
    "black african": "BAFR",
    "black or black british african": "BAFR",
    "any other black background": "BOTH",
    "black any other black background": "BOTH",
    "chinese": "CHNE",
    "any other ethnic group": "OOTH",
    "refused": "REFU",
    "information refused": "REFU",
    "information not yet obtained": "NOBT",
    "not obtained": "NOBT",
}
_GENDER = {
    "m": "M",
    "male": "M",
    "boy": "M",
    "f": "F",
    "female": "F",
    "girl": "F",
    "x": "X",
    "other": "X",
    "non binary": "X",
    "nonbinary": "X",
    "indeterminate": "X",
}
# SEN provision (census): E EHC plan, K SEN support, N none. S (statement) and A/P (School Action,
# Action Plus) are obsolete codes older exports still carry; Arbor's "Monitoring" counts as N.
_SEN = {
    "": "N",
    "n": "N",
    "no": "N",
    "none": "N",
    "no sen": "N",
    "no send": "N",
    "not sen": "N",
    "monitoring": "N",
    "k": "K",
    "sen support": "K",
    "send support": "K",
    "a": "K",
    "school action": "K",
    "p": "K",
    "school action plus": "K",
    "e": "E",
    "ehc plan": "E",
    "ehcp": "E",
    "ehc": "E",
    "education health and care plan": "E",
    "s": "E",
    "statement": "E",
    "statement of sen": "E",
}
_TRUE = frozenset({"y", "yes", "t", "true", "1"})
_FALSE = frozenset({"", "n", "no", "f", "false", "0"})
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_UK = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_WORDY = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?[\s-]+([a-z]+)\.?,?[\s-]+(\d{4})$", re.IGNORECASE)
_YEAR = re.compile(r"^(?:nc\s*)?(?:year|yr|y)?\s*(\d{1,2})$", re.IGNORECASE)
_PUNCT = re.compile(r"[^\w]+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Bidirectional overrides and isolates, zero-width spaces and joiners, word joiner, BOM: invisible,
# they make a name display as something else ("evil\u202eman") or two names look the same.
_INVISIBLE = dict.fromkeys(
    [0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)
DATE_HINT = "write it as YYYY-MM-DD (2010-03-14), DD/MM/YYYY (14/03/2010) or 14 March 2010"


def _words(value: str) -> str:
    return " ".join(_PUNCT.sub(" ", value.lower().replace("_", " ")).split())


def gender(value: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    code = _GENDER.get(_words(text))
    if code is None:
        raise ValueError(f"{text!r} is not a gender; use M, F or X (or Male, Female)")
    return code


def ethnicity(value: str) -> str | None:
    """The DfE code for a code or an unambiguous description; anything else is kept as given (and
    listed by the import, see `is_dfe_code`), since extended local codes exist."""
    text = value.strip()
    if not text:
        return None
    upper = text.upper()
    if upper in ETHNICITY_CODES:
        return upper
    return _ETHNICITY_WORDS.get(_words(text), text)


def is_dfe_code(value: str) -> bool:
    return value in ETHNICITY_CODES


def sen(value: str) -> str:
    code = _SEN.get(_words(value))
    if code is None:
        raise ValueError(f"{value.strip()!r} is not a SEND code; use N (none), K (SEN support) or E (EHC plan)")
    return code


def flag(value: str) -> bool:
    """T/F, Y/N, Y/blank, Yes/No, True/False, 1/0 (a blank is no)."""
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"{value.strip()!r} is not Y or N (Yes/No, T/F, True/False and 1/0 work too)")


def a_date(value: str) -> date:
    """2010-04-13, 13/04/2010, 13 April 2010, 13-Apr-2010 (and Wonde's 2010-04-13 00:00:00.000000)."""
    text = value.strip()
    try:
        if match := _ISO.match(text):
            return date(int(match[1]), int(match[2]), int(match[3]))
        if match := _UK.match(text):
            return date(int(match[3]), int(match[2]), int(match[1]))
        if (match := _WORDY.match(text)) and match[2].lower() in _MONTHS:
            return date(int(match[3]), _MONTHS[match[2].lower()], int(match[1]))
    except ValueError:
        pass  # 31/02/2011: the shape is right, the day is not
    raise ValueError(f"{text!r} is not a date; {DATE_HINT}")


def optional_date(value: str) -> date | None:
    return a_date(value) if value.strip() else None


def year_group(value: str) -> int:
    """9, 09, Y9, Yr 9, Year 9, NC Year 9 -> 9."""
    match = _YEAR.match(value.strip())
    year = int(match.group(1)) if match else -1
    if not 1 <= year <= 14:
        raise ValueError(f"{value.strip()!r} is not a year group; write a number from 1 to 14, e.g. 10")
    return year


def attendance(value: str) -> float | None:
    text = value.strip().removesuffix("%").strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{value.strip()!r} is not a percentage, e.g. 94.5") from None
    if not 0 <= number <= 100:
        raise ValueError(f"{value.strip()!r} is not a percentage between 0 and 100")
    return number


def count(value: str) -> int:
    text = value.strip()
    if not text:
        return 0
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a whole number, e.g. 0 or 2")
    return int(text)


def email(value: str) -> str | None:
    text = value.strip().lower()
    if not text:
        return None
    if not _EMAIL.match(text):
        raise ValueError(f"{value.strip()!r} is not an email address")
    return text


def clean_name(value: str) -> str:
    """A name without invisible direction or zero-width characters, composed (NFC), spaces collapsed."""
    if value.isascii():
        return " ".join(value.split())
    return " ".join(unicodedata.normalize("NFC", value.translate(_INVISIBLE)).split())
