"""What the domain announces, for the sub-apps that react to it.

Sent inside the transaction of the write that causes it, so a receiver's own
writes (an outbox row) commit or roll back with the change itself. Receivers
must be quick and must not reach the network.
"""

from django.dispatch import Signal

# An incident or maintenance window was written. Arguments:
#   incident        the Incident as the write left it (before deletion, for "deleted")
#   action          "created", "updated" (a timeline entry appended, or a
#                   window's schedule moved) or "deleted"
#   update          the IncidentUpdate appended, or None
#   previous_status the status before the write (None when created)
#   schedule_changed  a window's start or end moved
#   notify          False when the operator asked for nobody to be told
#   snapshot        the API object (``to_dict()``) as the write left it
#                   (as it was, for "deleted"): receivers need not read it
incident_changed = Signal()

CREATED = "created"
UPDATED = "updated"
DELETED = "deleted"

# A monitor's status moved, in the transaction that records it. Arguments:
#   transition      the MonitorStatusChange (``monitor``, ``from_status``,
#                   ``to_status``, ``created_at``)
# The alerts app decides the transition's alerts here, so a committed
# transition always has them and a rolled-back one has none.
monitor_transition = Signal()

# The same, once committed (``transaction.on_commit``): for listeners that
# need not write with the change. Arguments: ``transition``.
monitor_status_changed = Signal()
