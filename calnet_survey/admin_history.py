"""Change history in the admin (django-simple-history), for every audited model."""

from django.db import models
from simple_history.admin import SimpleHistoryAdmin


class HistoryAdmin(SimpleHistoryAdmin):
    """SimpleHistoryAdmin whose history page names the foreign keys it joins.

    django-simple-history 3.13 calls select_related() with no field names for a
    model without foreign keys (Department), which Django 6.1 deprecates and 7.0
    turns into "join everything"."""

    def get_history_queryset(self, request, history_manager, pk_name, object_id):
        related = [
            field.name
            for field in history_manager.model.tracked_fields
            if isinstance(field, models.ForeignKey)
        ]
        if not isinstance(history_manager.model.history_user, property):
            related.append("history_user")
        queryset = history_manager.filter(**{pk_name: object_id})
        return queryset.select_related(*related) if related else queryset
