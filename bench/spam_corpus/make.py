"""Write the labelled spam corpus (bench/spam_corpus/corpus.jsonl) from the hand-written fragments
of this directory, then train the shipped base model (kibitz/spam/base_model.bin) on its "train"
rows; both deterministic (one seed): the same fragments give the same files.

    .venv/bin/python -m bench.spam_corpus.make            # corpus.jsonl, then base_model.bin

Every fragment list is cut in two by position: every fifth entry (0, 5, 10, …) goes to the **test**
pool, the rest to the **train** pool (a list of fewer than five entries is shared). Test comments
are built only from test fragments: their sentences, templates, domains, names, products and
amounts were never seen by the model trained on the other four fifths, so the benchmark measures
how the filter does on comments it has not met, not how well it remembers.

Each line: ``{"id", "label": "ham"|"spam", "kind", "lang", "split": "train"|"test", "group",
"text", "author": {"name", "email", "url"}}``; ``group`` names the near-duplicate burst a spam
comment belongs to (posted together by bench/spam.py), else null.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bench.spam_corpus import ham_bits, ham_en, ham_intl, spam_en, spam_intl
from bench.spam_corpus.spam_intl import lookalike, styled, zero_width
from kibitz.spam import classifier
from kibitz.spam.features import Parsed

SEED = 20261213
OUT = Path(__file__).with_name("corpus.jsonl")
T = TypeVar("T")
# How many comments of each label and split; bursts come on top (groups of 6-14 copies).
COUNTS = {("ham", "train"): 960, ("ham", "test"): 240, ("spam", "train"): 600, ("spam", "test"): 150}
BURST_GROUPS = {"train": 20, "test": 5}

FIRST = ["Anna", "Ben", "Carla", "Dev", "Elif", "Frank", "Grace", "Hamid", "Ines", "Jon", "Kasia",
         "Liam", "Maya", "Niko", "Olu", "Priya", "Quinn", "Rosa", "Sam", "Tomasz", "Uma", "Viktor",
         "Wen", "Yusuf", "Zoe", "Marta", "Pierre", "Jürgen", "Lucía", "Siobhan"]  # fmt: skip
LAST = ["Okafor", "Smith", "Nowak", "Rossi", "Patel", "Murphy", "Schulz", "García", "Dubois", "Kim", "Jones",
        "Haddad", "Silva", "Novak", "Evans", "Byrne", "Müller", "Costa", "Lindqvist", "Brown"]  # fmt: skip
HANDLES = ["harbourview", "OldGit52", "cyclist_mum", "grumpy_of_eastside", "bluefin", "TownWatcher",
           "retired_nurse", "millstreet_resident", "daveinthevan", "Leftfooter", "quietreader",
           "NorthStandNick", "teacher_of_maths", "allotment_annie", "sceptic99", "PortCityPete",
           "raincoat", "localhistorian", "bikebell", "night_shift_worker"]  # fmt: skip
BLOGS = ["https://harbourwalks.blogspot.com", "https://www.millstreethistory.org.uk", "https://cyclingmum.wordpress.com",
         "https://github.com/bluefin-dev", "https://www.portcitybirds.net"]  # fmt: skip
EMOJI = [" 👏", " 😂", " 🙄", " 👍", " 😢", " 🚲", " 👨\u200d👩\u200d👧", " ❤️", ""]
TLD_PATHS = ["", "/", "/offer", "/?ref=news", "/go/7781", "/index.php?id=22", "/landing/best", "/p/8812"]


def ascii_name(name: str) -> str:
    """A name as an address's local part may spell it: "Jürgen" -> "jurgen"."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


def pool(items: Sequence[T], split: str) -> list[T]:
    """The fragments a split may use: every fifth entry is the test pool's."""
    if len(items) < 5:
        return list(items)
    return [item for i, item in enumerate(items) if (i % 5 == 0) == (split == "test")]


