"""Reading exercises, and the pretraining mixture that adds them to the world corpus.

A reading exercise is a record from outside the shop (a booking, a permit, a made-up
"umajov ZEWB-34747", "Rule: Lockers are free for the first 9 hours") and a customer question
whose reply restates the asked line or its values: it teaches finding a value in the context
and copying it, with no shop fact. This is version 5 of the generator, which
``tiny-shop-reader``'s last pretraining stage used; versions 2 and 4, which ``tiny-shop`` and
the reader's first stages used, are kept frozen in ``exercises_v2.py`` and ``exercises_v4.py``
(`pretraining_corpus(exercise_version=...)`), so ``lm_envs/models/recipes.yml`` rebuilds both
shipped models from this checkout.

`pretraining_corpus` is what `lm_envs.models.pretrain` trains on: the world corpus
(`lm_envs.world.ShopWorld.corpus`) with the exercises mixed in. The shop's words (shipped,
in stock, USPS, Visa) appear there only as values of other records, never as facts of the
world.
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np

from lm_envs.world.corpus import corpus_rng, experience_notes, shop_documents, shuffled_unique
from lm_envs.world.sampling import pick, sample
from lm_envs.world.shop import ShopWorld, check_seed
from lm_envs.world.text import FIRST_NAMES
from lm_envs.world.words import format_date, format_price, join_words

__all__ = ["EXERCISE_VERSIONS", "copy_exercise", "mentions_world_fact", "pretraining_corpus", "world_fact_strings"]


# ---------------------------------------------- reading exercises (records of other kinds)
# A record from outside the shop (a booking, a permit, a class pass, ...), then a customer's
# question and the agent's reply, which restates values of the record. Entities, fields,
# their order and every value are drawn at random, and some entity and status words are
# made-up words, so no reply can be memorised: the one way to predict it is to find the
# asked value in the context and copy it. That is the reading skill a support agent needs;
# *which* facts a shop customer wants, and every fact of the shop world, are left for RL.
# Values have the world's shapes (dates of any year 1990-2059, 2025 and 2026 included; any
# cents; any day count; ``example.*`` e-mail hosts), so the copying prior never argues
# against a true value; `pretraining_corpus` draws again an exercise that happens to state
# one of the world's own facts. Words have the world's vocabulary too (v5): statuses include
# the shop's (shipped, delivered, in stock, ...), providers include the carriers, ways to pay
# include the card names, codes include carrier-style tracking codes, and hours are composed
# in the shop's style; these are words to copy, not facts (which order shipped with whom
# stays the world's). Ids never start with ORD. Contexts also come as notes alone (``_note``:
# rules of other places, one to three, the reply restating the asked one, as a policy line is
# restated) and as catalog-shaped lines (``_item_line``), so the skill is reading any line,
# not one record format.
_ENTITIES = ("Booking", "Ticket", "Loan", "Membership", "Reservation", "Appointment", "Permit",
             "Subscription", "Rental", "Lease", "Pass", "Enrollment", "Application", "Visit",
             "Locker", "Session", "Voucher", "Course", "Repair", "Claim", "Request", "Case",
             "Account", "Plot", "Slot", "Policy", "Badge", "Job", "Tour", "Stay", "Loaner",
             "Charter", "Entry", "Listing", "Invoice", "Berth", "Desk", "Studio", "Camp", "Grant")
_STATUSES = ("confirmed", "pending", "active", "expired", "approved", "on hold", "closed",
             "open", "waitlisted", "checked in", "paid", "unpaid", "renewed", "suspended",
             "scheduled", "in review", "completed", "declined", "assigned", "queued", "booked",
             "signed", "finished", "started", "paused", "archived", "issued", "accepted",
             "in progress", "ready", "printed", "posted", "filed", "verified", "rejected",
             # the shop's own status and stock words, so copying one is never against the prior
             "processing", "shipped", "delivered", "cancelled", "returned", "in stock", "out of stock")
_DATE_FIELDS = (  # (record wording, question, what the reply says), {d} = the date
    ("starting {d}", "When does {x} start?", "starts on {d}"),
    ("ending {d}", "When does {x} end?", "ends on {d}"),
    ("expires {d}", "When does {x} expire?", "expires on {d}"),
    ("renews {d}", "When does {x} renew?", "renews on {d}"),
    ("due {d}", "When is {x} due?", "is due on {d}"),
    ("scheduled for {d}", "What day is {x} scheduled for?", "is scheduled for {d}"),
    ("issued {d}", "When was {x} issued?", "was issued on {d}"),
    ("ready {d}", "When will {x} be ready?", "will be ready on {d}"),
    ("opened {d}", "When was {x} opened?", "was opened on {d}"),
    ("closing {d}", "When does {x} close?", "closes on {d}"),
)
_MONEY_LABELS = ("fee", "deposit", "balance", "fare", "charge", "total", "rate", "cost", "dues",
                 "premium")
_COUNT_UNITS = ("nights", "guests", "days", "weeks", "sessions", "visits", "seats", "hours",
                "lessons", "tickets", "days", "days")  # day counts twice as often: every policy day count occurs
_CODE_LABELS = ("reference", "room", "seat", "locker", "card", "confirmation", "permit",
                "account", "pin", "badge", "serial", "case", "tracking")
_PROVIDERS = ("Northway", "Brightline", "Cobalt Co", "Harbor Group", "Summit Services",
              "Bluebird", "Keystone", "Pioneer Hall", "Redwood Union", "Tandem",
              "UPS", "FedEx", "DHL", "USPS")
_SURNAMES = ("Chen", "Ortiz", "Reyes", "Park", "Haddad", "Novak", "Silva", "Kowalski", "Ito",
             "Mensah", "Larsen", "Rossi", "Dubois", "Nguyen", "Okafor", "Varga")
_PLACES = (("Willow", "Aspen", "Harbor", "Quarry", "Meadow", "Granite", "Orchard", "Beacon"),
           ("Row", "Terrace", "Crescent", "Square", "Walk", "Place"),
           ("Northgate", "Eastbrook", "Westmoor", "Southport", "Millbank", "Kingsford"))
_MAIL_HOSTS = ("example.com", "example.net", "example.org", "inbox.test", "post.test")
_CODE_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"
_ALL_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CONSONANTS, _VOWELS = "bcdfghjklmnpqrstvwxz", "aeiouy"
_NOT_WORDS = ("ord", "ups", "dhl", "ret", "ref", "can", "del", "ship", "goal", "carr")


def _made_up_word(rng: np.random.Generator) -> str:
    """``"tesomi"``: 4-8 letters alternating consonants and vowels, from any first letter,
    spelling no shop word or carrier (one can only copy such a word, not guess it)."""
    while True:
        letters, vowel = [], rng.random() < 0.3
        for _ in range(int(rng.integers(4, 9))):
            letters.append(pick(rng, _VOWELS if vowel else _CONSONANTS))
            vowel = not vowel
        word = "".join(letters)
        if not any(bad in word for bad in _NOT_WORDS):
            return word


def _exercise_code(rng: np.random.Generator) -> str:
    """``"BK-40213"``, ``"QTL-881"``: two to four letters (never ``ORD``, ``UPS`` or ``DHL``) and 3-6 digits."""
    while True:
        prefix = "".join(pick(rng, _ALL_LETTERS) for _ in range(2 + int(rng.integers(3))))
        if not any(bad in prefix for bad in ("ORD", "UPS", "DHL")):  # no order id or carrier
            break
    digits = int(rng.integers(3, 7))
    return f"{prefix}-{int(rng.integers(10 ** (digits - 1), 10 ** digits))}"


def _exercise_date(rng: np.random.Generator) -> str:
    """``"March 3, 2034"``: any year from 1990 to 2059, so the year too must be copied."""
    return format_date(date(int(rng.integers(1990, 2060)), int(rng.integers(1, 13)), int(rng.integers(1, 29))))


def _exercise_money(rng: np.random.Generator) -> str:
    """``"$41.99"``: any cents, so no ending (``.99``, ``.49``, ``.00``) is less likely to be copied."""
    return format_price(float(rng.integers(2, 900)) + float(rng.integers(100)) / 100)


def _long_code(rng: np.random.Generator) -> str:
    """``"40213998712"``, ``"K7QX2M"``, ``"1Z4F..."``: digits (8 to 22) or letters and digits,
    sometimes in a carrier's style, so a tracking number is a code like any other."""
    kind = rng.random()
    if kind < 0.4:
        return "".join(pick(rng, "0123456789") for _ in range(int(rng.integers(8, 23))))
    if kind < 0.55:  # UPS-style
        return "1Z" + "".join(pick(rng, _CODE_LETTERS + "0123456789") for _ in range(16))
    return "".join(pick(rng, _CODE_LETTERS + "0123456789") for _ in range(int(rng.integers(5, 11))))


