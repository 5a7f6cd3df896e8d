"""``manage.py demo``: the seeds' scenarios end to end, printed as a timeline, with a tally from the database."""