class Maker:
    """Builds comments of one split from that split's fragment pools."""

    def __init__(self, rng: random.Random, split: str) -> None:
        self.rng = rng
        self.split = split

    def pick(self, items: Sequence[T]) -> T:
        return self.rng.choice(pool(items, self.split))

    # -- slots ------------------------------------------------------------------------------------

    def url(self) -> str:
        if self.rng.random() < 0.15:
            code = "".join(
                self.rng.choice("abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(7)
            )
            return f"https://{self.pick(spam_en.SHORTENERS)}/{code}"
        scheme = self.rng.choice(["https://", "https://", "http://", "https://www.", "www."])
        return f"{scheme}{self.pick(spam_en.DOMAINS)}{self.rng.choice(TLD_PATHS)}"

    def phone(self) -> str:
        d = [str(self.rng.randint(0, 9)) for _ in range(10)]
        return self.rng.choice([
            f"+1 ({d[0]}{d[1]}{d[2]}) {d[3]}{d[4]}{d[5]}-{''.join(d[6:])}",
            f"+1-8{d[1]}{d[2]}-{d[3]}{d[4]}{d[5]}-{''.join(d[6:])}",
            f"+44 7{d[1]}{d[2]}{d[3]} {''.join(d[4:])}",
            f"+234 80{d[2]} {d[3]}{d[4]}{d[5]} {''.join(d[6:])}",
            f"+1{''.join(d)}",
        ])  # fmt: skip

    def contact(self) -> str:
        kind = self.rng.random()
        if kind < 0.45:
            return self.pick(spam_en.SPAM_EMAILS)
        if kind < 0.75:
            return f"WhatsApp {self.phone()}"
        return f"Telegram {self.pick(spam_en.HANDLES)}"

    def fill(self, template: str) -> str:
        slots: dict[str, Callable[[], str]] = {
            "url": self.url, "phone": self.phone, "contact": self.contact,
            "amount": lambda: self.pick(spam_en.AMOUNTS), "brand": lambda: self.pick(spam_en.BRANDS),
            "drug": lambda: self.pick(spam_en.DRUGS), "product": lambda: self.pick(spam_en.PRODUCTS),
            "expert": lambda: self.pick(spam_en.EXPERTS), "handle": lambda: self.pick(spam_en.HANDLES),
        }  # fmt: skip

        def one(match: re.Match[str]) -> str:
            body: str = match.group(1)
            if "|" in body:
                return self.rng.choice(body.split("|"))
            return slots[body]() if body in slots else str(match.group())

        return re.sub(r"\{([^{}]+)\}", one, template)

    # -- authors ----------------------------------------------------------------------------------

    def person(self) -> dict[str, str]:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        style = self.rng.random()
        name = f"{first} {last}" if style < 0.5 else (first if style < 0.7 else self.rng.choice(HANDLES))
        email = ""
        if self.rng.random() < 0.4:
            email = f"{ascii_name(first)}.{ascii_name(last)}{self.rng.randint(1, 99)}@example.org"
        url = self.rng.choice(BLOGS) if self.rng.random() < 0.03 else ""
        return {"name": name, "email": email, "url": url}

    def spammer(self, kind: str) -> dict[str, str]:
        if kind == "name_link" or (kind == "seo_link" and self.rng.random() < 0.6):
            name, url = self.pick(spam_en.KEYWORD_NAMES), self.url()
            return {"name": name, "email": "", "url": url if "://" in url else f"https://{url}"}
        name = self.pick(spam_en.FAKE_PEOPLE)
        email = ""
        if self.rng.random() < 0.5:
            number = self.rng.randint(100, 9999)
            domain = self.rng.choice(["gmail.com", "outlook.com", "yandex.com"])
            email = f"{name.split()[0].lower()}{number}@{domain}"
        return {"name": name, "email": email, "url": ""}

    # -- ham --------------------------------------------------------------------------------------

    def sentences(self, topic: str, n: int) -> list[str]:
        choices = pool(ham_en.TOPICS[topic], self.split)
        return self.rng.sample(choices, min(n, len(choices)))

    def ham(self, r: float) -> tuple[str, str, str]:
        """(kind, language, text) of one legitimate comment; ``r`` in [0, 1) picks the kind."""
        rng = self.rng
        topic = self.pick(sorted(ham_en.TOPICS))
        if r < 0.10:
            return "short", "en", self.pick(ham_bits.SHORT) + rng.choice(EMOJI)
        if r < 0.34:
            parts = self.sentences(topic, rng.randint(1, 3))
            if rng.random() < 0.4:
                parts.insert(0, self.pick(ham_bits.OPENERS))
            if rng.random() < 0.3:
                parts.append(self.pick(ham_bits.CLOSERS))
            return "opinion", "en", " ".join(parts)
        if r < 0.45:
            other = self.pick(sorted(ham_en.TOPICS))
            parts = self.sentences(topic, 3) + self.sentences(other, 2)
            paragraphs = [" ".join(parts[:2]), " ".join(parts[2:])]
            return "long", "en", "\n\n".join(paragraphs) + " " + self.pick(ham_bits.CLOSERS)
        if r < 0.55:
            quoted = self.pick(ham_en.TOPICS[topic])
            reply = self.pick(ham_bits.QUOTE_REPLIES)
            extra = " " + " ".join(self.sentences(topic, 1)) if rng.random() < 0.5 else ""
            return "quote", "en", f"> {quoted}\n\n{reply}{extra}"
        if r < 0.75:
            lang = self.rng.choice(sorted(ham_intl.HAM))
            lines = pool(ham_intl.HAM[lang], self.split)
            return "intl", lang, " ".join(rng.sample(lines, min(len(lines), rng.randint(1, 3))))
        if r < 0.82:
            sentence, url = self.pick(ham_bits.SOURCES)
            lead = " ".join(self.sentences(topic, rng.randint(0, 2)))
            return "source_link", "en", f"{lead} {sentence.format(url=url)}".strip()
        if r < 0.85:
            lead = " ".join(self.sentences("health", 1)) if rng.random() < 0.5 else ""
            return "helpline", "en", f"{lead} {self.pick(ham_bits.HELPLINES)}".strip()
        if r < 0.93:
            parts = [self.pick(ham_bits.ANGRY), *self.sentences(topic, rng.randint(0, 2))]
            rng.shuffle(parts)
            return "angry", "en", " ".join(parts)
        topic = rng.choice(["money", "crypto", "betting", "health"])
        parts = self.sentences(topic, rng.randint(1, 3))
        return "in_context", "en", " ".join(parts) + rng.choice(EMOJI)

    # -- spam -------------------------------------------------------------------------------------

    SPAM_KINDS = (
        ("seo_link", 12), ("recovery", 10), ("crypto_invest", 8), ("pharma", 8), ("loans", 7),
        ("support", 6), ("praise_link", 8), ("copied_link", 6), ("contact", 8), ("work_home", 5),
        ("dating", 3), ("casino", 5), ("intl", 9), ("lookalike", 4), ("zero_width", 3), ("styled", 3),
        ("name_link", 3),
    )  # fmt: skip

    def spam(self) -> tuple[str, str, str]:
        """(kind, language, text) of one spam comment."""
        kinds, weights = zip(*self.SPAM_KINDS, strict=True)
        kind = self.rng.choices(kinds, weights)[0]
        if kind == "intl":
            lang = self.rng.choice(sorted(spam_intl.TEMPLATES))
            return kind, lang, self.fill(self.pick(spam_intl.TEMPLATES[lang]))
        if kind == "copied_link":
            topic = self.pick(sorted(ham_en.TOPICS))
            return kind, "en", f"{' '.join(self.sentences(topic, 1))} {self.url()}"
        if kind == "name_link":
            return kind, "en", self.pick(ham_bits.SHORT)
        if kind in ("lookalike", "zero_width", "styled"):
            base = self.pick(spam_intl.BASE_FOR_TRICKS)
            if self.rng.random() < 0.5:
                base += " " + self.rng.choice([self.url(), f"WhatsApp {self.phone()}", self.contact()])
            trick = {"lookalike": lookalike, "zero_width": zero_width, "styled": styled}[kind]
            return kind, "en", trick(base, self.rng)
        return kind, "en", self.fill(self.pick(spam_en.TEMPLATES[kind]))

    def burst(self) -> tuple[str, list[tuple[dict[str, str], str]]]:
        """One near-duplicate burst: (template language, [(author, text)])."""
        template = self.pick(spam_intl.BURSTS)
        # The fixed slots (url, expert, contact, ...) stay the same through the burst; spintax varies.
        fixed = re.sub(r"\{(\w+)\}", lambda m: self.fill(m.group()), template)
        copies = []
        for _ in range(self.rng.randint(6, 14)):
            first, last = self.rng.choice([*FIRST, "Jessica", "Brandon", "Tiffany"]), self.rng.choice(LAST)
            number = self.rng.randint(10, 999)
            email = f"{ascii_name(first)}{number}@{self.rng.choice(['gmail.com', 'mail.ru', 'outlook.com'])}"
            copies.append(({"name": f"{first} {last}", "email": email, "url": ""}, self.fill(fixed)))
        lang = "de" if "verdiene" in template else "es" if "Gano" in template else "en"
        return lang, copies


def bigrams(text: str) -> set[tuple[str, str]]:
    words = re.findall(r"\w+", text.lower())
    return set(itertools.pairwise(words))


def unique_ham(maker: Maker, seen: list[set[tuple[str, str]]]) -> tuple[str, str, str]:
    """A legitimate comment that shares at most half of its word pairs with every earlier one of its
    split (people do not write each other's comments; short ones may coincide). When a kind's
    fragments run out, another kind is tried."""
    for _ in range(20):
        r = maker.rng.random()
        for _ in range(30):
            kind, lang, text = maker.ham(r)
            pairs = bigrams(text)
            if len(pairs) < 6 or all(len(pairs & old) <= 0.5 * len(pairs | old) for old in seen):
                if len(pairs) >= 6:
                    seen.append(pairs)
                return kind, lang, text
    raise RuntimeError("not enough fragments for unique comments")


def build(seed: int = SEED) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for split in ("train", "test"):
        maker = Maker(rng, split)
        seen: list[set[tuple[str, str]]] = []
        for n in range(COUNTS[("ham", split)]):
            kind, lang, text = unique_ham(maker, seen)
            if rng.random() < 0.08:
                text = text.lower().replace(".", "").replace(",", "")  # typed in a hurry
            rows.append(row(f"{split}-h{n:04d}", "ham", kind, lang, split, None, text, maker.person()))
        for n in range(COUNTS[("spam", split)]):
            kind, lang, text = maker.spam()
            rows.append(row(f"{split}-s{n:04d}", "spam", kind, lang, split, None, text, maker.spammer(kind)))
        for g in range(BURST_GROUPS[split]):
            lang, copies = maker.burst()
            group = f"{split}-b{g:02d}"
            for n, (author, text) in enumerate(copies):
                rows.append(row(f"{group}-{n:02d}", "spam", "burst", lang, split, group, text, author))
    return rows


def row(
    id_: str,
    label: str,
    kind: str,
    lang: str,
    split: str,
    group: str | None,
    text: str,
    author: dict[str, str],
) -> dict[str, Any]:
    return {"id": id_, "label": label, "kind": kind, "lang": lang, "split": split, "group": group,
            "text": text, "author": author}  # fmt: skip


def train(corpus: Path = OUT) -> classifier.Counts:
    """The base model's counts, from the corpus's training rows (the test rows are never read)."""
    counts = classifier.Counts()
    with corpus.open(encoding="utf-8") as lines:
        for line in lines:
            item = json.loads(line)
            if item["split"] == "train":
                counts.add(Parsed(item["text"]).features, item["label"] == "spam")
    return counts


def main() -> None:
    rows = build()
    with OUT.open("w", encoding="utf-8") as out:
        for item in rows:
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
    by: dict[tuple[str, str], int] = {}
    for item in rows:
        by[(item["label"], item["split"])] = by.get((item["label"], item["split"]), 0) + 1
    print(
        f"wrote {len(rows)} comments to {OUT}: "
        + ", ".join(f"{k[0]}/{k[1]} {v}" for k, v in sorted(by.items()))
    )
    counts = train()
    model = Path(classifier.__file__).with_name(classifier.BASE_FILE)
    model.write_bytes(data := counts.to_bytes())
    print(f"trained on {counts.spam_docs} spam and {counts.ham_docs} ham comments: {len(data):,} bytes")
    print(f"in {model}")


if __name__ == "__main__":
    main()
