"""Small template helpers for the survey pages."""

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def days_left_text(campaign):
    """ "5 days left", "1 day left", "due today", "2 days overdue"."""
    days = campaign.days_left(timezone.now())
    if days > 1:
        return f"{days} days left"
    if days == 1:
        return "1 day left"
    if days == 0:
        return "due today"
    return f"{-days} day{'s' if days < -1 else ''} overdue"
