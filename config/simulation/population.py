"""The simulated population: who applies, with which store profile and repayment card, and
how each person behaves afterwards. Pure code over ``random.Random``: the same seed gives the
same people, and every later decision of a person on a day comes from its own generator
(``decision_rng``), so a decision never depends on what happened to someone else."""

from __future__ import annotations

import calendar
import random
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from risk.rules import id_check_char
from risk.services.applications import ApplicantData

START = date(2026, 1, 5)  # the first simulated business date

# persona → weight in the population
PERSONAS: tuple[tuple[str, int], ...] = (
    ("good", 42), ("late", 12), ("defaulter", 6), ("refunder", 10), ("fraud", 10), ("complainer", 10), ("thin", 10),
)
# persona → (card token, weight): every sandbox card behaviour appears
CARDS: dict[str, tuple[tuple[str, int], ...]] = {
    "good": (("tok_ok", 88), ("tok_timeout_charged", 8), ("tok_insufficient_funds", 4)),
    "late": (("tok_insufficient_funds", 75), ("tok_timeout_not_charged", 25)),
    "defaulter": (("tok_card_closed", 60), ("tok_insufficient_funds", 40)),
    "refunder": (("tok_ok", 90), ("tok_timeout_charged", 10)),
    "fraud": (("tok_card_closed", 100),),
    "complainer": (("tok_ok", 50), ("tok_insufficient_funds", 25), ("tok_timeout_not_charged", 25)),
    "thin": (("tok_ok", 100),),
}
FRAUD_KINDS: tuple[tuple[str, int], ...] = (
    ("id_invalid", 15), ("stolen_account", 15), ("identity_mismatch", 15), ("identity_unavailable", 10),
    ("velocity", 15), ("shared_phone", 15), ("bust_out", 15),
)
CONVERTER_SHARE = 0.2  # of the good, late and complainer personas: convert statements into installments
TERMS: tuple[tuple[int, int], ...] = ((1, 40), (3, 25), (6, 20), (12, 15))
COMPLAINT_CATEGORIES: tuple[tuple[str, int], ...] = (
    ("limit_not_restored", 15), ("auto_debit_failed", 20), ("billing_dispute", 15), ("fee_dispute", 15),
    ("activation_failed", 10), ("unauthorized_transaction", 5), ("closure", 5), ("data_privacy", 5), ("other", 10),
)
_SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Xu", "Sun")
_GIVEN = ("Wei", "Fang", "Na", "Min", "Jing", "Lei", "Yang", "Jun", "Yan", "Qiang", "Jie", "Tao", "Ming")
_REGIONS = ("110105", "310104", "440305", "330106", "510107", "420106", "610113", "320106")


def pick(rng: random.Random, weighted: tuple[tuple[str, int], ...] | tuple[tuple[int, int], ...]):
    return rng.choices([value for value, _w in weighted], weights=[w for _v, w in weighted])[0]


def decision_rng(seed: int, *parts: object) -> random.Random:
    """A generator for one decision of one person (string seeds are hashed deterministically)."""
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def months_before(day: date, months: int) -> date:
    year, month0 = divmod(day.year * 12 + (day.month - 1) - months, 12)
    return date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


def money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


@dataclass
class Person:
    index: int
    external_id: str
    persona: str
    variant: str  # fraud kind, or ""
    card: str
    arrival_day: int
    applicant: ApplicantData
    via_api: bool  # buys and repays through the storefront API
    manual_payer: bool  # pays what is due by hand on the due date
    converter: bool  # converts pay-later statements into installments
    lateness: int  # days past due before a late payer pays
    closer_day: int | None  # asks to close the account on this day
    complaint_days: tuple[int, ...]
    buy_rate: float
    account_id: int | None = None
    applications: int = 0
    state: dict = field(default_factory=dict)

    @property
    def current_card(self) -> str:
        """The repayment card the person holds now: the one they applied with, or the last new
        one they brought (``edges``)."""
        return self.state.get("card", self.card)

    @property
    def opened_account_id(self) -> int:
        """``account_id`` of a person whose account is open (the only ones acting on one)."""
        if self.account_id is None:
            raise LookupError(f"{self.external_id} has no credit account")
        return self.account_id


