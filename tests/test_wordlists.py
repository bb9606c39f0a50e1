"""Blocked and suspect word lists: folding look-alike text, whole-word `*` patterns, input limits."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kibitz.wordlists import MAX_PATTERN_LENGTH, MAX_PATTERNS, WordList, fold, validate_patterns


def matched(pattern: str, text: str) -> bool:
    return WordList.compile([pattern]).matches(text) == [pattern]


def test_roman_numeral_cyrillic_letters_and_leet_plus_match_crypto() -> None:
    # U+217D small roman numeral c, r, Cyrillic у and р, "+", Cyrillic о
    assert matched("crypto", "\u217drу\u0440+\u043e")


def test_case_is_ignored() -> None:
    assert matched("crypto", "Buy CRYPTO now")
    assert matched("CrYpTo", "buy crypto now")


@pytest.mark.parametrize("text", ["c r y p t o", "c.r.y.p.t.o", "c-r-y-p-t-o", "buy c r y p t o today"])
def test_letters_spaced_out_by_single_separators_match_the_word(text: str) -> None:
    assert matched("crypto", text)


def test_spaced_out_letters_do_not_glue_onto_neighbouring_words() -> None:
    assert not matched("crypto", "c r y pto")
    assert matched("cry", "c r y pto")


def test_a_pattern_matches_whole_words_only() -> None:
    assert not matched("crypto", "cryptocurrency")
    assert matched("crypto*", "cryptocurrency")
    assert matched("crypto*", "crypto")


def test_a_word_inside_another_word_does_not_match() -> None:
    assert not matched("cunt", "Scunthorpe United")
    assert not matched("ass", "first class")
    assert matched("ass", "what an ass!")


@pytest.mark.parametrize(
    ("pattern", "hit", "miss"),
    [
        ("*coin", "bitcoin", "coins"),
        ("f*ck", "fuuuck", "fuckers"),
        ("f*ck", "fck", "duck"),
        ("crypto*", "cryptos", "acrypto"),
        ("*a*b*", "xaxbx", "xbxax"),
        ("*coin", "bitcoincoin", "coincoins"),
    ],
)
def test_star_stands_for_any_run_of_word_characters(pattern: str, hit: str, miss: str) -> None:
    assert matched(pattern, f"look: {hit}.")
    assert not matched(pattern, f"look: {miss}.")


def test_star_does_not_reach_across_words() -> None:
    assert not matched("f*ck", "fine duck")


def test_accents_are_ignored_in_text_and_in_patterns() -> None:
    assert matched("creme", "Crème brûlée")
    assert matched("crème", "CREME")
    assert matched("brulee", "cre\u0300me bru\u0302le\u0301e")  # combining accents


def test_stacked_combining_marks_are_ignored() -> None:
    assert matched("crypto", "c\u0337\u0322r\u0334y\u0335p\u0336t\u0338o\u0321")


def test_fullwidth_letters_match() -> None:
    assert matched("crypto", "ｃｒｙｐｔｏ")
    assert matched("crypto", "ＣＲＹＰＴＯ")


@pytest.mark.parametrize("invisible", ["\u200d", "\u200b", "\u200c", "\u00ad", "\u2060", "\ufeff", "\u202e"])
def test_invisible_format_characters_inside_a_word_are_ignored(invisible: str) -> None:
    assert matched("crypto", f"cry{invisible}pto")


@pytest.mark.parametrize(
    "text",
    [
        "\u0441\u0433\u0443\u0440t\u03bf",  # Cyrillic с г у р, Latin t, Greek omicron
        "\u0421RY\u0420\u0422\u041e",  # Cyrillic capitals С Р Т О among Latin ones
        "𝐜𝐫𝐲𝐩𝐭𝐨",  # mathematical bold
        "cr\u0443pt\u0966",  # Cyrillic у and a Devanagari digit zero
    ],
)
def test_mixed_scripts_of_look_alike_letters_match(text: str) -> None:
    assert matched("crypto", text)


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("crypto", "CRYPT0"),
        ("crypto", "cryp70"),
        ("shit", "$h1t"),
        ("shit", "sh!t"),
        ("ass", "a55"),
        ("ass", "@ss"),
    ],
)
def test_leetspeak_is_undone(pattern: str, text: str) -> None:
    assert matched(pattern, text)


def test_numbers_and_edge_punctuation_are_not_read_as_leetspeak() -> None:
    assert not matched("ass", "Room 455")
    assert not matched("ass", "4 5 5")
    assert not matched("sss", "$55")  # a price: no letter, so no leetspeak
    assert matched("crypto", "crypto!")
    assert fold("Hello! 1+1=2") == "hello! 1+1=2"


def test_patterns_are_folded_like_text() -> None:
    assert matched("CRYPT0", "crypto")
    assert matched("\u0441rypto", "crypto")  # a pattern written with a Cyrillic с


def test_a_pattern_of_several_words_matches_them_with_any_spacing() -> None:
    assert matched("buy crypto", "Please BUY   crypto now")
    assert not matched("buy crypto", "buy cryptos")


def test_matches_gives_the_patterns_as_written_once_each_in_list_order() -> None:
    words = WordList.compile(["  Crypto* ", "*coin", "crypto", "nothing", "Crypto*", "CRYPTO"])
    assert words.patterns == ("Crypto*", "*coin", "crypto", "nothing", "CRYPTO")
    assert words.matches("crypto and bitcoin, crypto again") == ["Crypto*", "*coin", "crypto", "CRYPTO"]


def test_an_empty_list_matches_nothing() -> None:
    for words in (WordList.compile([]), WordList.compile(["", "   ", "\t"])):
        assert not words
        assert words.patterns == ()
        assert words.matches("anything at all") == []
    assert WordList.compile(["crypto"])


def test_compile_skips_patterns_without_a_letter_or_digit() -> None:
    words = WordList.compile(["*", "**", "!!", "crypto"])
    assert words.patterns == ("crypto",)
    assert words.matches("hello world") == []
    assert not WordList.compile(["*"])


def test_look_alike_names_fold_to_the_same_form() -> None:
    assert fold("J\u043ehn  SMITH") == fold("john smith") == "john smith"
    assert fold("  Zoë\u200b ") == "zoe"


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(st.characters(categories=["Lu", "Ll", "Nd"]), min_size=1, max_size=12))
def test_any_word_matches_itself_in_a_sentence(word: str) -> None:
    if re.search(r"\w", fold(word)):
        assert WordList.compile([word]).matches(f"Say {word}, now") == [word]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=40))
def test_folding_twice_changes_nothing(text: str) -> None:
    assert fold(fold(text)) == fold(text)


def test_validate_patterns_strips_and_drops_blanks_and_repeats() -> None:
    assert validate_patterns([" crypto ", "", "  ", "*coin", "crypto"]) == ["crypto", "*coin"]
    assert validate_patterns(["w"] * (MAX_PATTERNS + 5)) == ["w"]


def test_validate_patterns_refuses_too_many_naming_the_first_extra() -> None:
    patterns = [f"word{i}" for i in range(MAX_PATTERNS + 1)]
    with pytest.raises(ValueError, match=f"word{MAX_PATTERNS}"):
        validate_patterns(patterns)
    assert len(validate_patterns(patterns[:MAX_PATTERNS])) == MAX_PATTERNS


def test_validate_patterns_refuses_a_long_pattern_naming_it() -> None:
    long = "spam" + "x" * MAX_PATTERN_LENGTH
    with pytest.raises(ValueError, match="'spamxxx"):
        validate_patterns(["fine", long])
    assert validate_patterns(["y" * MAX_PATTERN_LENGTH]) == ["y" * MAX_PATTERN_LENGTH]


@pytest.mark.parametrize("bad", ["*", "**", "!?", "* *"])
def test_validate_patterns_refuses_a_pattern_that_would_match_everything(bad: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        validate_patterns(["fine", bad])


@pytest.mark.parametrize(
    "text",
    [
        "a" * 10_000,
        "a " * 5_000,
        "a." * 5_000,
        ("a" * 99 + " ") * 100,
        ("aaab " * 2_000),
    ],
)
def test_long_adversarial_text_against_a_full_list_finishes(text: str) -> None:
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    patterns = ["a", "*a*a*a*a*a*a*a*a*a*b", "*" + "a" * 90 + "*b"]
    while len(patterns) < MAX_PATTERNS:
        w = "".join(rng.choice(letters) for _ in range(rng.randint(2, 8)))
        patterns.append(rng.choice([w, w + "*", "*" + w, f"a*{w}*{w[::-1]}*z", f"*{w}*a"]))
    words = WordList.compile(validate_patterns(patterns))
    found = words.matches(text)
    assert set(found) <= set(words.patterns)
    assert ("a" in found) == (text.startswith("a ") or text.startswith("a."))
