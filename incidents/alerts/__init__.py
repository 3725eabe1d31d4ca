"""Alerts, a Django app of their own (label ``alerts``): deciding which alerts a
monitor's change of state raises (or which a maintenance window suppresses),
and delivering them off the request path.

- ``apps``: connects the receivers of the domain's signals (``incidents.signals``);
- ``models``: channels, alerts, delivery attempts, processed window ends, and
  the decisions (made in the transaction that records the change);
- ``delivery``: one delivery attempt by email or signed webhook;
- ``signing``: the webhook signature scheme;
- ``tasks``: the queued work run by ``manage.py worker``.
"""
