"""The operations the API's routes and the console's pages both perform.

Each takes plain arguments (a session or the store, the tenant's id or its row, validated
schema objects, the settings, the Temporal client), raises `api.errors.ApiError` when the
request cannot be done, and returns schema objects or rows. Routes parse, depend, call one
and answer; console pages call the same ones and render."""
