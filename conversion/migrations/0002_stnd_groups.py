"""Create the permission groups "STND analyst" and "STND administrator".

Analysts review, annotate, change statuses, send reminders and export; they
cannot import data or edit campaigns, contracts or departments.
Administrators can do everything in both apps.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ANALYST = [
    ("conversion", "view_campaign"),
    ("conversion", "view_contract"),
    ("conversion", "view_contractor"),
    ("conversion", "view_category"),
    ("conversion", "view_offering"),
    ("conversion", "view_inventoryline"),
    ("conversion", "view_response"),
    ("conversion", "change_response"),
    ("conversion", "review_response"),
    ("conversion", "send_reminder"),
    ("conversion", "export_responses"),
    ("conversion", "view_decision"),
    ("conversion", "change_decision"),
    ("conversion", "view_revision"),
    ("conversion", "view_sectionprogress"),
    ("conversion", "view_internalnote"),
    ("conversion", "add_internalnote"),
    ("conversion", "view_outboundemail"),
    ("conversion", "change_outboundemail"),
    ("departments", "view_department"),
    ("departments", "view_person"),
]


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations; make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    analyst, _ = Group.objects.get_or_create(name="STND analyst")
    analyst.permissions.set(
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in ANALYST
    )
    administrator, _ = Group.objects.get_or_create(name="STND administrator")
    administrator.permissions.set(
        Permission.objects.filter(content_type__app_label__in=["conversion", "departments"])
    )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(
        name__in=["STND analyst", "STND administrator"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("conversion", "0001_initial"),
        ("departments", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
