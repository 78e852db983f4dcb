"""Notifications: one small provider interface, Slack and a JSON webhook behind it.

- `spec.py`: the pipeline's `notifications:` section (targets, events, secret names).
- `events.py`: the `notify` activity's payloads (workflow-safe, no client library).
- `base.py`: the `Provider` protocol, `NotifyError`, secrets read by name.
- `slack.py` (slack-sdk), `slack_blocks.py` (Block Kit), `webhook.py` (httpx).
- `providers.py`: picks the provider for a target.

Submodules load on use: importing this package loads neither slack-sdk nor httpx.
"""
