"""Entry point: ``flask --app app run`` / ``gunicorn app:app``."""
from portal import create_app

app = create_app()
