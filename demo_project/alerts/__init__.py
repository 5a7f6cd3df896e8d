"""Price alerts over a flaky mail service (seed 003): retries with exponential back-off and jitter,
a circuit breaker through an outage, dead messages replayed after the provider's fix, and alerts
that expire when they are no longer worth sending."""