def _exercise_count(rng: np.random.Generator, unit: str) -> int:
    return int(rng.integers(2, 90 if unit == "days" else 13))


def _exercise_fields(rng: np.random.Generator, x: str) -> dict[str, tuple[str, list[tuple[str, str]], str]]:
    """Fields of one record: name -> (record wording, [(question, reply)], reply clause)."""
    X = x[0].upper() + x[1:]
    status = _made_up_word(rng) if rng.random() < 0.4 else pick(rng, _STATUSES)
    other = pick(rng, [s for s in _STATUSES if s != status])
    wording, question, clause = pick(rng, _DATE_FIELDS)
    d = _exercise_date(rng)
    label, money = pick(rng, _MONEY_LABELS), _exercise_money(rng)
    unit = pick(rng, _COUNT_UNITS)
    n = _exercise_count(rng, unit)
    code_label = pick(rng, _CODE_LABELS)
    code = _long_code(rng)
    provider = pick(rng, _PROVIDERS)
    return {
        "status": (status, [(f"What is the status of {x}?", f"{X} is {status}."),
                            (f"Is {x} {other}?", f"No, {x} is {status}."),
                            (f"What's happening with {x}?", f"{X} is {status}.")], f"is {status}"),
        "date": (wording.format(d=d), [(question.format(x=x), f"{X} {clause.format(d=d)}.")], clause.format(d=d)),
        "money": (f"{label} {money}", [(f"How much is the {label} for {x}?", f"The {label} for {x} is {money}."),
                                       (f"What did I pay for {x}?", f"You paid {money} for {x}.")],
                  f"has a {label} of {money}"),
        "count": (f"{n} {unit}", [(f"How many {unit} is {x} for?", f"{X} is for {n} {unit}.")], f"is for {n} {unit}"),
        "code": (f"{code_label} {code}", [(f"What is the {code_label} number of {x}?", f"The {code_label} number of {x} is {code}."),
                                          (f"Can you send me the {code_label} for {x}?", f"The {code_label} for {x} is {code}.")],
                 f"has {code_label} {code}"),
        "provider": (f"with {provider}", [(f"Who handles {x}?", f"{X} is handled by {provider}."),
                                          (f"Which company is {x} with?", f"{X} is with {provider}.")],
                     f"is with {provider}"),
    }


