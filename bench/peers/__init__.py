"""``python -m bench.peers``: our relay against peer libraries, on the same backlog, machine and run.

Each peer is installed from the package registry into a throwaway virtual environment with a generated
minimal Django project (bench/peers/project.py); one module per peer says how to publish with it and which
relay command to run (outbox_pattern.py, celery_outbox.py).
"""
