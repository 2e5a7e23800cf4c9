"""Chinese and English (issue 6): the back office, reason messages and notifications follow
the staff member's or the customer's language, and the shipped catalogue is complete.

The page test renders the key back-office pages with the demo data (``seed_demo``, through
the real services) plus one nightly close, for a superuser whose profile says ``zh-hans`` and
then ``en``. In Chinese, no English source text of our catalogue may appear in the visible
text of a page (tags, attributes, scripts and styles removed); in English, it must.
"""

from __future__ import annotations

import ast
import contextlib
import gettext as gettext_module
import html
import os
import re
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import models
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import translation

from accounts.business_day import business_date_get
from accounts.models import CreditAccount, Customer, Notification, StaffProfile
from accounts.notifications import render as render_notification
from complaints import reasons as closure_reasons
from complaints.models import ClosureRequest, Complaint
from config.cob.models import CobRun
from config.cob.runner import run_day
from risk import reasons as credit_reasons
from risk.models import ReviewCase

LOCALE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"
PO_FILE = LOCALE / "django.po"
MO_FILE = LOCALE / "django.mo"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%[sd]")
HAN = re.compile(r"[\u4e00-\u9fff]")


# --- the catalogue, read without polib ------------------------------------------------------


def _unquote(line: str) -> str:
    """The text of a quoted .po string (C escapes, the same as Python's for what .po uses)."""
    return ast.literal_eval(line[line.index('"'):])


def read_po(path: Path = PO_FILE) -> list[dict]:
    """Entries of a .po file: ``msgctxt``, ``msgid``, ``msgid_plural``, ``msgstr`` (list),
    ``flags`` and ``locations``."""
    entries: list[dict] = []
    entry: dict | None = None
    field: tuple[str, int] | None = None

    def start() -> dict:
        return {"msgctxt": None, "msgid": None, "msgid_plural": None, "msgstr": {}, "flags": set(),
                "locations": []}

    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if not line:
            if entry is not None and entry["msgid"] is not None:
                entry["msgstr"] = [entry["msgstr"][i] for i in sorted(entry["msgstr"])]
                entries.append(entry)
            entry, field = None, None
            continue
        entry = entry or start()
        if line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#:"):
            entry["locations"] += line[2:].split()
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            kind, index = field
            if kind == "msgstr":
                entry["msgstr"][index] += _unquote(line)
            else:
                entry[kind] += _unquote(line)
        else:
            keyword = line.split(" ", 1)[0]
            match = re.fullmatch(r"msgstr\[(\d+)\]", keyword)
            if keyword == "msgstr" or match:
                index = int(match.group(1)) if match else 0
                entry["msgstr"][index] = _unquote(line)
                field = ("msgstr", index)
            else:
                entry[keyword] = _unquote(line)
                field = (keyword, 0)
    return entries


def catalogue() -> list[dict]:
    return [entry for entry in read_po() if entry["msgid"]]


def test_every_entry_is_translated_and_none_is_fuzzy():
    entries = read_po()
    header = next(entry for entry in entries if entry["msgid"] == "")
    assert "fuzzy" not in header["flags"]
    assert "Language: zh_Hans" in header["msgstr"][0]
    untranslated = [entry["msgid"] for entry in catalogue() if not all(entry["msgstr"]) or not entry["msgstr"]]
    fuzzy = [entry["msgid"] for entry in catalogue() if "fuzzy" in entry["flags"]]
    assert untranslated == []
    assert fuzzy == []
    assert len(catalogue()) > 500


def test_translations_keep_the_placeholders_of_their_source():
    wrong = []
    for entry in catalogue():
        wanted = set(PLACEHOLDER.findall(entry["msgid"])) | set(PLACEHOLDER.findall(entry["msgid_plural"] or ""))
        for text in entry["msgstr"]:
            if set(PLACEHOLDER.findall(text)) != wanted:
                wrong.append((entry["msgid"], text))
    assert wrong == []


def test_the_shipped_mo_is_compiled_from_the_po():
    """The compiled catalogue holds exactly the .po's translations (so a .po edited without
    ``compilemessages`` fails here, not in front of a Chinese-speaking agent)."""
    with MO_FILE.open("rb") as handle:
        compiled = gettext_module.GNUTranslations(handle)
    mo_catalog = {key: value for key, value in compiled._catalog.items() if key != ""}
    expected: dict = {}
    for entry in catalogue():
        msgid = entry["msgid"] if entry["msgctxt"] is None else f"{entry['msgctxt']}\x04{entry['msgid']}"
        if entry["msgid_plural"] is None:
            expected[msgid] = entry["msgstr"][0]
        else:
            for index, text in enumerate(entry["msgstr"]):
                expected[(msgid, index)] = text
    assert mo_catalog == expected