def _member_line(rng: np.random.Generator, x: str) -> tuple[str, list[tuple[str, str]]]:
    """A member line (name, e-mail, sometimes an address) and questions about it."""
    first, last = pick(rng, FIRST_NAMES), pick(rng, _SURNAMES)
    email = f"{first.lower()}.{last.lower()}{int(rng.integers(100))}@{pick(rng, _MAIL_HOSTS)}"
    street = f"{int(rng.integers(1, 3000))} {pick(rng, _PLACES[0])} {pick(rng, _PLACES[1])}"
    town = pick(rng, _PLACES[2])
    with_address = rng.random() < 0.5
    label = pick(rng, ("Member", "Account", "Guest", "Client", "Contact", "Holder"))
    line = f"{label}: {first} {last}, {email}" + (f", {street}, {town}." if with_address else ".")
    key = pick(rng, ("login", "pin", "pass code", "key card", "member card"))
    exchanges = [("What email do you have for me?", f"We have {email} on file."),
                 (pick(rng, (f"I lost my {key}.", f"I forgot my {key}.", f"How do I get a new {key}?",
                             f"I can't find my {key}.")), f"I have sent a new {key} link to {email}."),
                 (f"Whose name is {x} under?", f"{x[0].upper() + x[1:]} is under {first} {last}.")]
    if with_address:
        exchanges.append(("Which address do you have?", f"We have {street}, {town}."))
    return line, exchanges


