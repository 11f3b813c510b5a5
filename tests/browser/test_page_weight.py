"""First-load page weight: what each page costs a department on a slow government
network, and that nothing is fetched from any host but the app's own.

Each page is opened in a fresh browser context (an empty cache) and every response
the browser receives is counted: HTML, CSS, JavaScript, fonts, images. The live
server sends static files uncompressed, so each text body is counted as gzip -9
compresses it (as whitenoise serves it in production) and fonts as they are, the
same way as the benchmark (bench/run.py)."""

import pytest

from conversion.models import Response
from tests.browser.helpers import (
    same_host,
    signed_in_context,
    submitted_response,
    transfer_size,
)
from tests.conftest import make_department

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

LIMIT = 200 * 1024


def first_load(browser, base_url, path, person=None):
    """{url: bytes as served} for everything the page loads, and every URL requested."""
    if person is None:
        context = browser.new_context(base_url=base_url)
    else:
        context = signed_in_context(browser, base_url, person)
    page = context.new_page()
    requested, responses = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("response", lambda response: responses.append(response))
    page.goto(path, wait_until="networkidle")
    sizes = {}
    for response in responses:
        if 300 <= response.status < 400:
            continue  # a redirect has no body; its target is counted
        sizes[response.url] = transfer_size(response.url, response.body())
    context.close()
    return sizes, requested


def test_every_page_loads_under_200_kb_from_the_app_alone(
    browser, base_url, catalogue, campaign, record_property
):
    department = make_department(
        name="Department of Lightweight Pages",
        code="S0300",
        atr_email="atr@light.example.gov",
        lines=[
            (catalogue.att_ds1_2, 120),
            (catalogue.att_centrex_2, 30),
            (catalogue.vz_mpls_2, 20),
            (catalogue.vz_vm_2, 10),
        ],
    )
    submitted_response(campaign, department)
    assert Response.objects.get().revisions.count() == 1
    survey = f"/survey/{campaign.slug}/{department.code}"
    pages = {
        "landing": ("/", None),
        "sign-in sent": ("/sign-in/sent/", None),
        "link no longer works": ("/sign-in/confirm/", None),
        "overview": (f"{survey}/", department.atr),
        "department": (f"{survey}/department/", department.atr),
        "contacts": (f"{survey}/contacts/", department.atr),
        "services": (f"{survey}/services/", department.atr),
        "line by line": (f"{survey}/services/{catalogue.att_ds1_2.pk}/lines/", department.atr),
        "add a service": (f"{survey}/services/add/", department.atr),
        "timeframe": (f"{survey}/timeframe/", department.atr),
        "review": (f"{survey}/review/", department.atr),
        "submitted": (f"{survey}/submitted/", department.atr),
        "summary": (f"{survey}/summary/", department.atr),
    }
    report, too_heavy, elsewhere = [], [], []
    for label, (path, person) in pages.items():
        sizes, requested = first_load(browser, base_url, path, person)
        total = sum(sizes.values())
        report.append(f"{label}: {total / 1024:.1f} KB in {len(sizes)} responses")
        if total > LIMIT:
            too_heavy.append(f"{label}: {total / 1024:.1f} KB " + repr(sizes))
        elsewhere += [url for url in requested if not same_host(url, base_url)]
    record_property("page_weights", report)
    print("\n".join(report))
    assert not too_heavy, f"over {LIMIT // 1024} KB on first load: {too_heavy}"
    assert not elsewhere, f"requests to other hosts: {elsewhere}"
