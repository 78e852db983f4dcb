"""Parallel checks (test tiers) and the gate on their reports.

- `models`: the `run_check` activity's payloads and the gate's verdict.
- `gate`: pure judgement of every suite's result against the coverage thresholds
  (imported by workflow code: no I/O).
- `reports`: JUnit XML (junitparser) and Cobertura coverage, parsed safely.
- `runner`: one suite: its command with the build's hardening, or CI's reports.
"""
