"""A simulated external mail API (think Stripe-style idempotency keys on an e-mail service).

It stands for a system outside ours: it keeps its books in a database of its own (the
``mail_provider`` alias), so what it did survives the rollback of the consumer that called it,
exactly as a real provider's records would. It deduplicates on the idempotency key and can be
made flaky on purpose (:mod:`demo_project.mailprovider.incidents`).
"""
