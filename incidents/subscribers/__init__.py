"""Visitor subscriptions: e-mail (double opt-in) and webhook subscribers,
the outbox of events they are told about, the worker's fan-out and delivery,
and the pages reached from every mail (confirm, manage, one-click unsubscribe).

- ``models``: subscribers, events, deliveries and their attempts;
- ``outbox``: events written in the write's transaction, and by the clock;
- ``fanout``: the worker's fan-out and batched sending;
- ``mail``: what a mail or a webhook says;
- ``tokens``: the signed links;
- ``views``/``forms``/``api``/``admin``: the faces.
"""
