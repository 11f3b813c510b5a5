"""Concurrency on PostgreSQL, with real threads (each with its own connection).

Two send_reminders at once are proven in tests/conversion/test_smtp.py
(`test_two_processes_at_once_deliver_each_message_exactly_once`) and
tests/calnet_survey/test_scale_out.py: each email once, none lost.
"""

import threading

import pytest
from django.db import connection, connections, transaction
from django.urls import reverse

from conversion import review
from conversion.models import Response, ResponseStatus, Revision, Section, SectionProgress
from departments.models import Person
from tests.reliability import support

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(autouse=True)
def _postgres():
    support.postgres_only()


def in_threads(*jobs):
    """Run each job in its own thread at the same moment; their results, in order."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def run(index, job):
        try:
            barrier.wait()
            results[index] = job()
        except Exception as error:  # reported to the test below
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def loaded_value(page):
    import re

    return re.search(rb'name="loaded" value="([^"]*)"', page.content).group(1).decode()


def test_two_saves_of_one_section_from_one_version_one_wins_nothing_lost(world):
    url = reverse(
        "survey:timeframe", kwargs={"campaign": world.campaign.slug, "code": world.a.code}
    )
    colleague = Person.objects.create(department=world.a, name="Bea", email="bea@alpha.example.gov")
    rounds = 10
    outcomes = []
    for n in range(rounds):
        clients = [support.client_for(world.member), support.client_for(_user(colleague))]
        loaded = [loaded_value(c.get(url)) for c in clients]
        texts = [f"Round {n}: blackout by Ada", f"Round {n}: blackout by Bea"]
        answers = in_threads(
            *(
                lambda c=c, t=t, v=v: c.post(url, {"blackout_periods": t, "loaded": v})
                for c, t, v in zip(clients, texts, loaded, strict=True)
            )
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [302, 409], statuses
        winner = next(i for i, a in enumerate(answers) if a.status_code == 302)
        loser = answers[1 - winner]
        response = Response.objects.get(pk=world.response_a.pk)
        # The winner's answer is saved; the loser sees it and still has what they typed.
        assert response.blackout_periods == texts[winner]
        page = loser.content.decode()
        assert texts[winner] in page
        assert texts[1 - winner] in page
        outcomes.append(winner)
    progress = SectionProgress.objects.get(response=world.response_a, section=Section.TIMEFRAME)
    assert progress.version == rounds  # one save per round, none lost, none doubled
    support.record(
        "concurrency_same_section", rounds=rounds, saves=rounds, conflicts=rounds, lost=0
    )


def _user(person):
    from tests.conftest import make_user_for

    return make_user_for(person)


def test_a_save_racing_an_acceptance_never_changes_accepted_answers(world):
    """A department saves a section of its submitted answers while an analyst accepts
    them. Defined outcome: either the acceptance comes first and the save is refused
    (accepted answers are read-only), or the save comes first and the acceptance is
    refused (the answers are no longer the submitted ones). Never both: an accepted
    response whose answers changed after the acceptance.

    Deterministic: the test holds the section's progress row locked, so the save stops
    inside its transaction after it has checked the response is editable; the analyst
    accepts meanwhile; then the lock is released."""
    response = support.complete(world)
    Response.objects.filter(pk=response.pk).update(status=ResponseStatus.SUBMITTED)
    Revision.objects.create(
        response=response, number=1, submitted_at=response.updated_at, answers={}
    )
    url = reverse(
        "survey:timeframe", kwargs={"campaign": world.campaign.slug, "code": world.a.code}
    )
    client = support.client_for(world.member)
    loaded = loaded_value(client.get(url))
    holder_ready, release = threading.Event(), threading.Event()

    def hold_the_progress_row():
        with transaction.atomic():
            SectionProgress.objects.select_for_update().get(
                response=response, section=Section.TIMEFRAME
            )
            holder_ready.set()
            release.wait(30)
        connection.close()

    holder = threading.Thread(target=hold_the_progress_row)
    holder.start()
    holder_ready.wait(10)
    result = {}

    def save():
        result["answer"] = client.post(
            url, {"blackout_periods": "Changed after acceptance?", "loaded": loaded}
        )
        connection.close()

    saver = threading.Thread(target=save)
    saver.start()
    _wait_for_lock_waiters(1)
    try:
        review.accept(response=response, by=world.analyst)
        accepted = True
    except Exception:
        accepted = False
    release.set()
    saver.join(30)
    holder.join(30)

    response.refresh_from_db()
    changed = response.blackout_periods == "Changed after acceptance?"
    assert accepted, "the acceptance came first here"
    assert response.status == ResponseStatus.ACCEPTED
    assert not changed, "an accepted response's answers changed"
    assert result["answer"].status_code == 302  # back to the overview, with the reason


def _wait_for_lock_waiters(count, timeout=10):
    """Until `count` sessions of this database wait for a lock."""
    import time

    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return
            time.sleep(0.02)
    raise AssertionError("nobody waited for the lock")


def test_a_submission_racing_an_acceptance(world):
    """The Manager submits while an analyst accepts: either the acceptance finds nothing
    submitted (refused) or it accepts exactly the revision just submitted. Never an
    acceptance without a revision, never two revisions."""
    url = reverse("survey:review", kwargs={"campaign": world.campaign.slug, "code": world.a.code})
    outcomes = {"accepted": 0, "refused": 0}
    for _ in range(8):
        Revision.objects.filter(response=world.response_a).delete()
        Response.objects.filter(pk=world.response_a.pk).delete()
        world.response_a = Response.objects.create(campaign=world.campaign, department=world.a)
        response = support.complete(world)
        client = support.client_for(world.member)

        def accept(response=response):
            try:
                review.accept(response=response, by=world.analyst)
                return "accepted"
            except Exception:
                return "refused"

        submitted, accepted = in_threads(
            lambda client=client, response=response: client.post(
                url, {"action": "submit", "version": response.version, "attest": "on"}
            ),
            accept,
        )
        assert submitted.status_code == 302, submitted.content[:500]
        response.refresh_from_db()
        revisions = list(response.revisions.all())
        assert len(revisions) == 1
        if accepted == "accepted":
            assert response.status == ResponseStatus.ACCEPTED
            assert response.accepted_at >= revisions[0].submitted_at
        else:
            assert response.status == ResponseStatus.SUBMITTED
        outcomes[accepted] += 1
    support.record("concurrency_submit_vs_accept", rounds=8, **outcomes)
