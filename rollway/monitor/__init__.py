"""The health monitor: a pipeline's checks on a Temporal Schedule, incidents on failure.

`spec.py` (what to check, how often, what a failure does), `schedule.py` (the
cadence as a Temporal `ScheduleSpec`), `checks.py` (HTTP, Prometheus, certificate
expiry, DNS), `report.py` (payloads). The workflow is `workflows/monitor.py`.
"""
