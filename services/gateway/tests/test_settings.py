import pytest
from pydantic import ValidationError

from gateway.settings import DEV_JWT_SECRET, GatewaySettings

REAL_SECRET = "a-real-secret-that-is-long-enough-0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "JWT_SECRET", "BETTER_AUTH_SECRET", "CORS_ORIGINS", "ENV",
        "GATEWAY_ATTACHMENT_MIME_TYPES", "GATEWAY_PUBLIC_URL", "ON_DISCONNECT",
        "GATEWAY_ON_DISCONNECT", "BUSY_POLICY", "GATEWAY_BUSY_POLICY",
        "GATEWAY_BUSY_WAIT_S", "GATEWAY_QUEUED_LEASE_S",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def _settings(**values: object) -> GatewaySettings:
    return GatewaySettings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("env", ["test", "production"])
@pytest.mark.parametrize("secret", ["", "changeme", "secret", "  CHANGETHIS "])
def test_empty_or_placeholder_secret_is_refused_outside_development(
    env: str, secret: str
) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        _settings(env=env, jwt_secret=secret, internal_token="t")


def test_development_without_a_secret_uses_the_dev_secret_and_flags_it() -> None:
    settings = _settings(env="development")
    assert settings.jwt_secret.get_secret_value() == DEV_JWT_SECRET
    assert settings.uses_insecure_secret


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        _settings(
            env="production",
            jwt_secret="short-but-not-a-placeholder",
            internal_token="t",
        )


def test_a_real_secret_is_accepted_and_not_flagged() -> None:
    settings = _settings(env="production", jwt_secret=REAL_SECRET, internal_token="t")
    assert not settings.uses_insecure_secret
    assert REAL_SECRET not in repr(settings)


def test_better_auth_secret_is_read_when_jwt_secret_is_unset_or_empty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENV", "test")
    monkeypatch.setenv("JWT_SECRET", "")
    monkeypatch.setenv("BETTER_AUTH_SECRET", REAL_SECRET)
    assert _settings().jwt_secret.get_secret_value() == REAL_SECRET


def test_jwt_secret_wins_over_the_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "test")
    monkeypatch.setenv("JWT_SECRET", REAL_SECRET)
    monkeypatch.setenv("BETTER_AUTH_SECRET", "the-alias-secret-long-enough-0123456789")
    assert _settings().jwt_secret.get_secret_value() == REAL_SECRET


def test_cors_origins_are_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "http://localhost:3000, https://app.example ,")
    settings = _settings(env="development")
    assert settings.cors_origins == ["http://localhost:3000", "https://app.example"]


@pytest.mark.parametrize("origins", ["*", "http://a.example,*"])
def test_wildcard_cors_origin_is_refused(
    monkeypatch: pytest.MonkeyPatch, origins: str
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", origins)
    with pytest.raises(ValidationError, match="CORS_ORIGINS"):
        _settings(env="development")


def test_gateway_knobs_have_the_documented_defaults() -> None:
    settings = _settings(env="development")
    assert settings.gateway_keepalive_s == 15
    assert settings.gateway_max_body_bytes == 1024 * 1024
    assert (settings.gateway_host, settings.gateway_port) == ("127.0.0.1", 8000)


def test_attachment_and_job_knobs_have_the_documented_defaults() -> None:
    settings = _settings(env="development")
    assert settings.gateway_attachment_max_bytes == 10 * 1024 * 1024
    assert settings.gateway_transcribe_max_bytes == 25 * 1024 * 1024
    assert settings.gateway_upload_link_ttl_s == 3600
    assert settings.gateway_sync_job_timeout_s == 30
    assert settings.gateway_public_url is None
    assert settings.gateway_attachment_mime_types == [
        "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf",
        "text/plain", "text/markdown", "text/csv", "application/json",
    ]  # fmt: skip


def test_attachment_mime_types_are_a_normalised_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEWAY_ATTACHMENT_MIME_TYPES", " Image/PNG, text/plain ,")
    settings = _settings(env="development")
    assert settings.gateway_attachment_mime_types == ["image/png", "text/plain"]


@pytest.mark.parametrize("types", ["image/svg+xml", "text/plain,image/bmp"])
def test_image_types_whose_bytes_cannot_be_checked_are_refused(
    monkeypatch: pytest.MonkeyPatch, types: str
) -> None:
    monkeypatch.setenv("GATEWAY_ATTACHMENT_MIME_TYPES", types)
    with pytest.raises(ValidationError, match="image types are limited"):
        _settings(env="development")


def test_public_url_loses_its_trailing_slash_and_must_be_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEWAY_PUBLIC_URL", "https://chat.example/api/")
    assert _settings(env="development").gateway_public_url == (
        "https://chat.example/api"
    )
    monkeypatch.setenv("GATEWAY_PUBLIC_URL", "chat.example")
    with pytest.raises(ValidationError, match="GATEWAY_PUBLIC_URL"):
        _settings(env="development")


def test_run_knobs_have_the_documented_defaults() -> None:
    settings = _settings(env="development")
    assert settings.on_disconnect == "continue"
    assert settings.busy_policy == "reject"
    assert settings.gateway_busy_wait_s == 120
    assert settings.gateway_queued_lease_s == 300
    assert (settings.run_log_maxlen, settings.run_log_ttl_s) == (1000, 3600)


@pytest.mark.parametrize("prefix", ["", "GATEWAY_"])
def test_run_policies_are_read_unprefixed_or_with_the_gateway_prefix(
    monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    monkeypatch.setenv(f"{prefix}ON_DISCONNECT", "cancel")
    monkeypatch.setenv(f"{prefix}BUSY_POLICY", "interrupt")
    settings = _settings(env="development")
    assert (settings.on_disconnect, settings.busy_policy) == ("cancel", "interrupt")


@pytest.mark.parametrize(
    ("name", "value"), [("ON_DISCONNECT", "stop"), ("BUSY_POLICY", "queue")]
)
def test_unknown_run_policies_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        _settings(env="development")