SKIP_DIRS = {".venv", ".local", ".git", "bench", "tests", "locale", "__pycache__", "node_modules", "staticfiles",
             ".pytest_cache", ".hypothesis", "test-artifacts"}


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext (xgettext) to extract messages")
def test_the_catalogue_holds_exactly_the_strings_marked_in_the_code(tmp_path):
    """``makemessages`` over a copy of the sources finds no string the committed catalogue
    lacks, and the catalogue keeps no string the code no longer has."""
    base = Path(settings.BASE_DIR)
    for root, dirs, files in os.walk(base):
        dirs[:] = [name for name in dirs if name not in SKIP_DIRS and not name.endswith(".egg-info")]
        for name in files:
            if name.endswith((".py", ".html", ".txt")):
                source = Path(root, name)
                target = tmp_path / source.relative_to(base)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
    (tmp_path / "locale").mkdir()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "PYTHONPATH": str(tmp_path)}
    subprocess.run([sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-obsolete", "--ignore", "bench",
                    "--ignore", "tests/*", "--ignore", "*/tests/*"],
                   cwd=tmp_path, env=env, check=True, capture_output=True, timeout=300)
    extracted = {(entry["msgctxt"], entry["msgid"])
                 for entry in read_po(tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po") if entry["msgid"]}
    shipped = {(entry["msgctxt"], entry["msgid"]) for entry in catalogue()}
    assert sorted(extracted - shipped, key=str) == [], "marked in the code but not in the catalogue (run makemessages)"
    assert sorted(shipped - extracted, key=str) == [], "in the catalogue but no longer in the code"


# --- the back office in both languages -------------------------------------------------------

# Single words ("open", "app", "admin") and very short texts also occur as data, codes or user
# names; they are left out of the "no English left" check (they are translated all the same).
def _checked_fragments() -> list[str]:
    fragments = set()
    for entry in catalogue():
        if entry["msgstr"] and entry["msgstr"][0] == entry["msgid"]:
            continue  # the same in both languages (a name)
        for source in filter(None, (entry["msgid"], entry["msgid_plural"])):
            for part in PLACEHOLDER.split(source):
                part = (part or "").strip(" .,:;()#—–-/%")
                if len(part) >= 8 and len(part.split()) >= 2 and not re.fullmatch(r"[A-Z0-9_ ]+", part):
                    fragments.add(part)
    return sorted(fragments)


def visible_text(content: bytes) -> str:
    page = content.decode()
    page = re.sub(r"(?is)<(script|style|template)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<!--.*?-->", " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(page))


def english_left(text: str, fragments: list[str]) -> list[str]:
    """The English fragments found in ``text``, each with what surrounds it (to find it)."""
    found = []
    for fragment in fragments:
        match = re.search(r"(?<![A-Za-z])" + re.escape(fragment) + r"(?![A-Za-z])", text)
        if match:
            found.append(f"{fragment!r} in …{text[max(0, match.start() - 60):match.end() + 60]}…")
    return found


@pytest.fixture
def demo(db):
    call_command("seed_demo", stdout=StringIO(), stderr=StringIO())
    run_day(business_date_get())
    return User.objects.get(username="admin")


def _key_pages() -> dict[str, str]:
    case = ReviewCase.objects.order_by("pk").first()
    account = CreditAccount.objects.order_by("pk").first()
    complaint = Complaint.objects.get(category="limit_not_restored")
    closure = ClosureRequest.objects.order_by("pk").first()
    customer = Customer.objects.get(pk=complaint.customer_id)
    run = CobRun.objects.order_by("pk").first()
    pages = {
        "admin index": reverse("admin:index"),
        "review queue": reverse("admin:risk_reviewcase_changelist"),
        "case page": reverse("admin:risk_reviewcase_change", args=[case.pk]),
        "account page": reverse("admin:accounts_creditaccount_change", args=[account.pk]),
        "complaints": reverse("admin:complaints_complaint_changelist"),
        "complaint page": reverse("admin:complaints_complaint_change", args=[complaint.pk]),
        "complaint (auto-debit evidence)": reverse(
            "admin:complaints_complaint_change",
            args=[Complaint.objects.get(category="auto_debit_failed").pk]),
        "complaint (application evidence)": reverse(
            "admin:complaints_complaint_change",
            args=[Complaint.objects.get(category="activation_failed").pk]),
        "collections queue": reverse("admin:accounts_creditaccount_collections"),
        "closure requests": reverse("admin:complaints_closurerequest_changelist"),
        "closure request page": reverse("admin:complaints_closurerequest_change", args=[closure.pk]),
        "close-of-business runs": reverse("admin:cob_cobrun_changelist"),
        "close-of-business run": reverse("admin:cob_cobrun_change", args=[run.pk]),
        "customer page": reverse("admin:accounts_customer_change", args=[customer.pk]),
        "accounts": reverse("admin:accounts_creditaccount_changelist"),
        "applications": reverse("admin:risk_application_changelist"),
    }
    with contextlib.suppress(NoReverseMatch):  # the customer's 360° page, where it is installed
        pages["customer 360"] = reverse("admin:accounts_customer_360", args=[customer.pk])
    return pages


def _render_all(user: User, language: str) -> dict[str, str]:
    StaffProfile.objects.update_or_create(user=user, defaults={"language": language})
    client = Client()  # no Accept-Language: the profile alone decides
    client.force_login(user)
    pages = {}
    for name, url in _key_pages().items():
        response = client.get(url)
        assert response.status_code == 200, (name, url, response.status_code)
        assert response.headers["Content-Language"] == language, name
        pages[name] = visible_text(response.content)
    return pages


def _data_texts() -> list[str]:
    """Free text stored as data, shown as it was written: what customers and staff wrote,
    internal reason details, ledger descriptions (see docs/decisions/0017). Customer-facing
    reason *messages* are not data: they are shown through the catalogue, so they stay checked."""
    texts: set[str] = set()

    def details(value):
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "detail" and isinstance(item, str):
                    texts.add(item)
                details(item)
        elif isinstance(value, list):
            for item in value:
                details(item)

    for model in apps.get_models():
        if model._meta.app_label not in {"accounts", "risk", "installments", "complaints"}:
            continue
        text_fields = [field.name for field in model._meta.concrete_fields
                       if isinstance(field, models.CharField | models.TextField) and not field.choices]
        json_fields = [field.name for field in model._meta.concrete_fields if isinstance(field, models.JSONField)]
        for row in model.objects.values(*text_fields, *json_fields):
            texts |= {row[name] for name in text_fields if isinstance(row[name], str) and " " in row[name]}
            for name in json_fields:
                details(row[name])
    return sorted((text for text in texts if text.strip()), key=len, reverse=True)


def without_data(text: str, data: list[str]) -> str:
    for item in data:
        text = text.replace(" ".join(item.split()), " ")
    # a raw JSON record (the outbox's parameters, an audit row's before/after) is data too
    return re.sub(r'"[a-z_]+": "(?:[^"\\]|\\.)*"', " ", text)


def test_key_pages_in_chinese_show_no_english_source_text(demo):
    fragments = _checked_fragments()
    pages = _render_all(demo, "zh-hans")
    data = _data_texts()
    left = {name: english_left(without_data(text, data), fragments) for name, text in pages.items()}
    report = [f"{name}: {found}" for name, found in left.items() for found in found]
    assert not report, "English left on Chinese pages:\n" + "\n".join(report)
    # and the domain's words are there, in Chinese
    expectations = {
        "admin index": ["审核案件", "信用账户", "投诉", "销户申请", "日终批处理"],
        "review queue": ["领取下一个案件", "待领取"],
        "case page": ["审核案件 #", "评分 ", "审核标记", "该客户的其他申请（最新在前）"],
        "account page": ["可用额度", "授信额度", "分期计划与还款计划表", "还款", "扣款尝试"],
        "complaints": ["登记投诉", "还款后额度未恢复", "下一截止时间"],
        "complaint page": ["证据：还款后额度未恢复", "还款及每笔还款恢复的额度", "处理投诉"],
        "complaint (auto-debit evidence)": ["自动扣款尝试及网关结果"],
        "complaint (application evidence)": ["申请记录（最新在前）", "评分明细"],
        "collections queue": ["催收队列", "逾期阶段"],
        "closure requests": ["销户申请", "等待结清"],
        "closure request page": ["销户申请", "核验身份"],
        "close-of-business runs": ["日终批处理"],
        "close-of-business run": ["步骤", "已处理"],
        "customer page": ["商城客户编号", "身份证号"],
    }
    if "customer 360" in pages:
        expectations["customer 360"] = ["360° 视图", "信用账户"]
    missing = [f"{name}: {[word for word in words if word not in pages[name]]} not in {pages[name][:3000]}"
               for name, words in expectations.items() if any(word not in pages[name] for word in words)]
    assert not missing, "\n".join(missing)
    # the refusal of the thin applicant's application, in the staff member's language, with its code
    assert "SCORE_BELOW_THRESHOLD 很抱歉，我们目前无法为您提供信用额度。" in pages["complaint (application evidence)"]
    assert "基础分" in pages["complaint (application evidence)"]  # the score breakdown's features


def test_every_admin_page_in_chinese_shows_no_english_source_text(demo):
    """Beyond the key pages: the list page and the first object's page of every registered model
    (ours, Django's and the libraries' — they carry our navigation, site header and app names)."""
    StaffProfile.objects.update_or_create(user=demo, defaults={"language": "zh-hans"})
    client = Client()
    client.force_login(demo)
    fragments, data = _checked_fragments(), _data_texts()
    report = []
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = client.get(url)
        assert response.status_code == 200, url
        pages = [(url, response)]
        first = model._default_manager.order_by("pk").first()
        change_names = {getattr(p, "name", None) for p in admin.site._registry[model].get_urls()}
        change_name = f"{model._meta.app_label}_{model._meta.model_name}_change"
        if first is not None and change_name in change_names:  # not a list-only page (the staff inbox)
            change = reverse(f"admin:{change_name}", args=[first.pk])
            pages.append((change, client.get(change)))
        for page_url, page in pages:
            assert page.status_code == 200, page_url
            report += [f"{page_url}: {found}"
                       for found in english_left(without_data(visible_text(page.content), data), fragments)]
    assert not report, "English left on Chinese pages:\n" + "\n".join(report)
    # permission names are stored in English by Django: the pickers build them in Chinese
    group = Group.objects.get(name="CS supervisor")
    picker = visible_text(client.get(reverse("admin:auth_group_change", args=[group.pk])).content)
    assert "客户与账户 | 信用账户 | 可查看信用账户" in picker
    assert "客户与账户 | 客户 | 可查看完整身份证号（留痕）" in picker


def test_key_pages_in_english_show_the_english_source(demo):
    pages = _render_all(demo, "en")
    for name, text in pages.items():
        assert not HAN.search(text.replace("简体中文", "")), (name, HAN.findall(text)[:20])
    expectations = {
        "admin index": ["Review cases", "Credit accounts", "Complaints", "Closure requests"],
        "review queue": ["Claim next case"],
        "case page": ["Review case #", "Score ", "Review flags"],
        "account page": ["available limit", "Plans and schedules", "Payment attempts"],
        "complaint page": ["Evidence: limit not restored after repayment", "Repayments and the limit each gave back"],
        "collections queue": ["Collections queue"],
        "closure request page": ["Verify identity"],
    }
    missing = [f"{name}: {[word for word in words if word not in pages[name]]} not in {pages[name][:3000]}"
               for name, words in expectations.items() if any(word not in pages[name] for word in words)]
    assert not missing, "\n".join(missing)


def test_the_profile_language_wins_over_the_browser(demo):
    StaffProfile.objects.update_or_create(user=demo, defaults={"language": "zh-hans"})
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(demo)
    response = client.get(reverse("admin:complaints_complaint_changelist"))
    assert response.headers["Content-Language"] == "zh-hans"
    assert "登记投诉" in visible_text(response.content)


def test_an_admin_refusal_is_shown_in_the_staff_language(demo):
    """A service refusal (``ApplicationError``) reaches the page as a translated message."""
    StaffProfile.objects.update_or_create(user=demo, defaults={"language": "zh-hans"})
    client = Client()
    client.force_login(demo)
    complaint = Complaint.objects.exclude(status="resolved").order_by("pk").first()
    before = Complaint.objects.filter(pk=complaint.pk).values().get()
    with translation.override("zh-hans"):
        status = complaint.get_status_display()
    response = client.post(reverse("admin:complaints_complaint_reopen", args=[complaint.pk]),
                           {"note": "客户再次来电"}, follow=True)
    assert response.status_code == 200
    text = visible_text(response.content)
    assert f"状态为“{status}”的投诉无法重新打开。" in text
    assert "cannot be" not in text
    assert Complaint.objects.filter(pk=complaint.pk).values().get() == before


# --- reason messages, notifications and API errors ----------------------------------------------


@pytest.mark.parametrize("module", [credit_reasons, closure_reasons], ids=["credit", "closure"])
def test_every_reason_message_reads_in_chinese(module):
    fragments = _checked_fragments()
    for code in module.MESSAGES:
        stored = module.reason(code, **({"retry_on": "2026-12-20"} if code == "VELOCITY" else {}))
        assert HAN.search(stored["message"]) is None  # stored in English, the source
        with translation.override("zh-hans"):
            text = module.customer_message(stored)
        assert HAN.search(text), (code, text)
        assert english_left(text, fragments) == [], (code, text)
    with translation.override("zh-hans"):
        assert credit_reasons.customer_message(credit_reasons.reason("VELOCITY", retry_on="2026-12-20")) == \
            "您近期申请过于频繁，可于 2026-12-20 起再次申请。"
        assert closure_reasons.customer_message(closure_reasons.reason("OPEN_DISPUTE")) == \
            "您有尚未解决的争议，暂时无法注销信用额度。争议解决后我们会与您联系。"


NOTIFICATIONS = [
    ("application_result", {"status": "approved", "credit_limit": "20000.00"}, "您的信用额度已开通，额度为 20000.00 元。"),
    ("application_result", {"status": "rejected", "reasons": [credit_reasons.reason("SCORE_BELOW_THRESHOLD")]},
     "您的申请未获批准：很抱歉，我们目前无法为您提供信用额度。"),
    ("application_result", {"status": "in_review"}, None),
    ("application_result", {"status": "pending_retry"}, None),
    ("limit_restored", {"restored": "400.00", "available_limit": "19600.00"},
     "我们已收到您的还款。400.00 元额度已恢复；当前可用额度：19600.00 元。"),
    ("limit_restored", {"restored": "400.00"}, None),
    ("limit_held", {"held": "100.00", "release_at": "2026-11-21 10:00", "available_limit": "50.00"}, None),
    ("debit_failed", {"amount": "88.00", "card_closed": True}, None),
    ("debit_failed", {"amount": "88.00", "retry_on": "2026-11-23"}, "扣款 88.00 元失败，我们将于 2026-11-23 再次尝试。"),
    ("debit_failed", {"amount": "88.00"}, None),
    ("overdue_warning", {"days_past_due": 5}, "您的还款已逾期 5 天，还清前您的额度将暂停使用，并将收取逾期罚息。"),
    ("limit_changed", {"old_limit": "20000.00", "new_limit": "15000.00"}, "您的授信额度已由 20000.00 元调整为 15000.00 元。"),
    ("complaint_acknowledged", {"complaint_id": 7, "respond_by": "2026-12-05T10:00:00+08:00"},
     "我们已收到您的投诉 #7，正在处理中，将于 2026-12-05 10:00 前给您答复。"),
    ("complaint_answered", {"complaint_id": 7, "message": "……"}, None),
    ("complaint_resolved", {"complaint_id": 7, "resolution": "……"}, None),
    ("complaint_deadline_extended", {"complaint_id": 7, "respond_by": "2026-12-20T10:00:00+08:00"}, None),
    ("closure_done", {"reasons": [closure_reasons.reason("CLOSURE_APPROVED")]}, "您的信用额度已注销，感谢您使用 Tally。"),
    ("closure_done", {"reasons": [closure_reasons.reason("FRAUD_CONFIRMED")]}, "出于安全原因，您的信用额度已被关闭。"),
    ("closure_refused", {"reasons": [closure_reasons.reason("PENDING_REFUND")]},
     "我们无法为您注销信用额度：您的账户有溢缴款，需先退还给您。"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "params", "expected"), NOTIFICATIONS,
                         ids=[f"{kind}-{index}" for index, (kind, _p, _e) in enumerate(NOTIFICATIONS)])
def test_notifications_render_in_the_customers_language(kind, params, expected):
    customer = Customer(external_id="u-zh", name="李雷", language="zh-hans")
    text = render_notification(Notification(customer=customer, kind=kind, params=params))
    assert HAN.search(text), text
    assert english_left(text, _checked_fragments()) == [], text
    if expected is not None:
        assert text == expected
    english = render_notification(Notification(customer=Customer(external_id="u-en", language="en"), kind=kind,
                                                params=params))
    assert HAN.search(english) is None, english


@pytest.mark.django_db
def test_api_errors_are_english_unless_the_client_asks_for_chinese(api):
    """API clients get English by default and Chinese when they send Accept-Language
    (docs/decisions: the storefront may show our messages to its customers)."""
    english = api.get("/api/v1/accounts/999999")
    assert english.status_code == 404
    assert english.json()["error"] == {"code": "not_found", "message": "Not found.", "details": {}}
    chinese = api.get("/api/v1/accounts/999999", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    assert chinese.status_code == 404
    assert chinese.json()["error"] == {"code": "not_found", "message": "未找到。", "details": {}}
    assert chinese.headers["Content-Language"] == "zh-hans"
    invalid = api.post("/api/v1/applications", {"kind": "activation"}, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert invalid.status_code == 400
    assert invalid.json()["error"]["code"] == "invalid_request"
    assert invalid.json()["error"]["message"].startswith("输入无效：")
