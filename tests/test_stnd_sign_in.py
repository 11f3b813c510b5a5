"""STND's sign-in to the admin: password, then a TOTP code (enrolled by QR code the
first time) whenever STND_REQUIRE_OTP is on; lockout after repeated failures per
account and per address; sessions that expire after inactivity."""

import datetime
import time

import pytest
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conversion.test_admin_support import FAST_HASHERS, make_staff

LOGIN = reverse("admin:login")
INDEX = reverse("admin:index")
SECOND = reverse("admin:second_factor")
PASSWORD = "s3cret-Pa55word!"


def code(device):
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():06d}"


@pytest.fixture
def otp_required(settings):
    settings.STND_REQUIRE_OTP = True


@pytest.fixture
def analyst(db, settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return make_staff("analyst", "STND analyst")


def sign_in(client, username="analyst", password=PASSWORD):
    return client.post(LOGIN, {"username": username, "password": password, "next": INDEX})


def test_first_sign_in_enrols_an_authenticator_by_qr_code(client, analyst, otp_required):
    result = sign_in(client)
    assert result.status_code == 302
    assert result.url.startswith(SECOND)
    # Signed in with a password only: the admin is still closed.
    assert client.get(reverse("admin:conversion_response_changelist")).status_code == 302
    page = client.get(result.url)
    html = page.content.decode()
    assert '<svg role="img" aria-label="QR code"' in html
    assert "Set up your second factor" in html
    device = TOTPDevice.objects.get(user=analyst)
    assert not device.confirmed
    # Reloading keeps the same device (and QR code).
    client.get(result.url)
    assert TOTPDevice.objects.filter(user=analyst).count() == 1
    done = client.post(SECOND, {"token": code(device), "next": INDEX})
    assert done.status_code == 302 and done.url == INDEX
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(reverse("admin:conversion_response_changelist")).status_code == 200


def test_an_enrolled_user_must_give_the_current_code(client, analyst, otp_required):
    device = TOTPDevice.objects.create(user=analyst, name="phone", confirmed=True)
    sign_in(client)
    page = client.get(SECOND).content.decode()
    assert "QR code" not in page
    wrong = client.post(SECOND, {"token": "000000" if code(device) != "000000" else "111111"})
    assert wrong.status_code == 200
    assert "That code is not right" in wrong.content.decode()
    assert client.get(INDEX).status_code == 302
    device.refresh_from_db()
    device.throttling_failure_count = 0  # the throttle would make us wait; covered below
    device.throttling_failure_timestamp = None
    device.save()
    assert client.post(SECOND, {"token": code(device)}).status_code == 302
    assert client.get(INDEX).status_code == 200


def test_wrong_codes_are_throttled(client, analyst, otp_required):
    device = TOTPDevice.objects.create(user=analyst, name="phone", confirmed=True)
    sign_in(client)
    client.post(SECOND, {"token": "123456" if code(device) != "123456" else "654321"})
    # Right code, but right after a failure: refused until the wait is over.
    result = client.post(SECOND, {"token": code(device)})
    assert "Too many wrong codes" in result.content.decode()


def test_the_second_factor_page_needs_a_password_first(client, db, otp_required):
    result = client.get(SECOND)
    assert result.status_code == 302 and result.url == LOGIN


def test_the_demo_signs_in_in_one_step(client, analyst, settings):
    settings.STND_REQUIRE_OTP = False
    result = sign_in(client)
    assert result.url == INDEX
    assert client.get(INDEX).status_code == 200


def test_repeated_failures_lock_the_account_out(client, analyst, settings):
    settings.STND_REQUIRE_OTP = False
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert sign_in(client, password="wrong").status_code in (200, 429)
    locked = sign_in(client)  # the right password, too late
    assert locked.status_code == 429
    assert client.get(INDEX).status_code == 302


def test_repeated_failures_from_one_address_lock_it_out(client, analyst, settings):
    settings.STND_REQUIRE_OTP = False
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, username=f"guess{n}", password="wrong")
    assert sign_in(client).status_code == 429


def test_sessions_expire_after_inactivity(client, analyst, settings, time_machine):
    settings.STND_REQUIRE_OTP = False
    time_machine.move_to(datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC))
    sign_in(client)
    time_machine.shift(datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE - 60))
    assert client.get(INDEX).status_code == 200  # activity restarts the clock
    time_machine.shift(datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE - 60))
    assert client.get(INDEX).status_code == 200
    time_machine.shift(datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE + 60))
    assert client.get(INDEX).status_code == 302
