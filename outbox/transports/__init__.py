"""Transports: the broker behind small interfaces (``base.py``), one module per broker (``amqp*.py``,
``memory.py``), chosen by URL scheme (``registry.py``). Import from the modules themselves: this package
imports nothing, so that a module of it never drags in the others."""
