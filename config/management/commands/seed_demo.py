"""A lively demo: one staff user per role and a few dozen applications in every state.

Idempotent: users and applicants that already exist are left alone, so a second run changes
nothing. Applications go through the real ``risk.services.applications.application_submit`` (knock-outs,
sandbox identity check, scorecard of the active policy), so what a demo shows is what the
product does. Runs only on an empty database (which it marks as the demo's) or one it seeded
before — never on one holding data it did not write, whatever the settings (config/owner.py);
refused under the production settings too.
"""

from __future__ import annotations

import calendar
import random
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.business_day import business_date_get
from accounts.models import AccountStatus, CreditAccount, StaffProfile
from complaints.models import Complaint
from complaints.services.closures import closure_request_create
from complaints.services.complaints import complaint_file
from config.models import DatabaseOwner
from config.owner import DatabaseNotOurs, claim_database
from installments.services.purchases import purchase_create
from installments.services.repayments import repayment_create
from risk.models import Application
from risk.rules import id_check_char
from risk.services.applications import ApplicantData, application_submit

DEMO_PASSWORD = "tally-demo"
DEMO_LANGUAGE = "en"
SEED = 20261120

# username → group (the groups are created by accounts/migrations/0003_staff_groups.py and later grants)
DEMO_STAFF: tuple[tuple[str, str], ...] = (
    ("reviewer", "Risk reviewer"),
    ("manager", "Risk manager"),
    ("agent", "CS agent"),
    ("supervisor", "CS supervisor"),
    ("ops", "Operations"),
    ("collector", "Collector"),  # installments/migrations/0008_collections_grants.py
)
DEMO_SUPERUSER = "admin"

_SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Xu", "Sun",
             "Hu", "Zhu", "Gao", "Lin", "He", "Guo", "Ma", "Luo")
_GIVEN = ("Wei", "Fang", "Na", "Min", "Jing", "Lei", "Yang", "Jun", "Yan", "Qiang", "Xiuying", "Jie",
          "Tao", "Ming", "Chao", "Xiulan", "Xia", "Ping", "Hui", "Yu", "Hao", "Lin", "Ting", "Peng")
# Region codes (first six digits of a resident ID): Beijing Chaoyang, Shanghai Xuhui,
# Shenzhen Nanshan, Hangzhou Xihu, Chengdu Wuhou, Wuhan Wuchang, Xi'an Yanta, Nanjing Gulou.
_REGIONS = ("110105", "310104", "440305", "330106", "510107", "420106", "610113", "320106")


@dataclass(frozen=True)
class Profile:
    """One demo applicant. ``expect`` is the outcome under policy version 1 (docs/rules.md §3);
    the comments give the scorecard points: base 300 + months + orders + spend + return
    rate + 30 (no history with Tally)."""

    kind: str  # what the profile demonstrates
    expect: str  # application status expected under the default policy
    months: int = 24
    orders: int = 12
    spend: str = "8000.00"
    return_rate: str = "0.05"
    store_status: str = "normal"
    name: str | None = None
    id_problem: str | None = None  # "check_digit" | "birth_date"
    share_phone_with: str | None = None  # kind of an earlier profile whose phone is reused
    card: str = "tok_ok"


