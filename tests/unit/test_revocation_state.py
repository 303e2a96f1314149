"""The SDK's local verification state, fed stream events as WatchRevocations sends them: keys that
retire, secrets whose overlap ends, answers asked while a revocation arrived, HS256 deployments."""

from __future__ import annotations

import base64
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from google.protobuf.timestamp_pb2 import Timestamp

from authsvc.adapters.signing_algorithms import new_private_key, public_jwk
from authsvc.client.revocation_state import RevocationState
from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.v1 import auth_pb2
from tests.support.tokens import forge_by_hand

NOW = int(time.time())
USER, WORKSPACE = str(uuid.uuid4()), str(uuid.uuid4())


def _jwk(private: Ed25519PrivateKey, kid: str) -> auth_pb2.Jwk:
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return auth_pb2.Jwk(kty="OKP", crv="Ed25519", x=x, kid=kid, alg="EdDSA", use="sig")


def _snapshot(
    keys: list[auth_pb2.VerificationKey], sequence: int = 1, **lists: list[str]
) -> auth_pb2.RevocationEvent:
    snapshot = auth_pb2.RevocationSnapshot(
        keys=auth_pb2.VerificationKeys(keys=keys),
        issuer="authsvc",
        audience="authsvc",
        leeway_seconds=30,
        **lists,
    )
    return auth_pb2.RevocationEvent(sequence=sequence, snapshot=snapshot)


def _token(private: Ed25519PrivateKey, kid: str, session: str, **extra: object) -> str:
    claims = {
        "iss": "authsvc", "aud": "authsvc", "sub": USER, "wid": WORKSPACE, "sid": session,
        "jti": str(uuid.uuid4()), "scope": "geofences:read",
        "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 600, **extra,
    }  # fmt: skip
    return jwt.encode(claims, private, algorithm="EdDSA", headers={"typ": "at+jwt", "kid": kid})


def _refusal(call: object) -> ErrorCode:
    with pytest.raises(AuthError) as refused:
        call()  # type: ignore[operator]
    return refused.value.code


def test_access_tokens_verify_locally_until_revoked_or_their_key_retires() -> None:
    current, old = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    keys = [
        auth_pb2.VerificationKey(jwk=_jwk(old, "ed-old"), retire_after=Timestamp(seconds=NOW - 1)),
        auth_pb2.VerificationKey(jwk=_jwk(current, "ed-new")),
    ]
    state = RevocationState()
    state.apply(_snapshot(keys, revoked_sessions=["s-gone"]))
    session = str(uuid.uuid4())
    token = _token(current, "ed-new", session)
    principal = state.check_access_token(token, ("geofences:read",), NOW)
    assert principal is not None and principal.kind == "user" and principal.session_id == session
    assert (
        _refusal(lambda: state.check_access_token(token, ("geofences:write",), NOW))
        is ErrorCode.PERMISSION_DENIED
    )
    retired = _token(old, "ed-old", str(uuid.uuid4()))
    assert _refusal(lambda: state.check_access_token(retired, (), NOW)) is ErrorCode.TOKEN_INVALID
    other_audience = _token(current, "ed-new", str(uuid.uuid4()), aud="someone-else")
    assert _refusal(lambda: state.check_access_token(other_audience, (), NOW)) is ErrorCode.TOKEN_INVALID
    assert _refusal(lambda: state.check_access_token(token, (), NOW + 700)) is ErrorCode.TOKEN_EXPIRED

    state.apply(auth_pb2.RevocationEvent(sequence=2, revocation=auth_pb2.Revocation(session_id=session)))
    assert _refusal(lambda: state.check_access_token(token, (), NOW)) is ErrorCode.TOKEN_INVALID
    assert state.sequence == 2

    # The key set changes: the retired key's tokens stay refused, a token of a key no longer
    # streamed is refused even though it verified before.
    fresh = _token(current, "ed-new", str(uuid.uuid4()))
    assert state.check_access_token(fresh, (), NOW) is not None
    replacement = Ed25519PrivateKey.generate()
    keys_event = auth_pb2.VerificationKeys(keys=[auth_pb2.VerificationKey(jwk=_jwk(replacement, "ed-next"))])
    state.apply(auth_pb2.RevocationEvent(sequence=3, keys=keys_event))
    assert _refusal(lambda: state.check_access_token(fresh, (), NOW)) is ErrorCode.TOKEN_INVALID


