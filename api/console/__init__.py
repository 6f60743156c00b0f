"""The hookline console: server-rendered pages (Jinja2) for one tenant at a time, signed in
through single-use links from POST /api/v1/console/sessions. No script, no build step.
`app.install` mounts it."""