PROFILES: tuple[Profile, ...] = (
    # strong → approved (limit by score band, capped at spend)
    Profile("strong-a", "approved", 60, 42, "26800.00", "0.03"),  # 120+110+110+60 → 730: 20,000
    Profile("strong-b", "approved", 40, 25, "12000.00", "0.04"),  # 120+80+80+60 → 670: 10,000
    Profile("strong-c", "approved", 20, 15, "8000.00", "0.08"),  # 80+80+80+30 → 600: 2,000
    Profile("strong-d", "approved", 48, 35, "6500.00", "0.10"),  # 120+110+80+30 → 670: 6,500 (spend cap)
    Profile("strong-e", "approved", 24, 12, "21000.00", "0.02"),  # 80+80+110+60 → 660: 10,000
    Profile("strong-f", "approved", 8, 30, "5200.00", "0.05"),  # 40+110+80+60 → 620: 5,000
    Profile("strong-g", "approved", 37, 9, "3500.00", "0.01"),  # 120+40+40+60 → 590: 2,000
    Profile("strong-h", "approved", 14, 11, "1800.00", "0.03"),  # 80+80+40+60 → 590: 1,800 (spend cap)
    Profile("strong-i", "approved", 30, 18, "9800.00", "0.05", card="tok_insufficient_funds"),  # 80+80+80+60 → 630: 5,000
    # thin → rejected SCORE_BELOW_THRESHOLD
    Profile("thin-a", "rejected", 1, 1, "350.00", "0.00"),  # 0+0+0+60 → 390
    Profile("thin-b", "rejected", 5, 2, "800.00", "0.20"),  # 40+0+0+0 → 370
    Profile("thin-c", "rejected", 10, 6, "1500.00", "0.25"),  # 40+40+40+0 → 450
    Profile("thin-d", "rejected", 20, 4, "900.00", "0.12"),  # 80+40+0+30 → 480
    # borderline 540–579 → in_review BORDERLINE_SCORE
    Profile("borderline-a", "in_review", 20, 6, "3000.00", "0.04"),  # 80+40+40+60 → 550
    Profile("borderline-b", "in_review", 40, 5, "2500.00", "0.10"),  # 120+40+40+30 → 560
    Profile("borderline-c", "in_review", 15, 12, "4200.00", "0.12"),  # 80+80+40+30 → 560
    Profile("borderline-d", "in_review", 6, 14, "2200.00", "0.05"),  # 40+80+40+60 → 550
    Profile("borderline-e", "in_review", 50, 2, "1200.00", "0.02"),  # 120+0+40+60 → 550
    Profile("borderline-f", "in_review", 26, 7, "6000.00", "0.14"),  # 80+40+80+30 → 560
    Profile("borderline-g", "in_review", 40, 5, "7000.00", "0.18"),  # 120+40+80+0 → 570
    Profile("borderline-h", "in_review", 4, 30, "900.00", "0.05"),  # 40+110+0+60 → 540
    # knock-outs and the identity provider
    Profile("id-invalid-check-digit", "rejected", id_problem="check_digit"),
    Profile("id-invalid-birth-date", "rejected", id_problem="birth_date"),
    Profile("stolen-store-account", "rejected", store_status="stolen"),
    Profile("insufficient-history", "rejected", 3, 1, "120.00", "0.00"),
    Profile("identity-mismatch", "rejected", name="TEST MISMATCH"),
    Profile("identity-provider-down", "pending_retry", name="TEST UNAVAILABLE"),
    # approvable, but the phone belongs to another customer → in_review SHARED_PHONE
    Profile("shared-phone-a", "in_review", 36, 20, "15000.00", "0.03", share_phone_with="strong-a"),  # 670
    Profile("shared-phone-b", "in_review", 18, 10, "5000.00", "0.06", share_phone_with="strong-c"),  # 600
)


def _months_before(day: date, months: int) -> date:
    """``months`` whole months before ``day`` (the day clamped to the shorter month's end)."""
    year, month0 = divmod(day.year * 12 + (day.month - 1) - months, 12)
    return date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


def _id_number(rng: random.Random, *, problem: str | None) -> str:
    region = rng.choice(_REGIONS)
    birth = date(1965, 1, 1).toordinal() + rng.randrange(0, 365 * 37)
    birthday = date.fromordinal(birth).strftime("%Y%m%d")
    sequence = f"{rng.randrange(0, 1000):03d}"
    if problem == "birth_date":
        birthday = birthday[:4] + "0231"  # February 31st does not exist
    first17 = region + birthday + sequence
    check = id_check_char(first17)
    if problem == "check_digit":
        check = next(c for c in "0123456789X" if c != check)  # any other character
    return first17 + check


