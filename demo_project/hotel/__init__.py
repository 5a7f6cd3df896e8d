"""Hotel booking (seed 000), three services in one app: the front desk takes a reservation at once
(pending), payments authorise the card, the hotel allocates a room; a business failure on the way
comes back as a fault message and the front desk compensates."""
