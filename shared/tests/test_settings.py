import pytest
from pydantic import ValidationError

from shared.settings import CommonSettings


def test_production_refuses_an_empty_internal_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENV", "production")
    monkeypatch.delenv("INTERNAL_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="INTERNAL_TOKEN"):
        CommonSettings(_env_file=None)


def test_contract_names_are_read_unprefixed_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://example:1/2")
    monkeypatch.setenv("HISTORY_URL", "http://history:9")
    settings = CommonSettings(_env_file=None)
    assert settings.redis_url == "redis://example:1/2"
    assert settings.history_url == "http://history:9"
