"""Security building blocks: signed decisions, payload encryption, redaction, input checks.

Each module is self-contained library code with a small API; the workflows, activities
and CLI wire them in.
"""

# Modules a workflow worker must pass through its sandbox to verify decisions there:
# `cryptography` is a Rust extension the sandbox cannot re-import, and it imports
# submodules lazily during verification. Use
# `SandboxRestrictions.default.with_passthrough_modules(*SANDBOX_PASSTHROUGH)`.
SANDBOX_PASSTHROUGH = ("cryptography", "sshsig")
