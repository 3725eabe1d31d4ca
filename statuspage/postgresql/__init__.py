"""Django's PostgreSQL backend, with a connection attempt that failed not
repeated at once (base.py)."""
