"""``make bench``: this stack against the official in-process ChatKitServer."""
