"""Local stand-ins for the systems taskline reads: a real Celery + Flower stack and a SQLFlow stand-in."""
