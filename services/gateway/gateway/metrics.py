"""Prometheus metrics of the gateway, registered once per process."""

from prometheus_client import Counter, Gauge

REQUESTS = Counter(
    "gateway_requests_total",
    "Accepted POST /chatkit requests by ChatKit op ('simple' for the simple format)",
    ["op"],
)
ACTIVE_STREAMS = Gauge("gateway_active_streams", "SSE streams open right now")
EVENTS_RELAYED = Counter(
    "gateway_events_relayed_total", "Run events written to SSE clients"
)