_PAY_WAYS = ("cash", "checks", "bank transfers", "vouchers", "tokens", "meal cards",
             "coupons", "store credit", "prepaid cards", "wire transfers", "money orders",
             "Visa", "Mastercard", "American Express", "PayPal", "Apple Pay", "Google Pay", "gift cards")
_WEEK_DAYS = ("Monday to Friday", "Monday to Saturday", "Tuesday to Sunday", "Monday to Thursday",
              "every day", "weekdays", "weekends only", "Fridays only", "every evening")


def _week_hours(rng: np.random.Generator) -> str:
    """``"Monday to Friday, 8am to 5pm PT"``: composed, so the shop's own hours are one of many."""
    if rng.random() < 0.1:
        return "24 hours a day, 7 days a week"
    start, end = int(rng.integers(5, 12)), int(rng.integers(1, 12))
    return f"{pick(rng, _WEEK_DAYS)}, {start}am to {end}pm" + pick(rng, ("", "", " ET", " PT", " CT"))
_NOTE_SUBJECTS = ("guests", "members", "visitors", "students", "tenants", "drivers", "children", "pets",
                  "bikes", "boats", "lockers", "rooms", "tickets", "passes", "permits", "lessons", "tours",
                  "rentals", "vouchers", "parking spots", "weekend passes", "group visits", "late checkouts",
                  "repairs", "lockers", "classes", "camp spots", "desks", "studios", "field trips",
                  "trial classes", "guest passes", "boat slips", "storage units", "workshops")
_NOTE_UNITS = ("nights", "hours", "weeks", "sessions", "visits", "lessons", "months")
_CODE_WORDS = ("badge", "pin", "permit", "key card", "pass code", "member card", "ticket stub")
# (sentence, topic questions) with {S}/{s} the subject; values are drawn per sentence, so
# the one way to restate a note is to copy it
_NOTES = (
    ("{S} can stay up to {n} {unit}.", ("How long can {s} stay?", "Is there a limit for {s}?")),
    ("{S} are free for the first {n} {unit}, then {m} each.", ("Are {s} free?", "What do {s} cost?")),
    ("{S} cost {m}, and they are free for groups over {k}.", ("How much are {s}?", "What do {s} cost?")),
    ("{S} cost {m} each on weekdays and {m2} on weekends.", ("How much are {s}?", "What is the price of {s}?")),
    ("A late fee of {m} per day applies to {s}.", ("Is there a late fee for {s}?", "What happens if {s} are late?")),
    ("We take {ways} for {s}.", ("How can I pay for {s}?", "What can I pay with for {s}?")),
    ("{S} can be paid with {ways}.", ("How do I pay for {s}?", "Which ways to pay work for {s}?")),
    ("{S} are open {hours}.", ("When are {s} open?", "What are the hours for {s}?")),
    ("The desk for {s} is staffed {hours}.", ("When can I ask about {s}?", "When is someone there for {s}?")),
    ("{S} are covered for {k} months after the visit.", ("Are {s} covered?", "How long are {s} covered?")),
    ("{S} are valid for {n} {unit} after they are issued.", ("How long are {s} valid?", "When do {s} run out?")),
    ("{S} need a {code_word} from {provider}.", ("What do {s} need?", "Who issues what {s} need?")),
    ("{S} are {status} until {d}.", ("Are {s} {other}?", "What is going on with {s}?")),
    ("Each of the {s} comes with {k} {unit} and a {m} credit.", ("What comes with {s}?", "What do I get with {s}?")),
    ("{S} are handled by {provider} and cost {m}.", ("Who handles {s}?", "Who runs {s}?")),
    ("{S} booked before {d} get {k} free {unit}.", ("Is there a deal on {s}?", "Do early {s} get anything?")),
    ("Up to {k} {s} are allowed per member, at {m} each.", ("How many {s} can I have?", "Is there a limit on {s}?")),
    ("{S} must be {status} within {n} {unit}, or a {m} fee applies.", ("Is there a deadline for {s}?", "What are the rules for {s}?")),
)
_NOTE_LABELS = ("Policy", "Rule", "Note", "Notice", "Terms", "Info", "Guideline")


