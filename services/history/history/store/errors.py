"""What the store refuses; the app maps these to 404 and 409 answers."""


class NotFound(Exception):
    """The row does not exist for this user (another user's row included)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class Conflict(Exception):
    """The write collides with existing state (a taken id, a busy thread)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class StaleRun(Conflict):
    """A worker's write whose run no longer holds its thread: the fencing token
    does not match, the run ended, or its lease ran out."""

    def __init__(self) -> None:
        super().__init__("stale_run", "the run is over or its lease passed to another")
