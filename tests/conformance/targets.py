"""What a conformance test knows about the server it drives."""

from dataclasses import dataclass
from typing import Literal

TargetName = Literal["ours", "reference"]


@dataclass(frozen=True)
class Target:
    """A server speaking ChatKit at ``<url>/chatkit``."""

    name: TargetName
    url: str

    @property
    def ours(self) -> bool:
        """Whether this is our stack (else the SDK's reference server)."""
        return self.name == "ours"
