"""The reference: the official ``ChatKitServer`` with in-memory stores.

It runs the worker's default agent app on the same scripted model, so the
conformance suite can drive it and our stack with the same requests and compare
what each answers. Start it with ``python -m testkit.reference_app`` (settings
in ``settings.py``) or ``testkit.services.start_reference_app`` from a test.
"""
