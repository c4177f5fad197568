"""Reading exercises, version 2: the generator ``tiny-shop``'s ``reading`` stage was trained on.

Frozen: the recipe of a shipped model (``lm_envs/models/recipes.yml``, ``exercises: 2``) draws
its exercises from here, so ``python -m lm_envs.models.pretrain --recipe tiny-shop`` trains on
exactly the texts the shipped weights saw. `lm_envs.models.exercises` holds the current
version (5) and says what each version changed; fix nothing here, or the recipe no longer
rebuilds the shipped model (``tests/lm_envs/models/test_exercise_versions.py`` pins the texts).
Version 2 has no world-fact filter: its values never take the world's shapes.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from lm_envs.world.sampling import pick, sample
from lm_envs.world.text import FIRST_NAMES as _FIRST_NAMES
from lm_envs.world.text import capitalize
from lm_envs.world.words import format_date, format_price, join_words

__all__ = ["copy_exercise"]


# ---------------------------------------------- reading exercises (records of other kinds)
# A record from outside the shop (a booking, a permit, a class pass, ...), then a customer's
# question and the agent's reply, which restates values of the record. Entities, fields,
# their order and every value are drawn at random, and some entity and status words are
# made-up words, so no reply can be memorised: the one way to predict it is to find the
# asked value in the context and copy it. That is the reading skill a support agent needs;
# *which* facts a shop customer wants, and every fact of the shop world, are left for RL.
# Values avoid the world's forms: no date is in 2025 or 2026 (the world's years), day
# counts skip the policy options, amounts never end in .99/.49/.00, statuses are not the
# shop's, ids never start with ORD and e-mails use reserved ``.test`` hosts.
_ENTITIES = ("Booking", "Ticket", "Loan", "Membership", "Reservation", "Appointment", "Permit",
             "Subscription", "Rental", "Lease", "Pass", "Enrollment", "Application", "Visit",
             "Locker", "Session", "Voucher", "Course", "Repair", "Claim", "Request", "Case",
             "Account", "Plot", "Slot", "Policy", "Badge", "Job", "Tour", "Stay", "Loaner",
             "Charter", "Entry", "Listing", "Invoice", "Berth", "Desk", "Studio", "Camp", "Grant")
_STATUSES = ("confirmed", "pending", "active", "expired", "approved", "on hold", "closed",
             "open", "waitlisted", "checked in", "paid", "unpaid", "renewed", "suspended",
             "scheduled", "in review", "completed", "declined", "assigned", "queued", "booked",
             "signed", "finished", "started", "paused", "archived", "issued", "accepted",
             "in progress", "ready", "printed", "posted", "filed", "verified", "rejected")
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
                "lessons", "tickets")
_POLICY_DAYS = (3, 5, 7, 10, 14, 30, 45, 60)  # the world's return and refund windows: skipped
_CODE_LABELS = ("reference", "room", "seat", "locker", "card", "confirmation", "permit",
                "account", "pin", "badge", "serial", "case")
_PROVIDERS = ("Northway", "Brightline", "Cobalt Co", "Harbor Group", "Summit Services",
              "Bluebird", "Keystone", "Pioneer Hall", "Redwood Union", "Tandem")
_SURNAMES = ("Chen", "Ortiz", "Reyes", "Park", "Haddad", "Novak", "Silva", "Kowalski", "Ito",
             "Mensah", "Larsen", "Rossi", "Dubois", "Nguyen", "Okafor", "Varga")
_PLACES = (("Willow", "Aspen", "Harbor", "Quarry", "Meadow", "Granite", "Orchard", "Beacon"),
           ("Row", "Terrace", "Crescent", "Square", "Walk", "Place"),
           ("Northgate", "Eastbrook", "Westmoor", "Southport", "Millbank", "Kingsford"))
_MAIL_HOSTS = ("inbox.test", "post.test", "mailbox.test")
_CODE_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"
_ALL_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PAY_WAYS = ("cash", "checks", "bank transfers", "vouchers", "tokens", "meal cards",
             "coupons", "store credit")
_WEEK_HOURS = ("weekdays, 7am to 3pm", "Tuesday to Sunday, noon to 9pm",
               "every day, 6am to 11pm", "weekends only, 10am to 4pm", "Monday to Thursday, 9am to 9pm")
_RULES = (  # (sentence, questions); the reply restates the sentence
    ("Guests can stay up to {n} nights per visit.", ("How long can guests stay?", "Is there a limit on nights?")),
    ("Lockers are free for the first {n} hours.", ("Are lockers free?", "How long is a locker free?")),
    ("A day pass costs {m}, and it is free for children under {k}.", ("How much is a day pass?", "What does a pass cost?")),
    ("Late fees are {m} per day after the due date.", ("What are the late fees?", "How much is a late fee?")),
    ("We take {ways}.", ("How can I pay?", "What can I pay with?", "Which ways to pay do you take?")),
    ("The front office is open {hours}.", ("When is the office open?", "What are your hours?", "When can I come in?")),
    ("Members can bring {k} guests for {m} each.", ("Can I bring guests?", "How many guests can I bring?")),
    ("Permits are valid for {n} days after they are issued.", ("How long is a permit valid?", "When does a permit run out?")),
    ("Repairs are covered for {k} months after the visit.", ("Are repairs covered?", "How long are repairs covered?")),
)
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
    """``"BK-40213"``, ``"QTL-881"``: two to four letters (never ``ORD``) and 3-6 digits."""
    while True:
        prefix = "".join(pick(rng, _ALL_LETTERS) for _ in range(2 + int(rng.integers(3))))
        if "ORD" not in prefix:
            break
    digits = int(rng.integers(3, 7))
    return f"{prefix}-{int(rng.integers(10 ** (digits - 1), 10 ** digits))}"


def _exercise_date(rng: np.random.Generator) -> str:
    """``"March 3, 2034"``: any year from 1990 to 2059 but the world's (2025 and 2026), so
    the year too must be copied, never guessed."""
    while True:
        year = int(rng.integers(1990, 2060))
        if year not in (2025, 2026):
            return format_date(date(year, int(rng.integers(1, 13)), int(rng.integers(1, 29))))


def _exercise_money(rng: np.random.Generator) -> str:
    return format_price(float(rng.integers(2, 900)) + float(pick(rng, (5, 15, 25, 40, 50, 60, 75, 80))) / 100)


def _exercise_count(rng: np.random.Generator, unit: str) -> int:
    while True:
        n = int(rng.integers(2, 90 if unit == "days" else 13))
        if unit != "days" or n not in _POLICY_DAYS:
            return n


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
    code = (str(int(rng.integers(10**9, 10**15))) if rng.random() < 0.5
            else "".join(pick(rng, _CODE_LETTERS + "0123456789") for _ in range(int(rng.integers(5, 11)))))
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
    first, last = pick(rng, _FIRST_NAMES), pick(rng, _SURNAMES)
    email = f"{first.lower()}.{last.lower()}{int(rng.integers(100))}@{pick(rng, _MAIL_HOSTS)}"
    street = f"{int(rng.integers(1, 3000))} {pick(rng, _PLACES[0])} {pick(rng, _PLACES[1])}"
    town = pick(rng, _PLACES[2])
    with_address = rng.random() < 0.5
    line = f"Member: {first} {last}, {email}" + (f", {street}, {town}." if with_address else ".")
    exchanges = [("What email do you have for me?", f"We have {email} on file."),
                 ("I lost my login.", f"I have sent a login link to {email}."),
                 (f"Whose name is {x} under?", f"{x[0].upper() + x[1:]} is under {first} {last}.")]
    if with_address:
        exchanges.append(("Which address do you have?", f"We have {street}, {town}."))
    return line, exchanges


def _rule(rng: np.random.Generator) -> tuple[str, list[tuple[str, str]]]:
    sentence, questions = pick(rng, _RULES)
    sentence = sentence.format(n=_exercise_count(rng, "days"), k=int(rng.integers(2, 13)), m=_exercise_money(rng),
                               ways=join_words(sample(rng, _PAY_WAYS, int(rng.integers(2, 5)))),
                               hours=pick(rng, _WEEK_HOURS))
    return f"{pick(rng, ('Policy', 'Rule', 'Note'))}: {sentence}", [(q, sentence) for q in questions]


def copy_exercise(rng: np.random.Generator) -> str:
    """A record from outside the shop, a customer's question and the agent's reply from it.

    ``"Permit QTL-4471: approved, expires March 3, 2034, fee $41.50.\nCustomer: When does
    permit QTL-4471 expire?\nAgent: Permit QTL-4471 expires on March 3, 2034."`` One
    exchange per record, so the reply is followed by the end of the text, as an answer is.
    """
    entity = _made_up_word(rng).capitalize() if rng.random() < 0.5 else pick(rng, _ENTITIES)
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
        rule, rule_qa = _rule(rng)
        lines.append(rule)
        exchanges.append(pick(rng, rule_qa))
    if rng.random() < 0.15:  # a rule alone, as a policy line is retrieved alone
        rule, rule_qa = _rule(rng)
        lines, exchanges = [rule], [pick(rng, rule_qa)]
    question, reply = pick(rng, exchanges)
    if reply.startswith(x[0].upper() + x[1:]) and rng.random() < 0.4:  # "Your permit QTL-4471 ..."
        reply = "Your " + reply[0].lower() + reply[1:]
    elif rng.random() < 0.25:  # customers often ask without the record's code
        question = question.replace(x, f"my {entity.lower()}")
    return "\n".join(lines + [f"Customer: {question}", f"Agent: {reply}"])
