"""Spam in other languages, the spintax templates of near-duplicate bursts, and how spammers dress
text to slip past filters (look-alike letters of other scripts, invisible characters inside words,
"styled" mathematical letters), written for this corpus. ``{a|b|c}`` picks one alternative per
copy; the other ``{slots}`` are make.py's."""

from __future__ import annotations

import random

TEMPLATES: dict[str, list[str]] = {
    "de": [
        "Ich verdiene {amount} pro Woche von zu Hause aus. Schreiben Sie mir auf WhatsApp {phone}",
        "Günstige Kredite ohne Schufa, Auszahlung in 24 Stunden: {url}",
        "Ich habe {amount} an Betrüger verloren, aber {expert} hat alles zurückgeholt. Kontakt: {contact}",
        "Viagra ohne Rezept kaufen, diskreter Versand {url}",
        "Bitcoin-Trading mit garantiertem Gewinn, melden Sie sich bei {handle} auf Telegram",
        "Beste Online-Casinos mit 300% Bonus {url}",
        "Nebenjob von zu Hause, {amount} im Monat, keine Erfahrung nötig {url}",
    ],
    "es": [
        "Gano {amount} a la semana desde casa, escríbeme por WhatsApp {phone}",
        "Préstamos rápidos sin aval, dinero en 24 horas {url}",
        "Perdí {amount} en una estafa de criptomonedas y {expert} lo recuperó todo. Contacto: {contact}",
        "Compra Viagra sin receta, envío discreto {url}",
        "Inversión en bitcoin con ganancias garantizadas, contacta a {handle} en Telegram",
        "Casino online con bono del 200% y giros gratis {url}",
        "Trabajo desde casa para mamás y estudiantes, {amount} al mes {url}",
    ],
    "fr": [
        "Je gagne {amount} par semaine depuis chez moi, contactez-moi sur WhatsApp {phone}",
        "Prêt rapide entre particuliers, taux 2%, réponse en 24h : {contact}",
        "J'ai perdu {amount} dans une arnaque crypto et {expert} m'a tout rendu. Contact : {contact}",
        "Achetez du Cialis sans ordonnance, livraison discrète {url}",
        "Trading bitcoin avec profits garantis, écrivez à {handle} sur Telegram",
        "Meilleur casino en ligne, bonus de bienvenue 500€ {url}",
        "Travail à domicile, {amount} par mois sans expérience {url}",
    ],
    "pl": [
        "Zarabiam {amount} tygodniowo w domu, napisz do mnie na WhatsApp {phone}",
        "Szybkie pożyczki bez BIK, pieniądze w 15 minut {url}",
        "Straciłem {amount} przez oszustów, a {expert} odzyskał wszystko. Kontakt: {contact}",
        "Kup Viagrę bez recepty, dyskretna wysyłka {url}",
        "Inwestycje w bitcoin z gwarantowanym zyskiem, pisz do {handle} na Telegramie",
        "Najlepsze kasyno online, bonus 200% na start {url}",
        "Praca zdalna dla każdego, {amount} miesięcznie bez doświadczenia {url}",
    ],
    "it": [
        "Guadagno {amount} a settimana da casa, scrivimi su WhatsApp {phone}",
        "Prestiti veloci senza garanzie, soldi in 24 ore {url}",
        "Ho perso {amount} in una truffa e {expert} mi ha restituito tutto. Contatto: {contact}",
        "Compra Cialis senza ricetta, spedizione discreta {url}",
        "Casino online con bonus del 300% e giri gratis {url}",
    ],
    "pt": [
        "Ganho {amount} por semana em casa, fale comigo no WhatsApp {phone}",
        "Empréstimo rápido sem consulta ao SPC, dinheiro na hora {url}",
        "Perdi {amount} num golpe de cripto e {expert} recuperou tudo. Contato: {contact}",
        "Compre Viagra sem receita, entrega discreta {url}",
        "Cassino online com bônus de 200% e rodadas grátis {url}",
    ],
    "nl": [
        "Ik verdien {amount} per week vanuit huis, stuur me een bericht op WhatsApp {phone}",
        "Snelle lening zonder BKR-toetsing, geld binnen 24 uur {url}",
        "Ik verloor {amount} aan oplichters, {expert} heeft alles teruggehaald. Contact: {contact}",
        "Online casino met 200% bonus en gratis spins {url}",
    ],
}

