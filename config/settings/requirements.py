"""What the production settings require of the environment (config/settings/production.py
calls ``check_environment`` before anything else; README.md's configuration table)."""

from django.core.exceptions import ImproperlyConfigured

from .base import env, env_bool

REQUIRED = (
    ("SECRET_KEY", "Django's secret key (50+ random characters)"),
    ("DATABASE_URL", "the PostgreSQL database, postgres://user:pass@host:5432/tally"),
    ("CELERY_BROKER_URL", "the Redis broker, redis://host:6379/0"),
    ("ALLOWED_HOSTS", "the host names this site answers, comma-separated"),
    ("TALLY_PII_ENCRYPTION_KEY", "the Fernet key encrypting ID numbers"),
    ("TALLY_PII_HASH_KEY", "the key of the ID numbers' keyed hash"),
    ("TALLY_IDENTITY_PROVIDER", "the dotted path of the real identity-provider adapter"),
    ("TALLY_PAYMENT_GATEWAY", "the dotted path of the real payment-gateway adapter"),
    ("TALLY_NOTIFICATION_CHANNEL", "the dotted path of the channel that reaches customers"),
)
# The development stand-ins: refused unless TALLY_ALLOW_SANDBOX_ADAPTERS=true says this
# deployment is a rehearsal that must not reach a real provider (CI's check --deploy does).
SANDBOX_ADAPTERS = {
    "TALLY_IDENTITY_PROVIDER": "risk.identity.SandboxIdentityProvider",
    "TALLY_PAYMENT_GATEWAY": "installments.gateway.SandboxGateway",
    "TALLY_NOTIFICATION_CHANNEL": "accounts.channels.LogChannel",
}


def check_environment() -> None:
    problems = [f"{name} ({meaning})" for name, meaning in REQUIRED if not (env(name) or "").strip()]
    if not env_bool("TALLY_ALLOW_SANDBOX_ADAPTERS", False):
        problems += [f"{name} names the development stand-in {value}; set the real adapter "
                     "(or TALLY_ALLOW_SANDBOX_ADAPTERS=true for a rehearsal)"
                     for name, value in SANDBOX_ADAPTERS.items() if (env(name) or "").strip() == value]
    if problems:
        raise ImproperlyConfigured(
            "Tally refuses to start under the production settings (config.settings.production). "
            "Missing or refused: " + "; ".join(problems) + ". "
            "For a developer's machine use DJANGO_SETTINGS_MODULE=config.settings.local (make run). See docs/deploy.md.")


