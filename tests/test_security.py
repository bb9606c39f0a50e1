"""Signed tokens, reader ids, origins, address anonymising and password hashing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kibitz.origins import origin_of
from kibitz.security import (
    TokenError,
    Tokens,
    hash_password,
    verify_password,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_a_token_verifies_until_it_expires() -> None:
    tokens = Tokens("s" * 32)
    token = tokens.issue("edit", "42", now=NOW, ttl=timedelta(minutes=15))
    assert tokens.verify("edit", token, now=NOW + timedelta(minutes=14)) == "42"
    with pytest.raises(TokenError):
        tokens.verify("edit", token, now=NOW + timedelta(minutes=16))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: t.replace("42.", "43.", 1),  # subject changed
        lambda t: t.split(".")[0],  # truncated
        lambda t: "",
        lambda t: "42.9999999999",  # unsigned
        lambda t: t + "\ud800",  # not even encodable
    ],
)
def test_a_tampered_token_is_refused(mangle: object) -> None:
    tokens = Tokens("s" * 32)
    token = tokens.issue("edit", "42", now=NOW, ttl=timedelta(minutes=15))
    assert callable(mangle)
    with pytest.raises(TokenError):
        tokens.verify("edit", mangle(token), now=NOW)


def test_tokens_do_not_cross_purposes_or_secrets() -> None:
    tokens = Tokens("s" * 32)
    token = tokens.issue("edit", "42", now=NOW, ttl=timedelta(minutes=15))
    with pytest.raises(TokenError):
        tokens.verify("confirm", token, now=NOW)
    with pytest.raises(TokenError):
        Tokens("t" * 32).verify("edit", token, now=NOW)


def test_reader_ids_are_signed_and_forgeries_read_as_none() -> None:
    tokens = Tokens("s" * 32)
    raw = tokens.new_reader()
    signed = tokens.sign_reader(raw)
    assert tokens.reader(signed) == raw
    assert raw not in (tokens.new_reader() for _ in range(20))
    assert tokens.reader(raw) is None
    assert tokens.reader(signed[:-1]) is None
    assert tokens.reader(Tokens("t" * 32).sign_reader(raw)) is None
    assert tokens.reader("é" * 10) is None
    assert tokens.reader("x" * 500) is None
    assert tokens.reader(None) is None


def test_keyed_hash_is_stable_and_keyed() -> None:
    assert Tokens("s" * 32).keyed_hash("a", "b") == Tokens("s" * 32).keyed_hash("a", "b")
    assert Tokens("s" * 32).keyed_hash("a", "b") != Tokens("t" * 32).keyed_hash("a", "b")
    assert Tokens("s" * 32).keyed_hash("a", "b") != Tokens("s" * 32).keyed_hash("ab")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://News.Example", "https://news.example"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
        ("https://news.example:443/path?q", "https://news.example"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("null", None),
        ("ftp://news.example", None),
        ("news.example", None),
        ("https://news.example:99999", None),
    ],
)
def test_origins_are_normalised(value: str, expected: str | None) -> None:
    assert origin_of(value) == expected


@pytest.fixture(autouse=True)
def quick_hashes() -> None:
    """Not here: this module hashes with the production parameters (conftest's are for the rest)."""


def test_passwords_are_hashed_with_argon2() -> None:
    """With argon2-cffi's default (RFC 9106 low-memory) parameters. Mutation tried: without the
    override above, conftest's quick parameters leak in and the parameter check fails."""
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "wrong horse")
    assert not verify_password("garbage", "correct horse")
