from django.contrib import admin

from calnet_survey.admin_history import HistoryAdmin
from departments.models import Department, Person, SignInRequest


class PersonInline(admin.TabularInline):
    model = Person
    extra = 0
    fields = ["name", "title", "email", "phone", "is_atr", "source"]


@admin.register(Department)
class DepartmentAdmin(HistoryAdmin):
    list_display = ["name", "code", "kind", "local_government_type", "is_active"]
    list_filter = ["kind", "local_government_type", "is_active"]
    search_fields = ["name", "code", "people__email"]
    inlines = [PersonInline]


@admin.register(Person)
class PersonAdmin(HistoryAdmin):
    list_display = ["name", "email", "department", "is_atr", "source"]
    list_filter = ["is_atr", "source", "department__kind"]
    search_fields = ["name", "email", "department__name", "department__code"]
    list_select_related = ["department"]
    raw_id_fields = ["department"]


@admin.register(SignInRequest)
class SignInRequestAdmin(admin.ModelAdmin):
    list_display = ["email", "ip_address", "requested_at"]
    search_fields = ["email", "ip_address"]
    date_hierarchy = "requested_at"
