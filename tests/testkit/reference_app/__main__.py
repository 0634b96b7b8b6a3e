"""``python -m testkit.reference_app``: serve the reference app with uvicorn."""

import uvicorn

from testkit.reference_app.app import create_app
from testkit.reference_app.settings import ReferenceSettings


def main() -> None:
    """Read ``REFERENCE_*`` settings and serve until stopped."""
    settings = ReferenceSettings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
