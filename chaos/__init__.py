"""The reliability suite's fault-injection run (``make chaos``): producers, relays and consumers as separate
processes, killed and crashed at random, with broker and database restarts, then checked Jepsen-style.

Modules: ``config`` (sizes and faults), ``env`` (its own database, exchange and queues), ``processes`` (the
entry points of each process, with the crash points), ``fleet`` (starting and restarting them), ``faults``
(what breaks), ``harness`` (the run), ``checker`` (lost, phantom, duplicates, order) and ``report``.
"""


def log(text: str) -> None:
    """One progress line of the run, on stdout (the harness is a command-line tool)."""
    print(f"chaos: {text}", flush=True)
