"""Moderators' blocked and suspect word lists: patterns with `*` matched as whole words against text
folded to one canonical form, so that look-alike letters, accents, invisible characters, fullwidth
forms, spaced-out letters and leetspeak do not slip past them."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from functools import cache

MAX_PATTERNS = 1000
MAX_PATTERN_LENGTH = 100

# Leetspeak, undone only inside a token that also holds a letter ("a55" is "ass", "455" stays a
# number). "+" and "!" count only between two letters or digits ("sh!t", "cryp+o"), since at a
# word's edge they are usually punctuation ("hello!", "c++"). A pattern's "*" counts as a letter.
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_LEET_INSIDE = str.maketrans({"+": "t", "!": "i"})
_TOKEN = re.compile(r"(?:[^\W_]|[@$+!*])+")
_INSIDE = re.compile(r"(?<=[^\W_])[+!]+(?=[^\W_])")
# Three or more single characters each separated by one space, dot or dash: "c r y p t o", "c.r.y".
_UNIT = r"[\w@$+!]"
_SPACED = re.compile(rf"(?<!{_UNIT}){_UNIT}(?:[ .\-]{_UNIT}){{2,}}(?!{_UNIT})")
_SEPARATORS = re.compile(r"[ .\-]")
_STARS = re.compile(r"\*+")
_WORD = re.compile(r"\w")


@cache
def _homoglyphs() -> dict[int, str]:
    """A str.translate table: every (NFKD, casefolded) character that the Unicode confusables data
    says looks like an ASCII letter or digit, mapped to that character (casefolded)."""
    from confusable_homoglyphs import confusables  # loads its JSON data on import

    data: dict[str, list[dict[str, str]]] = confusables.confusables_data
    votes: dict[str, Counter[str]] = {}
    own: dict[str, str] = {}
    for source, entries in data.items():
        source = source.strip("\u200e\u200f")  # the data wraps right-to-left characters in marks
        key = unicodedata.normalize("NFKD", source).casefold()
        if len(source) != 1 or len(key) != 1 or key.isascii():
            continue  # ASCII (and what NFKD already makes ASCII) is left to leetspeak
        for entry in entries:
            target = entry["c"].strip("\u200e\u200f")
            if len(target) == 1 and target.isascii() and target.isalnum():
                # A capital or a digit drawn like "l" (Greek Ι, Cyrillic І, Arabic ١) reads as "i".
                folded = "i" if target == "l" and unicodedata.category(source) != "Ll" else target.lower()
                votes.setdefault(key, Counter())[folded] += 1
                if source == key:
                    own[key] = folded
    # Upper and lower case share a key after casefolding; where they disagree (Greek Ν looks like N,
    # ν like v), the lower-case letter's own look-alike wins, then the most common one.
    return {ord(key): own.get(key) or counts.most_common(1)[0][0] for key, counts in votes.items()}


def _unify(text: str) -> str:
    """Everything but leetspeak: NFKD, casefold, homoglyphs, no format characters, no accents on
    ASCII letters, NFC, single spaces."""
    table = _homoglyphs()
    out: list[str] = []
    strip_marks = True  # combining marks go when they sit on ASCII (or on nothing)
    for ch in unicodedata.normalize("NFKD", text).casefold().translate(table):
        category = unicodedata.category(ch)
        if category in ("Mn", "Me"):
            if strip_marks:
                continue
        elif category == "Cf" or (category == "Cc" and not ch.isspace()):
            continue  # zero-width spaces and joiners, soft hyphens, bidi controls, tags
        else:
            strip_marks = ch.isascii()
        out.append(ch)
    return " ".join(unicodedata.normalize("NFC", "".join(out)).split())


def _deleet(match: re.Match[str]) -> str:
    token = match.group()
    if not any(ch.isalpha() or ch == "*" for ch in token):
        return token
    token = _INSIDE.sub(lambda inside: inside.group().translate(_LEET_INSIDE), token)
    return token.translate(_LEET)


def fold(text: str) -> str:
    """The canonical form word lists match against (and names are compared in).

    NFKD and casefold, look-alike characters to the ASCII letter or digit they imitate, format
    characters (zero-width, bidi) dropped, accents on ASCII letters dropped, NFC, whitespace runs to
    one space, then leetspeak undone in tokens that hold a letter ("h4x0r" -> "haxor").
    """
    return _TOKEN.sub(_deleet, _unify(text))


def _clean(patterns: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(stripped for pattern in patterns if (stripped := pattern.strip())))


def _has_literal(pattern: str) -> bool:
    return _WORD.search(fold(pattern).replace("*", "")) is not None


def validate_patterns(patterns: Iterable[str]) -> list[str]:
    """The entries stripped, without blanks and repeats; ValueError names the first bad entry."""
    cleaned = _clean(patterns)
    if len(cleaned) > MAX_PATTERNS:
        raise ValueError(
            f"At most {MAX_PATTERNS} patterns; {len(cleaned)} given (from {cleaned[MAX_PATTERNS]!r} on)"
        )
    for pattern in cleaned:
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise ValueError(f"Pattern {pattern[:30]!r}… is longer than {MAX_PATTERN_LENGTH} characters")
        if not _has_literal(pattern):
            raise ValueError(f"Pattern {pattern!r} has no letter or digit, so it would match everything")
    return cleaned


def _to_regex(folded: str) -> str:
    """`*` is a run of word characters. Every star but the last takes the leftmost occurrence of the
    text after it and never gives it back (an atomic group), which is exact for globs whose stars
    stay inside one word, and keeps each try linear in the word's length."""
    parts = _STARS.split(folded)
    if len(parts) == 1:
        return re.escape(folded)
    first, *middle, last = parts
    body = "".join(rf"(?>\w*?{re.escape(part)})" for part in middle)
    return rf"{re.escape(first)}{body}\w*{re.escape(last)}"


