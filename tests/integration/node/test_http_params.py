"""Integers in HTTP parameters: past 64 bits, or not decimal, they get the documented 400, never a 500."""

from __future__ import annotations

import pytest
from conftest import API_KEY
from workflow_support import follow, users

from rtserver.errors import BadRequest
from rtserver.node.params import INT64_MAX, int_field, int_query, parse_int

HUGE = str(2**64)


def test_parse_int_accepts_the_64_bit_range_and_nothing_else() -> None:
    assert parse_int(str(INT64_MAX), "n") == INT64_MAX
    assert parse_int("-5", "n") == -5
    for bad in (HUGE, str(-(2**63) - 1), "²", "١٢", "1e3", "", " 1", "0x10", "9" * 5000):
        with pytest.raises(BadRequest):
            parse_int(bad, "n")
    with pytest.raises(BadRequest):
        parse_int("11", "n", 1, 10)
    assert int_query({"limit": "5000"}, "limit", 7, 1, 1000, clamp=True) == 1000
    assert int_query({}, "limit", 7, 1, 1000) == 7
    with pytest.raises(BadRequest):
        int_query({"limit": HUGE}, "limit", 7, 1, 1000, clamp=True)
    for bad in (True, 2**63, "1", 1.0, None):
        with pytest.raises(BadRequest):
            int_field({"n": bad}, "n")


async def test_every_integer_parameter_answers_400_past_64_bits(harness) -> None:
    await harness.room("conv", {"adv-1": "member", "js-1": "member"})
    await users(harness, ("adv-1", "advisor", ""), ("js-1", "jobseeker", ""))
    await follow(harness, "js-1", "adv-1")
    appointment = {"advisor": "adv-1", "jobseeker": "js-1", "start": 4_000_000_000_000, "duration_min": 30}
    requests = [
        ("GET", f"/api/rooms/conv/messages?after={HUGE}", None),
        ("GET", f"/api/rooms/conv/messages?limit={HUGE}", None),
        ("GET", f"/api/rooms/conv/messages?after=-{HUGE}", None),
        ("GET", f"/api/followups/js-1/export?after={HUGE}", None),
        ("GET", f"/api/followups/js-1/export?limit=-{HUGE}", None),
        ("GET", "/api/users/js-1/precall?limit=%C2%B2", None),  # '²': str.isdigit() says yes, int() says no
        ("GET", f"/api/users/js-1/precall?limit={HUGE}", None),
        ("POST", "/api/appointments", {**appointment, "start": 2**64}),
        ("POST", "/api/appointments", {**appointment, "start": 2**63 - 1}),  # its end would pass 64 bits
        ("POST", "/api/appointments", {**appointment, "duration_min": 2**64}),
    ]
    for method, path, body in requests:
        status, data = await harness.api(method, path, body)
        assert (status, data["error"]["code"]) == (400, "invalid_message"), (method, path, body, data)
    # In range, a page size asked too large is still brought down to the largest page.
    status, data = await harness.api("GET", "/api/rooms/conv/messages?after=0&limit=5000")
    assert status == 200 and data["more"] is False


async def test_a_deeply_nested_body_answers_400_not_500(harness) -> None:
    """The standard JSON parser recursed until RecursionError (HTTP 500) on 20,000 nested objects."""
    nested = '{"a":' * 20_000 + "1" + "}" * 20_000
    for path in ("/api/rooms", "/api/rooms/conv/members", "/api/followups", "/api/followups/js-1/transfer",
                 "/api/appointments"):
        async with harness.session.post(harness.url(path), data=nested, headers={
                "X-Api-Key": API_KEY, "Content-Type": "application/json"}) as resp:
            data = await resp.json()
            assert (resp.status, data["error"]["code"]) == (400, "invalid_message"), (path, data)
    status, _ = await harness.api("GET", "/api/rooms/nothing-here")
    assert status == 404  # the node still answers


async def test_ids_and_addresses_are_matched_whole(harness) -> None:
    """``re.match`` with ``$`` accepts a trailing newline: an e-mail address could carry one into mail headers."""
    status, data = await harness.api("PUT", "/api/users/js-1", {"name": "A", "role": "jobseeker",
                                                                 "email": "a@example.org\n"})
    assert (status, data["error"]["code"]) == (400, "invalid_message"), data
    for member in ("js\x01", "js-1\n", "js 1", "x" * 101):
        status, data = await harness.api("POST", "/api/rooms", {"id": "r1", "kind": "group",
                                                                 "members": [{"user": member}]})
        assert (status, data["error"]["code"]) == (400, "invalid_message"), (member, data)
    status, data = await harness.api("POST", "/api/rooms", {"id": "r1\n", "kind": "group", "members": []})
    assert (status, data["error"]["code"]) == (400, "invalid_message"), data


async def test_a_user_name_set_by_the_portal_has_no_control_characters(harness) -> None:
    """Names are shown to others, as tokens' names are: the same rules (no CR/LF, ESC, bidi overrides)."""
    for name in ("Ada\nAdvisor: call 0800", "Ada\x1b[31m", "\u202eAda"):
        status, data = await harness.api("PUT", "/api/users/js-1", {"name": name, "role": "jobseeker"})
        assert (status, data["error"]["code"]) == (400, "invalid_message"), (name, data)
    status, _ = await harness.api("PUT", "/api/users/js-1", {"name": "Ada Lovelace 👩‍💻", "role": "jobseeker"})
    assert status == 200
