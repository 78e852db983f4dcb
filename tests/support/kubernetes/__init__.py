"""Test doubles for the Kubernetes platform (needs the dev dependency `kmock`).

- `emulator.ClusterEmulator`: kmock's `KubernetesEmulator` with the API-server
  behaviour the platform relies on (resource versions, generations, 409s,
  status subresources, label selectors, RBAC denials, injected faults), served
  from a thread (`EmulatorThread`) for the synchronous `kubernetes` client.
- `controllers.FakeControllers`: the Deployment/ReplicaSet and Argo CD
  controllers, advancing status as the real ones do.
- `harness.KubeEnv`: two clusters (emulated, or real with ROLLWAY_KUBE_REAL=1)
  plus recording API clients, for tests of this platform and of workflows on it.

Test code only: the product package never imports it.
"""
