"""Token rules, on the verifier alone: bounded lifetime, well-formed user ids and names."""

from __future__ import annotations

import time

import jwt
import pytest

from rtserver.auth import Identity, Role, TokenError, TokenVerifier, mint_token

SECRET = "a-test-secret-of-at-least-thirty-two-characters"
DAY_S = 86_400.0


def _verifier(**kw: object) -> TokenVerifier:
    return TokenVerifier(secret=SECRET, max_lifetime_s=DAY_S, **kw)  # type: ignore[arg-type]


def _token(**claims: object) -> str:
    now = int(time.time())
    base: dict[str, object] = {"sub": "js-1", "role": "jobseeker", "iat": now, "exp": now + 600}
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, SECRET, algorithm="HS256")


def test_a_well_formed_token_names_its_user():
    identity = _verifier().verify(_token(name="Ada Lovelace"))
    assert identity == Identity("js-1", Role.JOBSEEKER, "Ada Lovelace", identity.expires_at)


def test_a_token_valid_until_the_year_9999_is_refused():
    with pytest.raises(TokenError, match="maximum lifetime") as err:
        _verifier().verify(_token(exp=253_402_300_799))
    assert err.value.code == "unauthorized"
    with pytest.raises(TokenError, match="maximum lifetime"):  # no iat: counted from now
        _verifier().verify(_token(iat=None, exp=253_402_300_799))


def test_the_lifetime_is_exp_minus_iat_and_the_maximum_is_inclusive():
    now = int(time.time())
    _verifier().verify(_token(iat=now, exp=now + int(DAY_S)))
    with pytest.raises(TokenError, match="maximum lifetime"):
        _verifier().verify(_token(iat=now - 10, exp=now + int(DAY_S)))
    # An old iat does not stretch the window: the lifetime still counts from it.
    with pytest.raises(TokenError, match="maximum lifetime"):
        _verifier().verify(_token(iat=now - 10 * int(DAY_S), exp=now + 600))


def test_without_iat_the_lifetime_counts_from_now_within_the_leeway():
    now = time.time()
    _verifier(leeway_s=30.0).verify(_token(iat=None, exp=int(now + DAY_S + 20)))
    with pytest.raises(TokenError, match="maximum lifetime"):
        _verifier(leeway_s=30.0).verify(_token(iat=None, exp=int(now + DAY_S + 60)))


def test_exp_is_required():
    with pytest.raises(TokenError, match="exp"):
        _verifier().verify(_token(exp=None))


def test_the_maximum_lifetime_is_configurable_and_positive():
    with pytest.raises(TokenError, match="maximum lifetime"):
        TokenVerifier(secret=SECRET, max_lifetime_s=300).verify(_token())
    with pytest.raises(ValueError, match="max_lifetime_s"):
        TokenVerifier(secret=SECRET, max_lifetime_s=0)


@pytest.mark.parametrize("sub", [
    "js\x00", "js\n", "js\r\nX-Injected: 1", "a\x1b[31m", "tab\there", "sp ace", "é", "a/b", "x" * 101, "",
])
def test_a_user_id_outside_the_id_pattern_is_refused(sub):
    with pytest.raises(TokenError, match="'sub'"):
        _verifier().verify(_token(sub=sub))


@pytest.mark.parametrize("sub", ["js-1", "ADV.2", "u_3", "org:42", "ada@example.org", "x" * 100])
def test_user_ids_of_the_id_pattern_are_accepted(sub):
    assert _verifier().verify(_token(sub=sub)).user_id == sub


@pytest.mark.parametrize("name", ["Ada\x00", "Ada\nLovelace", "a\x1b[2J", "\u202eevil", "x\u2028y", "", 7])
def test_a_name_with_control_characters_or_not_a_string_is_refused(name):
    with pytest.raises(TokenError, match="'name'"):
        _verifier().verify(_token(name=name))


def test_the_name_length_is_bounded_and_configurable():
    _verifier(max_name_chars=10).verify(_token(name="x" * 10))
    with pytest.raises(TokenError, match="'name'"):
        _verifier(max_name_chars=10).verify(_token(name="x" * 11))
    assert _verifier().verify(_token(name="Zoë 😀 Ngũgĩ‍")).name == "Zoë 😀 Ngũgĩ‍"


def test_a_missing_name_is_the_user_id():
    assert _verifier().verify(_token(name=None)).name == "js-1"


def test_mint_token_refuses_what_the_server_would():
    with pytest.raises(ValueError, match="user id"):
        mint_token(secret=SECRET, user_id="bad\nid", role="jobseeker")


def test_the_token_command_mints_only_tokens_the_server_accepts(capsys, monkeypatch):
    from rtserver.cli import main

    monkeypatch.delenv("RTSERVER_JWT_MAX_LIFETIME_S", raising=False)
    base = ["token", "--role", "jobseeker", "--secret", SECRET]
    assert main([*base, "--user", "js-1", "--ttl", "600"]) == 0
    assert _verifier().verify(capsys.readouterr().out.strip()).user_id == "js-1"
    with pytest.raises(SystemExit, match="jwt_max_lifetime_s"):
        main([*base, "--user", "js-1", "--ttl", str(DAY_S + 1)])
    assert main([*base, "--user", "js-1", "--ttl", "7200", "--jwt-max-lifetime-s", "7200"]) == 0
    with pytest.raises(SystemExit, match="user id"):
        main([*base, "--user", "js 1"])
    with pytest.raises(SystemExit, match="name"):
        main([*base, "--user", "js-1", "--name", "Ada\x1b[2J"])
