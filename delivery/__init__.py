"""The HTTP side of a delivery, shared by the activities and the API's test endpoint.

`transport.delivery_transport(settings)` builds a process's one client; `send.send()` makes
one signed attempt with it and reports the outcome as a `SendResult`; `resolver` is the
SSRF-vetting resolver every connection goes through. Imports only `core/` and `infra/`.
"""