def test_an_hs256_deployment_is_asked_never_accepted_locally() -> None:
    state = RevocationState()
    state.apply(_snapshot([]))  # HS256 only: no key is streamed
    hs256 = jwt.encode({"sub": USER}, b"x" * 32, algorithm="HS256", headers={"typ": "at+jwt", "kid": "hs-1"})
    assert state.check_access_token(hs256, (), NOW) is None  # None: ask AuthService
    eddsa = _token(Ed25519PrivateKey.generate(), "ed-any", str(uuid.uuid4()))
    assert _refusal(lambda: state.check_access_token(eddsa, (), NOW)) is ErrorCode.TOKEN_INVALID


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_ecdsa_and_rsa_tokens_verify_locally_with_the_streamed_key_alone(algorithm: str) -> None:
    private, _ = new_private_key(algorithm)
    kid = f"{algorithm.lower()}-1"
    jwk = auth_pb2.Jwk(**public_jwk(kid, algorithm, private.public_key()))
    state = RevocationState()
    state.apply(_snapshot([auth_pb2.VerificationKey(jwk=jwk)]))
    session = str(uuid.uuid4())
    claims = {
        "iss": "authsvc", "aud": "authsvc", "sub": USER, "wid": WORKSPACE, "sid": session,
        "jti": str(uuid.uuid4()), "scope": "geofences:read", "iat": NOW - 10, "nbf": NOW - 10,
        "exp": NOW + 600,
    }  # fmt: skip
    token = jwt.encode(claims, private, algorithm=algorithm, headers={"typ": "at+jwt", "kid": kid})
    principal = state.check_access_token(token, ("geofences:read",), NOW)
    assert principal is not None and principal.session_id == session

    # Signed by another key under the same kid: refused. HS256 "signed" with the published key:
    # never accepted here (None: AuthService is asked, and refuses it, tests/integration).
    stranger, _ = new_private_key(algorithm)
    forged = jwt.encode(claims, stranger, algorithm=algorithm, headers={"typ": "at+jwt", "kid": kid})
    assert _refusal(lambda: state.check_access_token(forged, (), NOW)) is ErrorCode.TOKEN_INVALID
    pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    confused = forge_by_hand(claims, pem, kid)
    assert state.check_access_token(confused, (), NOW) is None
    state.apply(auth_pb2.RevocationEvent(sequence=2, revocation=auth_pb2.Revocation(session_id=session)))
    assert _refusal(lambda: state.check_access_token(token, (), NOW)) is ErrorCode.TOKEN_INVALID


def _key_principal(key_id: str, **fields: object) -> auth_pb2.Principal:
    return auth_pb2.Principal(
        kind=auth_pb2.PRINCIPAL_KIND_API_KEY, subject_id=key_id, api_key_id=key_id, user_id=USER,
        workspace_id=WORKSPACE, permissions=["geofences:read"],
        environment=auth_pb2.ENVIRONMENT_TEST, **fields,
    )  # fmt: skip


def test_api_keys_are_kept_until_the_stream_says_otherwise_or_their_time_is_up() -> None:
    state = RevocationState()
    state.apply(_snapshot([]))
    key_id = str(uuid.uuid4())
    epoch = state.key_epoch
    state.remember_api_key("sf_test_one", _key_principal(key_id), epoch)
    assert state.known_api_key("sf_test_one", ("geofences:read",), NOW + 10**6) is not None  # no TTL
    state.apply(auth_pb2.RevocationEvent(sequence=2, revocation=auth_pb2.Revocation(api_key_id=key_id)))
    assert state.known_api_key("sf_test_one", (), NOW) is None  # ask again

    # An answer asked while a revocation arrived is used once, never kept.
    epoch = state.key_epoch
    state.apply(
        auth_pb2.RevocationEvent(sequence=3, revocation=auth_pb2.Revocation(user_id=str(uuid.uuid4())))
    )
    state.remember_api_key("sf_test_one", _key_principal(key_id), epoch)
    assert state.known_api_key("sf_test_one", (), NOW) is None

    ends = Timestamp(seconds=NOW + 60)
    state.remember_api_key("sf_test_old", _key_principal(key_id, secret_ends_at=ends), state.key_epoch)
    state.remember_api_key("sf_test_exp", _key_principal(key_id, expires_at=ends), state.key_epoch)
    assert state.known_api_key("sf_test_old", (), NOW + 59) is not None
    assert _refusal(lambda: state.known_api_key("sf_test_old", (), NOW + 60)) is ErrorCode.TOKEN_INVALID
    with pytest.raises(AuthError) as expired:
        state.known_api_key("sf_test_exp", (), NOW + 60)
    assert expired.value.detail == "API key expired"

    # A user disabled: their keys are forgotten; a new snapshot forgets every key.
    state.remember_api_key("sf_test_two", _key_principal(str(uuid.uuid4())), state.key_epoch)
    state.apply(auth_pb2.RevocationEvent(sequence=4, revocation=auth_pb2.Revocation(user_id=USER)))
    assert state.known_api_key("sf_test_two", (), NOW) is None
    state.remember_api_key("sf_test_two", _key_principal(str(uuid.uuid4())), state.key_epoch)
    assert state.known_api_key("sf_test_two", (), NOW) is None  # the user is disabled: not kept
    state.apply(_snapshot([], sequence=9))
    state.remember_api_key("sf_test_three", _key_principal(str(uuid.uuid4())), state.key_epoch)
    state.apply(_snapshot([], sequence=10))
    assert state.known_api_key("sf_test_three", (), NOW) is None
