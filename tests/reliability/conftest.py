"""Fixtures of the reliability tests (helpers in support.py)."""

import pytest

from tests.reliability import support


@pytest.fixture
def world(catalogue, campaign, settings):
    settings.PASSWORD_HASHERS = support.FAST_HASHERS
    return support.make_world(catalogue, campaign)
