"""Every URL pattern of the project, from the resolver, as a concrete URL to request.

`patterns()` walks `calnet_survey.urls` and gives each pattern a key:

- ("model", "<app>.<model>", view) for the admin's per-model pages of each registered
  model (view: changelist, add, change, delete, history, view, simple_history) and
  for the extra pages a ModelAdmin adds under its model's URL (view: its name);
- ("page", "<namespace>:<name>") for every other named pattern;
- ("page", "<namespace>:<route>") for an unnamed one.

`concrete(key, ...)` fills in the arguments: department A's campaign and code, one
of A's offerings, an existing object of the admin's model.
"""

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, reverse

MODEL_VIEWS = ("changelist", "add", "change", "delete", "history", "simple_history")


def _walk(resolver, prefix="", namespace=""):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            ns = pattern.namespace or ""
            inner = f"{namespace}:{ns}".strip(":") if ns else namespace
            yield from _walk(pattern, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), namespace, pattern.name


def _admin_models():
    return {
        f"{m._meta.app_label}_{m._meta.model_name}": m._meta.label_lower
        for m in admin.site._registry
    }


def patterns():
    """[(key, route)] for every URL pattern of the project."""
    models = _admin_models()
    found = []
    for route, namespace, name in _walk(get_resolver()):
        key = None
        if namespace == "admin":
            if name:
                for prefix, label in models.items():
                    if name.startswith(prefix + "_"):
                        key = ("model", label, name[len(prefix) + 1 :])
                        break
            else:
                for label in models.values():
                    app, model = label.split(".")
                    if route == f"admin/{app}/{model}/<path:object_id>/":
                        key = ("model", label, "view")
        if key is None:
            key = ("page", f"{namespace}:{name or route}")
        found.append((key, route))
    return found


def model_object(label):
    from django.apps import apps

    return apps.get_model(label)._default_manager.order_by("pk").first()


def concrete(key, world):
    """The URL to request for a pattern's key, filled in for department A."""
    if key[0] == "model":
        _, label, view = key
        app, model = label.split(".")
        obj = model_object(label)
        assert obj is not None, f"the access matrix needs one {label}"
        if view == "changelist" or view == "add":
            return reverse(f"admin:{app}_{model}_{view}")
        if view == "view":
            return f"/admin/{app}/{model}/{obj.pk}/"
        if view == "simple_history":
            record = obj.history.order_by("history_id").first()
            return reverse(f"admin:{app}_{model}_simple_history", args=[obj.pk, record.history_id])
        if view in MODEL_VIEWS:
            return reverse(f"admin:{app}_{model}_{view}", args=[obj.pk])
        return _model_extra(label, view, obj, world)
    name = key[1]
    survey = {"campaign": world.campaign.slug, "code": world.a.code}
    if name.startswith("survey:"):
        extra = {}
        if name == "survey:service_lines":
            extra["offering_id"] = world.catalogue.att_ds1_2.pk
        return reverse(name, kwargs={**survey, **extra})
    if name == "admin:view_on_site":
        content_type = ContentType.objects.get_for_model(world.a)
        return reverse(name, args=[content_type.pk, world.a.pk])
    if name.startswith("admin:conversion_dashboard"):
        return _model_extra(
            "conversion.response", name.removeprefix("admin:conversion_"), None, world
        )
    if name == "admin:app_list":
        return reverse(name, kwargs={"app_label": "conversion"})
    if name == "admin:admin/(?P<url>.*)$":
        return "/admin/no-such-page/"
    if name == "admin:auth_user_password_change":  # pragma: no cover (a model view)
        raise AssertionError(name)
    return reverse(name)


def _model_extra(label, view, obj, world):
    """The pages a ModelAdmin adds under its model's URL."""
    if label == "conversion.response":
        response = world.response_a
        if view == "act":
            return reverse("admin:conversion_response_act", args=[response.pk, "note"])
        if view == "edit":
            return reverse("admin:conversion_response_edit", args=[response.pk, "timeframe"])
    if view == "dashboard":
        return reverse("admin:conversion_dashboard")
    if view == "dashboard_export":
        return reverse("admin:conversion_dashboard_export", args=["departments", "csv"])
    if view == "dashboard_remind":
        return reverse("admin:conversion_dashboard_remind", args=[world.a.pk])
    if label == "auth.user" and view == "password_change":
        return reverse("admin:auth_user_password_change", args=[obj.pk])
    if label == "otp_totp.totpdevice" and view in ("config", "qrcode"):
        return reverse(f"admin:otp_totp_totpdevice_{view}", args=[obj.pk])
    raise AssertionError(f"no URL for {label} {view}: add it to tests/reliability/urls.py")
