"""The web pages a learner uses in a browser, served by the app at `/` (the API stays at
`/api/v1`): server-rendered HTML (Jinja2 templates in this package), htmx and two small files
of our own for the live parts, every asset shipped here so the pages work offline and run
under a Content Security Policy that allows no inline script.

Pages sign in with a session cookie (`sessions`, `auth`), never with the bearer token, and
call the domain services directly, as the API routers do."""