def _id_number(rng: random.Random, index: int, *, invalid: bool) -> str:
    birth = date(1966, 1, 1).toordinal() + (index * 7) % (365 * 36)  # distinct per person
    first17 = rng.choice(_REGIONS) + date.fromordinal(birth).strftime("%Y%m%d") + f"{index % 1000:03d}"
    check = id_check_char(first17)
    if invalid:
        check = next(c for c in "0123456789X" if c != check)
    return first17 + check


def _profile(rng: random.Random, persona: str) -> tuple[int, int, float, float]:
    """(months as store customer, orders in 12 months, spend in 12 months, return rate)."""
    if persona in ("good", "refunder"):
        return rng.randint(14, 72), rng.randint(12, 60), rng.uniform(6000, 40000), rng.uniform(0, 0.05)
    if persona == "thin":
        return rng.randint(0, 10), rng.randint(0, 8), rng.uniform(100, 2500), rng.uniform(0.05, 0.3)
    return rng.randint(4, 40), rng.randint(4, 32), rng.uniform(1500, 16000), rng.uniform(0.01, 0.14)


def build_population(*, seed: int, customers: int, days: int, start: date) -> list[Person]:
    people: list[Person] = []
    arrival_window = max(1, min(45, int(days * 0.35)))
    for index in range(customers):
        rng = decision_rng(seed, "person", index)
        persona = pick(rng, PERSONAS)
        variant = pick(rng, FRAUD_KINDS) if persona == "fraud" else ""
        card = pick(rng, CARDS[persona])
        months, orders, spend, return_rate = _profile(rng, "good" if variant == "bust_out" else persona)
        name = f"{rng.choice(_SURNAMES)} {rng.choice(_GIVEN)}"
        if variant == "identity_mismatch":
            name = "TEST MISMATCH"
        elif variant == "identity_unavailable":
            name = "TEST UNAVAILABLE"
        phone = f"139{index:08d}"
        if variant == "shared_phone" and index > 0:
            phone = f"139{rng.randrange(0, index):08d}"
        external_id = f"sim-{index + 1:05d}"
        applicant = ApplicantData(
            external_id=external_id, name=name, id_number=_id_number(rng, index, invalid=variant == "id_invalid"),
            phone=phone, store_status="stolen" if variant == "stolen_account" else "normal",
            store_since=months_before(start, months), orders_12m=orders, spend_12m=money(spend),
            return_rate=Decimal(f"{return_rate:.2f}"))
        complaint_count = rng.choice((1, 2, 3)) if persona == "complainer" else (1 if rng.random() < 0.03 else 0)
        people.append(Person(
            index=index, external_id=external_id, persona=persona, variant=variant, card=card,
            arrival_day=rng.randrange(0, arrival_window), applicant=applicant, via_api=rng.random() < 0.15,
            manual_payer=persona in ("good", "refunder") and rng.random() < 0.3,
            converter=persona in ("good", "late", "complainer") and rng.random() < CONVERTER_SHARE,
            lateness=rng.randint(1, 5) if persona == "complainer" else rng.randint(3, 30),
            closer_day=(rng.randrange(min(20, days - 1), days) if days > 2 and persona in ("good", "complainer")
                        and rng.random() < 0.08 else None),
            complaint_days=tuple(sorted(rng.randrange(0, days) for _ in range(complaint_count))),
            buy_rate={"good": 0.06, "late": 0.05, "defaulter": 0.08, "refunder": 0.07, "fraud": 0.0,
                      "complainer": 0.04, "thin": 0.03}[persona],
        ))
    return people
