"""The API documentation page (`/docs`), served with Swagger UI from files inside this package:
it works on a machine with no internet, and no script runs inline, so its Content Security
Policy can forbid every script that is not one of these files."""
