"""Fail closed (docs/decisions/0023-fail-closed-settings.md): a process without settings gets
the production ones, which refuse to start without their variables, naming each; no secret
has a default outside local and test; seed_demo and simulate write only to a database of their
own, whatever the settings."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from accounts import pii
from accounts.models import Customer
from config.models import DatabaseOwner
from config.settings import requirements as production
from conftest import upsert_customer

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_VARIABLES = {
    "SECRET_KEY": "k7#Qm2!vR9@pL4$wZ8^tY1&nB6*cX3(hJ5)fD0-gS" + "a1b2c3d4e5f6g7h8", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0", "ALLOWED_HOSTS": "tally.example.com",
    "TALLY_PII_ENCRYPTION_KEY": "mN3-1y6ZzA0Jc1Cq3ZbQ0v8mP8XH2o6wq3dJ9Qj3b2Y=", "TALLY_PII_HASH_KEY": "h" * 32,
    "TALLY_IDENTITY_PROVIDER": "acme.identity.Provider", "TALLY_PAYMENT_GATEWAY": "acme.gateway.Gateway",
    "TALLY_NOTIFICATION_CHANNEL": "acme.sms.Channel",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("TALLY_", "DJANGO_", "DATABASE_", "CELERY_", "SECRET", "ALLOWED", "SENTRY"))}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=120, check=False)


def test_no_settings_variable_means_production_and_a_refusal_naming_what_is_missing():
    result = manage("check", env={})
    assert result.returncode != 0
    assert "Tally refuses to start under the production settings" in result.stderr
    for name in PRODUCTION_VARIABLES:
        assert name in result.stderr, name


def test_production_refuses_the_sandbox_adapters_unless_told_it_is_a_rehearsal(monkeypatch):
    for name, value in PRODUCTION_VARIABLES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TALLY_ALLOW_SANDBOX_ADAPTERS", raising=False)
    production.check_environment()  # real adapters named: starts
    monkeypatch.setenv("TALLY_PAYMENT_GATEWAY", "installments.gateway.SandboxGateway")
    monkeypatch.setenv("TALLY_NOTIFICATION_CHANNEL", "accounts.channels.LogChannel")
    with pytest.raises(ImproperlyConfigured) as refused:
        production.check_environment()
    assert "TALLY_PAYMENT_GATEWAY names the development stand-in" in str(refused.value)
    assert "TALLY_NOTIFICATION_CHANNEL names the development stand-in" in str(refused.value)
    monkeypatch.setenv("TALLY_ALLOW_SANDBOX_ADAPTERS", "true")
    production.check_environment()
    monkeypatch.delenv("SECRET_KEY")
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        production.check_environment()


def test_with_its_variables_production_passes_the_deploy_checklist():
    result = manage("check", "--deploy", "--fail-level", "WARNING",
                    env={**PRODUCTION_VARIABLES, "DATABASE_URL": os.environ.get("DATABASE_URL", "")
                         or PRODUCTION_VARIABLES["DATABASE_URL"]})
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_personal_data_keys_have_no_default(settings):
    settings.TALLY_PII_HASH_KEY = None
    with pytest.raises(ImproperlyConfigured, match="TALLY_PII_HASH_KEY"):
        pii.keyed_hash("11010519491231002X")
    settings.TALLY_PII_ENCRYPTION_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="TALLY_PII_ENCRYPTION_KEY"):
        pii.encrypt("x")


@pytest.mark.django_db
def test_seed_demo_refuses_a_database_holding_data_it_did_not_write_whatever_the_settings():
    upsert_customer(external_id="real-1", name="Li Lei", id_number="11010519491231002X", phone="13800000001",
                    store_status="normal", store_since="2020-01-01", orders_12m=1, spend_12m="100.00",
                    return_rate="0")
    with pytest.raises(CommandError, match="holds data seed_demo did not write"):
        call_command("seed_demo", stdout=StringIO(), stderr=StringIO())
    assert not User.objects.filter(username="admin").exists()
    assert not DatabaseOwner.objects.exists()


@pytest.mark.django_db
def test_a_staff_user_makes_a_database_not_the_demos():
    User.objects.create_superuser("root", password="pw")
    with pytest.raises(CommandError, match="did not write"):
        call_command("seed_demo", stdout=StringIO(), stderr=StringIO())


@pytest.mark.django_db
def test_simulate_refuses_the_demo_database_even_with_reset():
    DatabaseOwner.objects.create(owner=DatabaseOwner.SEED_DEMO)
    with pytest.raises(CommandError, match="belongs to seed_demo"):
        call_command("simulate", customers=2, days=1, reset=True, no_progress=True, stdout=StringIO(),
                     stderr=StringIO())
    assert Customer.objects.count() == 0


@pytest.mark.django_db
def test_simulate_refuses_a_database_with_real_customers_even_with_reset():
    upsert_customer(external_id="real-2", name="Li Lei", id_number="11010519491231002X", phone="13800000001",
                    store_status="normal", store_since="2020-01-01", orders_12m=1, spend_12m="100.00",
                    return_rate="0")
    with pytest.raises(CommandError, match="did not write"):
        call_command("simulate", customers=2, days=1, reset=True, no_progress=True, stdout=StringIO(),
                     stderr=StringIO())
    assert Customer.objects.filter(external_id="real-2").exists()
