"""Alerts: deciding which alerts a monitor's change of state raises (or which a
maintenance window suppresses), and delivering them off the request path.

- ``models``: channels, alerts, delivery attempts, processed window ends, and
  the decisions (made in the transaction that records the change);
- ``delivery``: one delivery attempt by email or signed webhook;
- ``signing``: the webhook signature scheme;
- ``tasks``: the queued work run by ``manage.py worker``.
"""
