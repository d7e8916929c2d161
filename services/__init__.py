"""Domain operations on a connection, one module per domain.

Each function takes the caller's connection (or engine, for batches that give every item its
own transaction), loads the facts the rules in ``grantflow.states`` read, asks them, and
writes through ``grantflow.db``. Services never commit on their own and never decide a rule
themselves; a state changes only through ``grantflow.db.apply``.
"""
