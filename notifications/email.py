"""Email delivery of a notification: a Celery job that `services.notify` queues after commit.

Apart from notifications/tasks.py (whose beat jobs call the services) so that the services can
queue it without the two modules importing each other.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.utils import timezone

from . import job_names
from .models import Notification


@shared_task(
    name=job_names.SEND_EMAIL,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=300,  # below the broker's visibility timeout
    max_retries=5,
)
def send_notification_email(payload: dict) -> bool:
    """payload: {user_id, title, message, type, notification_id?}. Returns whether it was sent."""
    user = get_user_model().objects.filter(pk=payload["user_id"], is_active=True).first()
    if user is None or not user.email:
        return False
    notification_id = payload.get("notification_id")
    if notification_id:
        # Idempotent under retries: only the first successful send stamps the row.
        notification = Notification.objects.filter(pk=notification_id).only("email_sent_at").first()
        if notification is None or notification.email_sent_at is not None:
            return False
    link = f"{settings.FRONTEND_URL.rstrip('/')}/notifications"
    body = f"{payload.get('message') or payload['title']}\n\n{link}\n\nYou can change which emails you get in your notification settings."
    send_mail(
        subject=f"Deepiri: {payload['title']}"[:200],
        message=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )
    if notification_id:
        Notification.objects.filter(pk=notification_id, email_sent_at__isnull=True).update(email_sent_at=timezone.now())
    return True