def _note(rng: np.random.Generator) -> tuple[str, list[tuple[str, str]]]:
    """``"Rule: Lockers are free for the first 9 hours, then $4.15 each."`` and questions whose
    reply restates the sentence: a policy line of another place, drawn anew each time."""
    subject = _made_up_word(rng) + "s" if rng.random() < 0.3 else pick(rng, _NOTE_SUBJECTS)
    sentence, questions = pick(rng, _NOTES)
    unit = pick(rng, _NOTE_UNITS)
    status = pick(rng, _STATUSES)
    m, m2 = _exercise_money(rng), _exercise_money(rng)
    sentence = sentence.format(
        S=subject[0].upper() + subject[1:], s=subject, n=_exercise_count(rng, "days"), unit=unit,
        m=m, m2=m2, k=int(rng.integers(2, 13)), ways=join_words(sample(rng, _PAY_WAYS, int(rng.integers(2, 5)))),
        hours=_week_hours(rng), code_word=pick(rng, _CODE_WORDS), provider=pick(rng, _PROVIDERS),
        status=status, d=_exercise_date(rng))
    other = pick(rng, [s for s in _STATUSES if s != status])
    asked = [q.format(s=subject, other=other) for q in questions]
    asked += [f"What is the rule for {subject}?", f"What about {subject}?", f"Can you tell me about {subject}?"]
    return f"{pick(rng, _NOTE_LABELS)}: {sentence}", [(q, sentence) for q in asked]


_ITEM_LABELS = ("Item", "Unit", "Listing", "Lot", "Kit", "Room", "Plan", "Spot", "Offer", "Model")
_ITEM_NOUNS = ("Lantern", "Tent", "Kayak", "Easel", "Bench", "Loom", "Sled", "Canoe", "Hammock",
               "Telescope", "Trailer", "Cabin", "Locker", "Stall", "Berth", "Bunk", "Drone", "Piano",
               "Harp", "Forge", "Anvil", "Glider", "Raft", "Wagon")
_ITEM_TERMS = ("plan", "guarantee", "lease", "service plan", "trial", "cover")


def _item_line(rng: np.random.Generator) -> tuple[str, list[tuple[str, str]]]:
    """``"Item: Tesomi K4 Lantern, $41.15, open (6 left), 9-month plan."`` and questions on it,
    the shape of a catalog line without any catalog value."""
    name = (f"{_made_up_word(rng).capitalize()} {pick(rng, _CODE_LETTERS)}{int(rng.integers(1, 100))} "
            f"{pick(rng, _ITEM_NOUNS)}")
    money, left = _exercise_money(rng), int(rng.integers(1, 90))
    status = pick(rng, _STATUSES)
    k, unit, term = int(rng.integers(2, 49)), pick(rng, ("month", "week", "year")), pick(rng, _ITEM_TERMS)
    fields = [money, f"{status} ({left} left)", f"{k}-{unit} {term}"]
    rng.shuffle(fields)
    line = f"{pick(rng, _ITEM_LABELS)}: {name}, " + ", ".join(fields) + "."
    other = pick(rng, [s for s in _STATUSES if s != status])
    exchanges = [
        (f"How much is the {name}?", f"The {name} is {money}."),
        (f"What does the {name} cost?", f"The {name} costs {money}."),
        (f"Is the {name} {other}?", f"No, the {name} is {status}; there are {left} left."),
        (f"Is the {name} {status}?", f"Yes, the {name} is {status}; there are {left} left."),
        (f"How many {name}s are left?", f"There are {left} left, and the {name} is {status}."),
        (f"What {term} does the {name} have?", f"The {name} comes with a {k}-{unit} {term}."),
        (f"How long is the {term} on the {name}?", f"The {name} has a {k}-{unit} {term}."),
        (f"Tell me about the {name}.", line.split(": ", 1)[1]),
    ]
    return line, exchanges


