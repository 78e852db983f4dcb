"""Test support: fixtures, fakes, emulators and helpers shared by the test modules.

Test modules import from here (and `tests.histories.record`), never from each
other or from a conftest; tests/test_layout.py enforces it.

- `binaries`: the repository root; `require_binary` (a missing binary fails loudly).
- `temporal_servers` (plugin): `ts_env`, a time-skipping server per test; `dev_env`,
  one dev server per session; bounded shutdown.
- `timeouts` (plugin): an asyncio timeout around each async test; pytest-timeout
  only as the backstop.
- `reaper`: registers what a run starts; a watchdog stops it however the run ends.
- `fake_world`: `FakeWorld`, same-named test activities over an in-memory platform.
- `promotions`: a small pipeline, the `state` query, `wait_until` / `wait_stage`.
- `release_control`: release-control runs and `skip_to` a New York local time.
- `cli`: the CLI runner and its fixtures on the dev server (tests/cli/conftest.py).
- `local_stack`: `rollway up` in a temporary home, its fixtures
  (tests/integration/conftest.py), promotions and load on it.
- `aws/moto`: seeding moto where it does not simulate AWS; `aws/fixtures` (plugin):
  the moto server, clients, a worker's AWS environment.
- `metrics/prometheus_fake`, `metrics/judge_inputs`: canned Prometheus answers and
  analysis inputs for the judge tests.
- `kubernetes/`: the kmock cluster emulator, fake controllers and the `KubeEnv` harness.
- `policy_sandbox`: a workflow running the policy functions in the workflow sandbox.
- `kayenta_mw_data`: reference data for the Mann-Whitney / Kayenta judge tests.
"""
