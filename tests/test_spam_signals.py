"""The spam pipeline's parts on their own (kibitz/spam): what is read off a comment, the signals,
near-duplicate sketches, and the classifier's counts. No database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kibitz.spam import classifier, signals
from kibitz.spam.engine import Poster, _near
from kibitz.spam.features import Parsed, host_words, registrable
from kibitz.spam.shingles import NEAR, Entry, SiteIndex, similarity, sketch

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def codes(evidence: signals.Evidence) -> list[str]:
    return [code for code, _ in evidence]


def test_links_their_domains_and_the_words_of_their_hosts() -> None:
    parsed = Parsed(
        "See https://www.news.example.co.uk/a?b=1, www.cheap-meds-online.shop and https://bit.ly/x."
    )
    assert [link.domain for link in parsed.links] == ["example.co.uk", "cheap-meds-online.shop", "bit.ly"]
    assert [link.shortener for link in parsed.links] == [False, False, True]
    assert host_words("www.cheap-meds-online.shop") == ["cheap", "meds", "online"]
    assert registrable("a.b.example.org") == "example.org"
    assert parsed.words_outside_links == 2  # "See", "and"


def test_folding_sees_through_look_alike_letters_and_invisible_joins() -> None:
    assert Parsed("Вuy chеap vіagra").tokens == ["buy", "cheap", "viagra"]
    assert Parsed("fr\u2063ee cry\u200dpto").tokens == ["free", "crypto"]
    assert Parsed("Costs $4,000 or €9500").tokens == ["costs", "#1", "#3", "or", "#4"]


def test_link_signals_name_shorteners_abused_tlds_bare_links_and_known_spam_domains() -> None:
    assert codes(signals.links(Parsed("Look https://bit.ly/abc"), 2, {})) == ["shortener", "link_only"]
    assert codes(signals.links(Parsed("Best deals at https://deals.top today, really"), 2, {})) == ["tld:top"]
    two = Parsed("see https://a.example and http://b.example")
    assert codes(signals.links(two, 2, {})) == ["link_density"]
    assert signals.links(two, 1, {}) == []  # over hold_links: that rule holds it, no double count
    known = signals.links(Parsed("My source: https://www.pills.example/buy"), 2, {"pills.example": 3})
    assert known == [("spam_domain:pills.example", signals.SPAM_DOMAIN + 0.2)]
    source = Parsed("The council minutes show the vote: https://democracy.harbourcity.gov.uk/minutes")
    assert signals.links(source, 2, {}) == []


def test_look_alike_invisible_and_styled_letters_are_signs_but_other_scripts_and_emoji_are_not() -> None:
    assert codes(signals.characters("Вuy chеap vіagra online")) == ["lookalike"]
    assert signals.characters("Вuy chеap vіagra online") == [("lookalike", signals.LOOKALIKE[1])]
    assert codes(signals.characters("free cr\u200dypto sig\u2062nals")) == ["invisible"]
    assert codes(signals.characters("𝐅𝐫𝐞𝐞 𝐜𝐫𝐲𝐩𝐭𝐨 today")) == ["styled"]
    assert codes(signals.characters("ｆｒｅｅ ｍｏｎｅｙ")) == ["styled"]
    for fine in (
        "Нова велодоріжка біля порту дуже зручна, їжджу нею щодня.",
        "Der Radweg an der Hafenstraße ist eine echte Verbesserung für Jürgen.",
        "Straciłem trochę pieniędzy na kryptowalutach.",
        "Our family 👨\u200d👩\u200d👧 loved the festival ❤️",
        "Maths: x² + y² = z², 3½ miles",
    ):
        assert signals.characters(fine) == [], fine


def test_contact_details_next_to_a_messenger() -> None:
    assert codes(signals.contact(Parsed("Message me on WhatsApp +1 (805) 555-0142 for details"))) == [
        "contact"
    ]
    assert codes(signals.contact(Parsed("Join us on Telegram @signals_vip_room now"))) == ["contact"]
    assert signals.contact(Parsed("The school has set up a WhatsApp group for parents")) == []
    assert signals.contact(Parsed("The Samaritans are on 116 123, day or night")) == []


def test_near_duplicates_are_close_and_other_comments_are_not() -> None:
    a = sketch(
        Parsed("Hi everyone, I earn $5,000 a week working from home with a simple trick. See https://x.shop")
    )
    b = sketch(
        Parsed(
            "Hello everyone, I make $5,000 a week working from home with a simple system. See https://x.shop"
        )
    )
    c = sketch(Parsed("The council voted seven to four for the new bike lane on Harbour Road last night"))
    assert similarity(a, b) >= NEAR
    assert similarity(a, c) < 0.2
    assert sketch(Parsed("Well said, thank you.")) == ()  # too short to compare


def test_a_burst_counts_other_people_and_a_repeat_counts_the_author() -> None:
    index = SiteIndex()
    text = "Amazing post! By the way, if you need funds fast, apply now: https://fast-cash.example"
    probe = sketch(Parsed(text))
    for n in range(3):
        index.add(Entry(n, T0 + timedelta(seconds=n), f"p{n}@x.example", f"r{n}", f"person {n}", "", probe))
    poster = Poster("p9@x.example", "r9", "Person Nine", "")
    assert _near(index, poster, probe, T0 + timedelta(minutes=1)) == (("near_duplicates:3", 0.6), False)
    again = Poster("p0@x.example", "r0", "person 0", "")
    burst, repeat = _near(index, again, probe, T0 + timedelta(minutes=5))
    assert repeat
    assert burst == ("near_duplicates:2", 0.4)  # two others, three names with hers
    # One name from many reader ids (a test script, a thread game) weighs little.
    same = SiteIndex()
    for n in range(10):
        same.add(Entry(n, T0, "", f"r{n}", "ann", "", probe))
    assert _near(same, Poster("", "r99", "Ann", ""), probe, T0) == (("near_duplicates:10", 0.3), False)
    index.expire(T0 + timedelta(hours=2))
    assert not index.entries
    assert not index.by_hash


def test_counts_round_trip_and_learning_moves_the_ratio() -> None:
    counts = classifier.Counts()
    counts.add(Parsed("cheap pills online, order now without prescription").features, spam=True)
    counts.add(Parsed("the council voted on the bike lane budget last night").features, spam=False)
    again = classifier.Counts.from_bytes(counts.to_bytes())
    assert (again.spam_docs, again.ham_docs, again.spam_total) == (1, 1, counts.spam_total)
    assert again.spam == counts.spam
    assert again.ham == counts.ham
    model = classifier.Base(again)
    text = Parsed("order cheap pills online now").features
    before = classifier.log_ratio(model, classifier.EMPTY_SITE, text)
    learned = {f: (3, 0) for f in text}
    after = classifier.log_ratio(model, classifier.SiteCounts(learned, len(text) * 3, 0), text)
    assert after > before > 0


def test_the_shipped_model_tells_obvious_spam_from_an_ordinary_comment() -> None:
    base = classifier.base()

    def ratio(text: str) -> float:
        return classifier.log_ratio(base, classifier.EMPTY_SITE, Parsed(text).features)

    spam = ratio(
        "I lost $40,000 to a fake trading platform until a recovery expert got it back, WhatsApp them"
    )
    ham = ratio("The bike lane on Harbour Road has made my commute shorter, but the buses are still late.")
    assert spam > classifier.HOLD_AT
    assert ham < classifier.MARGIN
    assert classifier.contribution(spam, 12) >= 0.5
    assert classifier.contribution(spam, 3) == 0.0  # too few words to judge by words


def test_an_advertising_name_with_a_web_address() -> None:
    parsed = Parsed("Great article.", "Cheap Essays", "https://best-essays.shop")
    assert codes(signals.name_link(parsed, 2, 1, 0)) == ["name_link"]
    assert signals.name_link(Parsed("Great article.", "Anna Okafor", "https://annas.blog"), 2, 0, 0) == []
    assert signals.name_link(Parsed("Great article.", "Cheap Essays"), 2, 2, 0) == []  # no address