def _phone(rng: random.Random) -> str:
    return rng.choice(("138", "139", "150", "158", "186", "177")) + f"{rng.randrange(0, 10**8):08d}"


@dataclass(frozen=True)
class DemoApplicant:
    external_id: str
    profile: Profile
    data: ApplicantData


def demo_applicants(*, today: date) -> list[DemoApplicant]:
    """The demo applicants in submission order, reproducible from ``SEED``."""
    rng = random.Random(SEED)
    order = list(PROFILES)
    rng.shuffle(order)
    # Shared phones need their first owner submitted before them.
    order.sort(key=lambda p: p.share_phone_with is not None)
    phones: dict[str, str] = {}
    applicants: list[DemoApplicant] = []
    for number, profile in enumerate(order, start=1):
        phone = phones[profile.share_phone_with] if profile.share_phone_with else _phone(rng)
        phones[profile.kind] = phone
        name = profile.name or f"{rng.choice(_SURNAMES)} {rng.choice(_GIVEN)}"
        external_id = f"demo-{number:04d}"
        applicants.append(DemoApplicant(external_id=external_id, profile=profile, data=ApplicantData(
            external_id=external_id, name=name, id_number=_id_number(rng, problem=profile.id_problem),
            phone=phone, store_status=profile.store_status, store_since=_months_before(today, profile.months),
            orders_12m=profile.orders, spend_12m=Decimal(profile.spend), return_rate=Decimal(profile.return_rate),
        )))
    return applicants


