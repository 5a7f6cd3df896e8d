"""Idempotent inbox for Django consumers."""