class WordList:
    """A site's patterns compiled into one regular expression over folded text."""

    __slots__ = ("_patterns", "_regex")

    def __init__(self, patterns: tuple[str, ...], regex: re.Pattern[str] | None) -> None:
        self._patterns = patterns
        self._regex = regex

    @classmethod
    def compile(cls, patterns: Iterable[str]) -> WordList:
        """Strip entries and skip blanks; an entry with no letter or digit (e.g. "*") is skipped
        rather than made to match everything. Use validate_patterns on input from people."""
        kept = tuple(pattern for pattern in _clean(patterns) if _has_literal(pattern))
        if not kept:
            return cls((), None)
        alternatives = [f"(?:{_to_regex(fold(pattern))})" for pattern in kept]
        # At a word start: does any pattern match here (a plain alternation, which the regex engine
        # skips through fast by first character)? Then note each one that does in its own group.
        each = "".join(rf"(?:(?={alternative}(?!\w)())|)" for alternative in alternatives)
        regex = rf"(?<!\w)(?=(?:{'|'.join(alternatives)})(?!\w)){each}"
        return cls(kept, re.compile(regex))

    @property
    def patterns(self) -> tuple[str, ...]:
        return self._patterns

    def __bool__(self) -> bool:
        return self._regex is not None

    def matches(self, text: str) -> list[str]:
        """The patterns (as written) that match ``text`` anywhere, in list order."""
        return self.matches_folded(folded_views(text)) if self._regex is not None else []

    def matches_folded(self, views: tuple[str, ...]) -> list[str]:
        """As ``matches``, on the views ``folded_views`` made (fold a text once for several lists)."""
        if self._regex is None:
            return []
        hits: set[int] = set()
        for folded in views:
            pos = 0
            while len(hits) < len(self._patterns) and (found := self._regex.search(folded, pos)):
                hits.update(i for i, group in enumerate(found.groups()) if group is not None)
                pos = found.start() + 1
        return [pattern for i, pattern in enumerate(self._patterns) if i in hits]


def folded_views(text: str) -> tuple[str, ...]:
    """What word lists are matched against: ``text`` folded as written, and (when it differs) with
    spaced-out letters joined ("c r y p t o" -> "crypto")."""
    unified = _unify(text)
    views = [unified]
    spaced = _SPACED.sub(lambda run: _SEPARATORS.sub("", run.group()), unified)
    if spaced != unified:
        views.append(spaced)
    return tuple(_TOKEN.sub(_deleet, view) for view in views)
