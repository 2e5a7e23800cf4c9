"""Notification channels. Development uses the log (console); the email channel sends
through Django's email backend (console backend locally)."""

from __future__ import annotations

import logging

from django.core.mail import send_mail

from .pii import mask_phone

logger = logging.getLogger("tally.notifications")


class LogChannel:
    name = "log"

    def send(self, notification, text: str) -> None:
        logger.info("notify %s [%s] %s", mask_phone(notification.customer.phone), notification.kind, text)


class EmailChannel:
    name = "email"

    def send(self, notification, text: str) -> None:
        send_mail(subject="Tally", message=text, from_email=None,
                  recipient_list=[f"{notification.customer.external_id}@customers.invalid"])