def copy_exercise(rng: np.random.Generator) -> str:
    """A record from outside the shop, a customer's question and the agent's reply from it.

    ``"Permit QTL-4471: approved, expires March 3, 2034, fee $41.50.\nCustomer: When does
    permit QTL-4471 expire?\nAgent: Permit QTL-4471 expires on March 3, 2034."`` One
    exchange per record, so the reply is followed by the end of the text, as an answer is.
    """
    entity = _made_up_word(rng).capitalize() if rng.random() < 0.35 else pick(rng, _ENTITIES)
    code = _exercise_code(rng)
    x = f"{entity.lower()} {code}"
    fields = _exercise_fields(rng, x)
    chosen = sample(rng, list(fields), 2 + int(rng.integers(3)))
    lines = [f"{entity} {code}: " + ", ".join(fields[name][0] for name in chosen) + "."]
    exchanges = [pick(rng, fields[name][1]) for name in chosen]
    update = pick(rng, (f"Any update on {x}?", f"Where is my {entity.lower()} {code}?", f"Can you check {x}?",
                        f"Can you read me {x}?", f"What do you have on file for {x}?"))
    if rng.random() < 0.5:  # read the record back: the whole line, copied
        exchanges += [(update, lines[0])] * 2
    else:  # or join two of its fields, as a status answer does
        first, second = chosen[:2]
        exchanges.append((update, f"{x[0].upper() + x[1:]} {fields[first][2]} and {fields[second][2]}."))
    if rng.random() < 0.4:
        member, member_qa = _member_line(rng, x)
        lines.insert(int(rng.integers(2)), member)
        exchanges.append(pick(rng, member_qa))
    if rng.random() < 0.3:
        note, note_qa = _note(rng)
        lines.append(note)
        exchanges.append(pick(rng, note_qa))
    kind = rng.random()
    if kind < 0.2:  # notes alone, as policy lines are retrieved alone: the reply is one of them
        notes = [_note(rng) for _ in range(1 + int(rng.integers(3)))]
        lines, exchanges = [line for line, _ in notes], [pick(rng, pick(rng, notes)[1])]
    elif kind < 0.35:  # catalog-shaped lines, sometimes with a note
        items = [_item_line(rng) for _ in range(1 + int(rng.integers(2)))]
        lines, exchanges = [line for line, _ in items], [pick(rng, pick(rng, items)[1])]
        if rng.random() < 0.3:
            note, note_qa = _note(rng)
            lines.append(note)
            exchanges.append(pick(rng, note_qa))
    question, reply = pick(rng, exchanges)
    if reply.startswith(x[0].upper() + x[1:]) and rng.random() < 0.4:  # "Your permit QTL-4471 ..."
        reply = "Your " + reply[0].lower() + reply[1:]
    elif rng.random() < 0.25:  # customers often ask without the record's code
        question = question.replace(x, f"my {entity.lower()}")
    return "\n".join(lines + [f"Customer: {question}", f"Agent: {reply}"])


