"""PromotionWorkflow: one commit from build to 100 % production traffic, or back.

The stages run in the order the pipeline documents list them, one module each:

| stage | module | activities |
|---|---|---|
| build and image | `artifact.py` | `build`, `resolve_image` |
| security-scan gate | `scan.py` | `scan_gate` |
| staging and smoke checks | `staging.py` | `deploy`, `wait_ready`, `smoke_test`, `set_weight`, `promote` (or `argocd_sync`) |
| production gate and approvals | `approval.py`, `release_control.py` | `ensure_release_control`, `load_groups` |
| canary ramp and soak | `canary.py` | `platform_status`, `deploy`, `set_weight`, `analyze` |
| promotion and rollback | `finish.py` | `set_weight`, `promote`, `rollback`, `undo` |
| audit record | `artifact.py` | `archive_audit` |

`workflow.py` holds the workflow class (the stage list and the handlers),
`decisions.py` what the handlers decide, `context.py` the promotion's state and
flags, `calls.py` the activity plumbing, `options.py` timeouts and retries.
Any failure ends the promotion in a known state with traffic on the stable
version; the `state` query tells where it stands at any moment.
"""

from workflows.promotion.workflow import PromotionWorkflow

__all__ = ["PromotionWorkflow"]
