"""Signals read off a comment's form rather than its words: its links, characters dressed up to
look like others, and a poster's name that is an advertisement. Each is a reason code and the weight
it adds to the spam score (docs/moderation.md lists the codes).

None of them asks a third party. The weights were chosen by cross-validation on the training part
of the corpus (bench/spam_corpus): alone, only the strongest reach the default spam_hold (0.5);
together, or with the classifier, they do.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from kibitz.spam.features import Parsed, host_of, registrable

Evidence = list[tuple[str, float]]

SHORTENER = 0.3
ABUSED_TLD = 0.2
LINK_ONLY = 0.4
LINK_DENSITY = 0.2
SPAM_DOMAIN = 0.35  # per domain moderators marked as spam, and 0.1 more per decision, to 0.75
NAME_LINK = 0.5
LOOKALIKE = (0.35, 0.5)  # one mixed-script word; two or more
INVISIBLE = (0.3, 0.5)  # one or two invisible characters inside words; three or more
STYLED = 0.3  # three or more letters drawn from the styled (mathematical, fullwidth, circled) sets
CONTACT = 0.3  # a messenger's name with a number or @handle to write to

# Top-level domains that reports on domain abuse (Spamhaus, Interisle) keep finding most of their
# registrations used for spam, phishing or malware: cheap or free, seldom a newsroom's source.
ABUSED_TLDS = frozenset(
    {
        "top",
        "xyz",
        "shop",
        "click",
        "buzz",
        "icu",
        "cc",
        "pw",
        "win",
        "bet",
        "vip",
        "work",
        "live",
        "site",
        "online",
        "store",
        "fun",
        "club",
        "rest",
        "monster",
        "sbs",
        "cfd",
        "quest",
        "bond",
        "lol",
        "mom",
        "cyou",
        "tk",
        "ml",
        "ga",
        "cf",
        "gq",
        "loan",
        "racing",
        "download",
        "stream",
        "gdn",
        "men",
        "review",
    }
)
MESSENGERS = ("whatsapp", "telegram", "wechat", "viber", "signal app", "kik", "snapchat")
# Characters drawn as nothing that are not format characters: the combining grapheme joiner and
# the Hangul fillers (kibitz/inputs.py refuses zero-width spaces before they get here).
_FILLERS = frozenset("\u034f\u115f\u1160\u3164\uffa0")
_NON_LATIN_LOOKALIKE_SCRIPTS = ("CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC", "LISU", "VAI")


def links(parsed: Parsed, hold_links: int, spam_domains: Mapping[str, int]) -> Evidence:
    """Shorteners, abused TLDs, a comment that is little but links, and domains this site's
    moderators marked as spam before (``spam_domains``: domain -> spam decisions over ham ones).
    A comment over ``hold_links`` is held by that rule already; density is not counted twice."""
    found = parsed.links
    out: Evidence = []
    if any(link.shortener for link in found):
        out.append(("shortener", SHORTENER))
    tlds = sorted({link.host.rsplit(".", 1)[-1] for link in found} & ABUSED_TLDS)
    if tlds:
        out.append((f"tld:{tlds[0]}", ABUSED_TLD))
    if found and len(found) <= hold_links:
        own = parsed.words_outside_links
        if own <= 1:  # "https://…", "Look https://…"
            out.append(("link_only", LINK_ONLY))
        elif len(found) >= 2 and own < 6 * len(found):
            out.append(("link_density", LINK_DENSITY))
    domains = {link.domain for link in found}
    if parsed.author_url:
        host = host_of(parsed.author_url)
        if host:
            domains.add(registrable(host))
    seen = 0.0
    for domain in sorted(domains):
        count = spam_domains.get(domain, 0)
        if count > 0:
            seen += SPAM_DOMAIN + 0.1 * min(count - 1, 4)
            out.append((f"spam_domain:{domain}", 0.0))
    if seen:
        # The weight goes on the first domain's code; the others are named for the moderator.
        first = next(i for i, (code, _) in enumerate(out) if code.startswith("spam_domain:"))
        out[first] = (out[first][0], min(seen, 0.75))
    return out


def name_link(parsed: Parsed, name_words: int, spammy_name: int, spammy_host: int) -> Evidence:
    """An author who gives a web address and a name that reads like an advertisement ("Cheap
    Essays", "Best VPN 2026"): of the name's ``name_words`` words, ``spammy_name`` are spammy
    (classifier.spammy_words), half of them or more, or some and some of the address's host's."""
    if parsed.author_url and spammy_name and (2 * spammy_name >= name_words or spammy_host):
        return [("name_link", NAME_LINK)]
    return []


def contact(parsed: Parsed) -> Evidence:
    """ "Message me on WhatsApp +1 555…": a messenger named next to a number or handle to write to."""
    lowered = parsed.unlinked.lower()
    reachable = "x:phone" in parsed.shape or "x:handle" in parsed.shape
    if reachable and any(app in lowered for app in MESSENGERS):
        return [("contact", CONTACT)]
    return []


def characters(text: str) -> Evidence:
    """Look-alike letters of another script inside Latin words ("сrурtо" in Cyrillic), invisible
    characters inside words, and letters in styled Unicode (𝐛𝐨𝐥𝐝, 𝓈𝒸𝓇𝒾𝓅𝓉, ｆｕｌｌｗｉｄｔｈ). Text in one
    script, accents, and emoji joined by zero-width joiners are none of these."""
    if text.isascii():
        return []
    mixed = invisible = styled = 0
    for word in text.split():
        if word.isascii():
            continue
        latin = other = 0
        for i, ch in enumerate(word):
            if ch.isascii():
                latin += ch.isalpha()
                continue
            category = unicodedata.category(ch)
            if category == "Cf" or ch in _FILLERS:
                if 0 < i < len(word) - 1 and word[i - 1].isalnum() and word[i + 1].isalnum():
                    invisible += 1
                continue
            if not category.startswith("L"):
                continue
            name = unicodedata.name(ch, "")
            if name.startswith(_NON_LATIN_LOOKALIKE_SCRIPTS):
                other += 1
            elif name.startswith("LATIN"):
                latin += 1
            elif _styled(ch):
                styled += 1
        if latin and other:
            mixed += 1
        elif other and not latin and _reads_as_ascii(word):
            mixed += 1  # a whole word of look-alikes ("сrурtо"): counted when the text is Latin
    out: Evidence = []
    if mixed and _mostly_latin(text):
        out.append(("lookalike", LOOKALIKE[mixed > 1]))
    if invisible:
        out.append(("invisible", INVISIBLE[invisible > 2]))
    if styled >= 3:
        out.append(("styled", STYLED))
    return out


def _styled(ch: str) -> bool:
    """A letter drawn from a styled set: its compatibility form is a plain ASCII letter."""
    plain = unicodedata.normalize("NFKC", ch)
    return len(plain) == 1 and plain.isascii() and plain.isalpha()


def _reads_as_ascii(word: str) -> bool:
    from kibitz.wordlists import fold

    letters = [ch for ch in word if ch.isalpha()]
    return len(letters) >= 3 and fold("".join(letters)).isascii()


def _mostly_latin(text: str) -> bool:
    latin = other = 0
    for ch in text:
        if ch.isalpha():
            if ch.isascii() or unicodedata.name(ch, "").startswith("LATIN"):
                latin += 1
            else:
                other += 1
    return latin > other