# Near-duplicate bursts: one template, many copies, each from another "person".
BURSTS = [
    "{Hi|Hello|Hey} everyone, I {earn|make|get} {amount} {a week|weekly|every week} {working|from} home "
    "with a simple {method|system|trick}. {Visit|Check|See} {url} for {details|info|more}.",
    "{Great|Nice|Awesome|Amazing} {article|post|read}! {Btw|By the way|Also}, if you need "
    "{cash|money|funds} fast, {apply|go|click} {here|now}: {url}",
    "{I was|I got} {scammed|robbed|cheated} of {amount} {but|until} {expert} {recovered|returned|got "
    "back} {it|everything|my funds}. {Contact|Email|Reach} {contact}",
    "{Thanks|Thank you} {expert} for {helping me|the help|your service}, {I made|I earned|I got} {amount} "
    "{this month|in two weeks|so far}. {Write|Message|Contact} {contact}",
    "{Cheap|Discount|Low cost} {Viagra|Cialis|Kamagra} {online|here|now}, {no prescription|no Rx|without "
    "prescription} {needed|required}: {url}",
    "{Best|Top|Number one} {casino|slots|betting} {bonus|offer|deal} {today|tonight|this week}: "
    "{200%|300%|500 free spins} {at|on} {url}",
    "{Need|Looking for} a {loan|quick loan|personal loan}? {Low interest|2% interest|Fast approval}, "
    "{contact|email|message} {contact} {today|now}.",
    "{Wow|Omg|Incredible}, {this|the} {article|story} {is so true|says it all}. {I|We} {found|discovered} "
    "{the answer|a solution} {at|on} {url}",
    "{Join|Enter} {our|the} {VIP|private|exclusive} {trading|signals|crypto} {group|room|club} on "
    "Telegram {handle}, {daily profits|100% results|real gains}!",
    "{Hello|Hi} {dear|friend}, {I am|I'm} {lonely|new here|single} and {looking|searching} for {love|a "
    "friend|someone}, {WhatsApp|text} me {phone}",
    "{Win|Get|Claim} {a free iPhone|a $500 gift card|free money} {now|today}, {only|just} {a few|ten|100} "
    "{left|remaining}: {url}",
    "{Do you|Did you} {know|hear} {that|how} {Elon|a billionaire|an insider} {makes|made} {amount} {a "
    "day|daily} with {this|one} {bitcoin|crypto} {app|bot|robot}? {url}",
    "{Stop|Quit} {paying|wasting money on} {rent|your mortgage|bills}, {I|we} {show|teach} you {how|the "
    "way} {at|on} {url}",
    "{Ich verdiene|Ich mache} {amount} {pro Woche|wöchentlich} {von zu Hause|im Homeoffice}, "
    "{Infos|Details} {hier|unter} {url}",
    "{Gano|Consigo} {amount} {a la semana|cada semana} {desde casa|online}, {más info|detalles} {aquí|en} "
    "{url}",
]

# Stuffed into the text of spam for the look-alike, zero-width and styled-letter kinds.
BASE_FOR_TRICKS = [
    "Free crypto signals, guaranteed profit, join now",
    "Buy cheap viagra online without prescription",
    "Fast loans approved today, bad credit ok",
    "Earn money from home, no experience needed",
    "Best casino bonus and free spins tonight",
    "Recover your stolen bitcoin with our experts",
    "Contact me on WhatsApp for investment tips",
    "Hot singles waiting for you, sign up free",
    "Double your bitcoin in 24 hours guaranteed",
    "Weight loss pills that really work, order now",
]


# Latin letters and the Cyrillic or Greek letters drawn the same.
HOMOGLYPHS = {
    "a": "аα", "c": "с", "e": "еε", "i": "іι", "o": "оο", "p": "р", "x": "х", "y": "у", "s": "ѕ",
    "B": "ВΒ", "H": "НΗ", "K": "КΚ", "M": "МΜ", "T": "ТΤ", "A": "АΑ", "E": "ЕΕ", "O": "ОΟ", "C": "С",
    "P": "РΡ", "X": "ХΧ",
}  # fmt: skip
# Kibitz refuses zero-width spaces and the like outright (kibitz/inputs.py); these get past that check.
INVISIBLE = ["\u200d", "\u2062", "\u2063", "\u2064", "\u034f", "\u3164"]
# Offsets of the Mathematical Alphanumeric Symbols block: bold, italic, bold script, double-struck,
# sans-serif bold, monospace (capital A of each style; small a is 26 further on).
STYLES = [0x1D400, 0x1D434, 0x1D4D0, 0x1D538, 0x1D5D4, 0x1D670]
# Letters the double-struck and italic styles take from the Letterlike Symbols block instead.
HOLES = {0x1D455: "ℎ", 0x1D53A: "ℂ", 0x1D53F: "ℍ", 0x1D545: "ℕ", 0x1D547: "ℙ", 0x1D548: "ℚ",
         0x1D549: "ℝ", 0x1D551: "ℤ"}  # fmt: skip


def lookalike(text: str, rng: random.Random) -> str:
    """About half the replaceable letters swapped for look-alikes of another script."""
    return "".join(
        rng.choice(HOMOGLYPHS[ch]) if ch in HOMOGLYPHS and rng.random() < 0.5 else ch for ch in text
    )


def zero_width(text: str, rng: random.Random) -> str:
    """Invisible characters inside most words of four letters or more."""
    words = text.split(" ")
    out = []
    for word in words:
        if len(word) >= 4 and word.isalpha() and rng.random() < 0.7:
            at = rng.randint(1, len(word) - 1)
            word = word[:at] + rng.choice(INVISIBLE) + word[at:]
        out.append(word)
    return " ".join(out)


def _styled_char(ch: str, base: int) -> str:
    if "A" <= ch <= "Z":
        code = base + ord(ch) - ord("A")
    elif "a" <= ch <= "z":
        code = base + 26 + ord(ch) - ord("a")
    else:
        return ch
    return HOLES.get(code, chr(code))


def styled(text: str, rng: random.Random) -> str:
    """Some words (or all) in one style of mathematical letters, as "fancy text" generators make."""
    base = rng.choice(STYLES)
    every = rng.random() < 0.4
    return " ".join(
        "".join(_styled_char(ch, base) for ch in word) if every or rng.random() < 0.6 else word
        for word in text.split(" ")
    )
