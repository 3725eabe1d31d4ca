"""The seed document's request bodies and its documented answer, verbatim
(seed/incidents-api.txt), shared by the tests that replay it."""

# The -d bodies of the documentation, verbatim.
CREATE_INCIDENT_BODY = """{
"title": "Scheduled database migration",
"status": "investigating",
"message": "We are performing a planned database migration.",
"monitorIds": ["mon_abc123"]
}"""

UPDATE_INCIDENT_BODY = """{
"status": "resolved",
"message": "The issue has been resolved. All services are operating normally."
}"""

CREATE_MAINTENANCE_BODY = """{
"title": "Planned maintenance",
"status": "monitoring",
"message": "Scheduled maintenance window for infrastructure upgrade.",
"monitorIds": ["mon_abc123", "mon_def456"],
"maintenance": true,
"scheduledStart": "2025-06-01T02:00:00Z",
"scheduledEnd": "2025-06-01T04:00:00Z"
}"""

# The documented "Get Incident" response, verbatim.
DOCUMENTED_INCIDENT = """{
"id": "inc_001",
"title": "API degraded performance",
"status": "identified",
"monitorIds": ["mon_abc123"],
"startedAt": "2025-05-15T08:30:00Z",
"resolvedAt": null,
"updates": [
{
"id": "upd_001",
"status": "investigating",
"message": "We are investigating elevated error rates.",
"createdAt": "2025-05-15T08:30:00Z"
},
{
"id": "upd_002",
"status": "identified",
"message": "Root cause identified as a database connection pool issue.",
"createdAt": "2025-05-15T08:45:00Z"
}
]
}"""

CONTRACT_ORDER = [
    "id",
    "title",
    "status",
    "monitorIds",
    "startedAt",
    "resolvedAt",
    "maintenance",
    "scheduledStart",
    "scheduledEnd",
    "updates",
]