# The shapes of the values a reading exercise can share with the world: dates, amounts,
# e-mails and long digit strings (tracking numbers). Comparing the values of these shapes
# against a set is fast; a regex of every world fact would not be.
_VALUE_SHAPES = re.compile(
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r" \d{1,2}, \d{4}|\$[\d,]+\.\d\d|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\b\d{6,}\b|\b1Z[A-Z0-9]{16}\b"
    # opening hours, the shape of the shop's support hours
    r"|(?:[A-Z][a-z]+ to [A-Z][a-z]+|every day|every evening|weekdays|weekends only|[A-Z][a-z]+s only),"
    r" \d{1,2}(?:am|pm) to \d{1,2}(?:am|pm)(?: [A-Z]T)?|24 hours a day, 7 days a week"
)


def world_fact_strings(world: ShopWorld) -> frozenset[str]:
    """The world's own values in the forms an exercise could state them: every order's dates,
    total and tracking number, every customer's e-mail, the policy amounts and support hours."""
    facts: set[str] = set()
    for order in world.orders:
        facts.update({format_date(order.order_date), format_date(order.delivery_date),
                      format_price(order.total), order.tracking_number})
    facts.update(user.email for user in world.users)
    facts.update({format_price(world.policies.shipping_fee), format_price(world.policies.free_shipping_threshold),
                  world.policies.support_hours})
    return frozenset(facts)


def mentions_world_fact(document: str, world_facts: frozenset[str]) -> bool:
    """Whether ``document`` states one of ``world_facts``."""
    return any(match.group(0).rstrip(".") in world_facts for match in _VALUE_SHAPES.finditer(document))


EXERCISE_VERSIONS = (2, 4, 5)
"""Versions of the reading-exercise generator that `pretraining_corpus` can draw: 5 is this
module's; 2 (`lm_envs.models.exercises_v2`) and 4 (`lm_envs.models.exercises_v4`) are frozen,
because the shipped models' recipes trained on them. 3 added rule notes drawn anew, item lines
and member labels; 4 gave values the world's shapes and dropped exercises stating a world fact;
5 gave them the world's vocabulary (see the comment above ``_ENTITIES``)."""


def pretraining_corpus(
    world: ShopWorld, seed: int = 0, *, n_copy_exercises: int = 0, n_experience_notes: int = 0,
    exercise_version: int = 5,
) -> list[str]:
    """``world.corpus(seed, n_experience_notes=...)`` with ``n_copy_exercises`` reading exercises.

    The exercises are drawn from the corpus's own generator, after the generic text and before
    the experience notes, and the whole is de-duplicated and shuffled as the world corpus is:
    the same world and arguments give the same list, and ``n_copy_exercises=0`` gives the
    world corpus itself. ``exercise_version`` (one of :data:`EXERCISE_VERSIONS`) picks the
    generator; from version 4 on, an exercise that states a world fact is drawn again.
    """
    for name, value in (("n_copy_exercises", n_copy_exercises), ("n_experience_notes", n_experience_notes)):
        check_seed(value, name)  # same rule: an int >= 0
    if exercise_version not in EXERCISE_VERSIONS:
        raise ValueError(f"exercise_version must be one of {EXERCISE_VERSIONS}, got {exercise_version!r}")
    draw, facts, states_fact = copy_exercise, world_fact_strings, mentions_world_fact
    if exercise_version == 2:
        from lm_envs.models import exercises_v2

        draw, facts, states_fact = exercises_v2.copy_exercise, (lambda _: frozenset()), (lambda *_: False)
    elif exercise_version == 4:
        from lm_envs.models import exercises_v4

        draw, facts, states_fact = exercises_v4.copy_exercise, exercises_v4.world_fact_strings, exercises_v4.mentions_world_fact
    rng = corpus_rng(world.seed, check_seed(seed))
    documents = shop_documents(rng, world.products)
    world_facts = facts(world)
    for _ in range(n_copy_exercises):
        exercise = draw(rng)
        while states_fact(exercise, world_facts):  # values are random; a few hit a real one
            exercise = draw(rng)
        documents.append(exercise)
    documents += experience_notes(rng, world.products, n_experience_notes)
    return shuffled_unique(rng, documents)
