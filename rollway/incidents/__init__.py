"""Incidents out: open an incident in the tools teams use (GitHub issues, PagerDuty).

`spec.py` says where (per pipeline), `sinks.py` speaks each tool's REST API. The
`open_incident` activity (activities/incidents.py) resolves secrets by name on the
worker and calls every configured sink; a rolled-back canary and a failing health
monitor are the two callers.
"""
