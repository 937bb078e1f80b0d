"""A mail backend for servers that send no mail on purpose (EMAIL_URL=log://).

It records that a mail was not sent (to whom, which subject) and nothing else: bodies carry
verification and password-reset links whose tokens must never reach a log."""

from __future__ import annotations

import logging

from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger("kernel.mail")


class LogOnlyEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        for message in email_messages:
            logger.info("mail not sent (EMAIL_URL=log://): %d recipient(s), subject %r",
                        len(message.recipients()), message.subject)
        return len(email_messages)