class Command(BaseCommand):
    help = "Create demo staff users (password tally-demo) and a lively set of applications. Idempotent."

    def handle(self, *args, **options):
        if getattr(settings, "TALLY_ENVIRONMENT", "") == "production":
            raise CommandError("seed_demo is refused under the production settings.")
        try:
            claim_database(DatabaseOwner.SEED_DEMO)
        except DatabaseNotOurs as exc:
            raise CommandError(f"seed_demo refused: {exc}.") from exc
        created_users = self._seed_staff()
        outcomes = self._seed_applications()
        activity = self._seed_activity()
        if not created_users and not outcomes and not activity:
            self.stdout.write("Demo already seeded: nothing to do.")
            return
        if created_users:
            self.stdout.write(f"Staff users created: {', '.join(created_users)} (password {DEMO_PASSWORD})")
        if outcomes:
            counts = Counter(status for status, _expected in outcomes.values())
            summary = ", ".join(f"{status} {count}" for status, count in sorted(counts.items()))
            self.stdout.write(f"Applications submitted: {len(outcomes)} ({summary})")
            surprises = {ext: pair for ext, pair in outcomes.items() if pair[0] != pair[1]}
            for external_id, (status, expected) in sorted(surprises.items()):
                self.stderr.write(f"note: {external_id} ended {status}, expected {expected} "
                                  "(has the active scoring policy changed?)")
        for line in activity:
            self.stdout.write(f"  {line}")
        in_review = Application.objects.filter(customer__external_id__startswith="demo-",
                                               status="in_review").count()
        self.stdout.write(f"Review queue: {in_review} demo application(s) in review; "
                          "log in as reviewer / tally-demo and claim the next case.")

    def _seed_staff(self) -> list[str]:
        created: list[str] = []
        with transaction.atomic():
            groups = {g.name: g for g in Group.objects.filter(name__in=[name for _u, name in DEMO_STAFF])}
            missing = sorted({name for _u, name in DEMO_STAFF} - set(groups))
            if missing:
                raise CommandError(f"Staff groups missing ({', '.join(missing)}): run `manage.py migrate` first.")
            for username, group_name in DEMO_STAFF:
                user = User.objects.filter(username=username).first()
                if user is None:
                    user = User.objects.create_user(username=username, password=DEMO_PASSWORD, is_staff=True)
                    user.groups.add(groups[group_name])
                    created.append(username)
                StaffProfile.objects.get_or_create(user=user, defaults={"language": DEMO_LANGUAGE})
            admin = User.objects.filter(username=DEMO_SUPERUSER).first()
            if admin is None:
                admin = User.objects.create_superuser(username=DEMO_SUPERUSER, email="", password=DEMO_PASSWORD)
                created.append(DEMO_SUPERUSER)
            StaffProfile.objects.get_or_create(user=admin, defaults={"language": DEMO_LANGUAGE})
        return created

    def _seed_applications(self) -> dict[str, tuple[str, str]]:
        """Submit each demo applicant that has no application yet; returns status and
        expected status by external id."""
        seeded = set(Application.objects.filter(customer__external_id__startswith="demo-")
                     .values_list("customer__external_id", flat=True))
        outcomes: dict[str, tuple[str, str]] = {}
        for applicant in demo_applicants(today=business_date_get()):
            if applicant.external_id in seeded:
                continue
            application = application_submit(kind="activation", applicant=applicant.data,
                                             card_token=applicant.profile.card)
            outcomes[applicant.external_id] = (application.status, applicant.profile.expect)
            self.stdout.write(f"  {applicant.external_id} {applicant.profile.kind:<24} -> {application.status}"
                              + (f" (score {application.score})" if application.score is not None else ""))
        return outcomes

    def _seed_activity(self) -> list[str]:
        """Purchases, a repayment, complaints and a closure request on the demo accounts, through
        the real services, so the agents' queues and the account pages have something to show.
        Done once: skipped when any demo complaint exists."""

        if Complaint.objects.filter(customer__external_id__startswith="demo-").exists():
            return []
        accounts = {a.customer.external_id: a for a in CreditAccount.objects.select_related("customer")
                    .filter(customer__external_id__startswith="demo-", status=AccountStatus.ACTIVE)}
        by_kind = {applicant.profile.kind: applicant.external_id for applicant in demo_applicants(today=business_date_get())}
        done: list[str] = []
        plan = (("strong-a", "1200.00", 3), ("strong-a", "3600.00", 12), ("strong-b", "899.00", 6),
                ("strong-c", "450.00", 1), ("strong-h", "600.00", 3), ("strong-i", "1500.00", 6))
        for n, (kind, amount, periods) in enumerate(plan):
            account = accounts.get(by_kind[kind])
            if account is not None:
                purchase_create(account_id=account.pk, merchant_order_id=f"demo-order-{n + 1}",
                                amount=Decimal(amount), periods=periods)
                done.append(f"purchase {amount} in {periods} on {account.customer.external_id}")
        strong_a = accounts.get(by_kind["strong-a"])
        if strong_a is not None:
            result = repayment_create(account_id=strong_a.pk, reference="demo-repayment-1", amount=Decimal("400.00"))
            done.append(f"repayment 400.00 on {strong_a.customer.external_id} ({result.repayment.limit_restored} restored)")
            complaint_file(customer_external_id=strong_a.customer.external_id, category="limit_not_restored",
                           channel="app", description="I repaid 400 yesterday but my available limit looks the same.")
            done.append("complaint limit_not_restored")
        complaint_file(customer_external_id=by_kind["thin-a"], category="activation_failed", channel="phone",
                       description="Why was my credit line application refused?")
        done.append("complaint activation_failed")
        if by_kind["strong-i"] in accounts:
            complaint_file(customer_external_id=by_kind["strong-i"], category="auto_debit_failed", channel="web",
                           description="The automatic repayment did not go through, what should I do?")
            done.append("complaint auto_debit_failed")
        strong_h = accounts.get(by_kind["strong-h"])
        if strong_h is not None:
            request = closure_request_create(account_id=strong_h.pk, channel="app", note="Customer wants to close.")
            done.append(f"closure request on {strong_h.customer.external_id} ({request.status})")
        return done
