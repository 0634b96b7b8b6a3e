import httpx

from shared.history_api import ErrorBody


async def test_readyz_is_200_when_redis_relay_and_history_answer(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "checks": {"redis": "ok", "relay": "ok", "history": "ok"},
    }


async def test_readyz_is_503_naming_the_dependency_that_is_down(
    bare_http: httpx.AsyncClient,
) -> None:
    response = await bare_http.get("/readyz")
    assert response.status_code == 503
    error = ErrorBody.model_validate_json(response.content)
    assert error.error == "not_ready"
    assert error.detail == "unreachable: history"


async def test_metrics_expose_requests_streams_and_relayed_events(
    bare_http: httpx.AsyncClient,
) -> None:
    await bare_http.post("/chatkit", json={"type": "threads.list", "params": {}})
    response = await bare_http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for name in (
        "gateway_requests_total",
        "gateway_active_streams",
        "gateway_events_relayed_total",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in response.text


async def test_every_response_carries_a_request_id(
    bare_http: httpx.AsyncClient,
) -> None:
    first, second = await bare_http.get("/healthz"), await bare_http.get("/healthz")
    assert first.headers["x-request-id"].startswith("req_")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
