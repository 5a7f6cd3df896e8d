"""The Django project that hosts the outbox and inbox apps for the demo and the tests."""

from demo_project.celery import app as celery_app

__all__ = ["celery_app"]
