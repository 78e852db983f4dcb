"""Secrets stay out: redact log tails and messages; give child processes a minimal environment.

`redact(text)` replaces, with `[REDACTED]`, the values of the worker's secret
variables (names containing SECRET, TOKEN, PASSWORD, PASSWD, KEY, CREDENTIAL,
the AWS credential variables, and the names listed in `$ROLLWAY_SECRET_VARS`)
and well-known credential shapes (AWS access key ids, PEM private-key blocks,
bearer tokens, `password=…`-style assignments, credentials in URLs, Slack and
GitHub tokens). Apply it to anything that leaves an activity: error messages,
heartbeat details, log tails, results.

`child_env(allowed)` is the environment a build or service process gets: the
basics (PATH, HOME, LANG, TZ…) plus the names it is allowed, never the worker's
whole environment (its AWS role, kubeconfig, Temporal API key…).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

MASK = "[REDACTED]"
EXTRA_NAMES_ENV = "ROLLWAY_SECRET_VARS"
SECRET_NAME_RE = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|KEY|CREDENTIAL|PRIVATE", re.IGNORECASE)
AWS_CREDENTIAL_NAMES = frozenset(
    {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"}
)
# Values this short or this common are not secrets worth mangling every log line for.
MIN_SECRET_LENGTH = 4
NOT_SECRETS = frozenset({"true", "false", "none", "null", "yes", "no", "1", "0"})

BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME")

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM private keys, also when the log tail cut off the END line.
    (
        re.compile(
            r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----.*?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        r"-----BEGIN \1PRIVATE KEY-----" + MASK + r"-----END \1PRIVATE KEY-----",
    ),
    (re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"), MASK),
    (re.compile(r"\bxox[abeoprs]-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"\bxapp-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"), MASK),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}"), MASK),
    (
        re.compile(r"\b(Bearer|Basic|token)(\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE),
        r"\1\2" + MASK,
    ),
    # user:password@host in URLs
    (
        re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+(@)", re.IGNORECASE),
        r"\1" + MASK + r"\2",
    ),
    # NAME=value, NAME: value, "name": "value" for secret-looking names
    (
        re.compile(
            r"""(?ix)
            (\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)[\w.-]*
             ["']?\s*[:=]\s*["']?)
            ([^\s"'&,;]+)
            """
        ),
        r"\1" + MASK,
    ),
)


def is_secret_name(name: str, extra: Iterable[str] = ()) -> bool:
    """Whether an environment variable's value must never appear in output."""
    if name in AWS_CREDENTIAL_NAMES or SECRET_NAME_RE.search(name):
        return True
    return any(fnmatchcase(name, pattern) for pattern in extra)


def secret_values(
    environ: Mapping[str, str] | None = None, extra_names: Iterable[str] = ()
) -> list[str]:
    """Values of the secret variables in `environ` (default: the worker's), longest first."""
    env = os.environ if environ is None else environ
    configured = [n.strip() for n in env.get(EXTRA_NAMES_ENV, "").split(",") if n.strip()]
    names = [*configured, *extra_names]
    values = {
        v
        for k, v in env.items()
        if is_secret_name(k, names) and len(v) >= MIN_SECRET_LENGTH and v.lower() not in NOT_SECRETS
    }
    return sorted(values, key=len, reverse=True)


class Redactor:
    """Replaces known secret values and credential patterns with `[REDACTED]`."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        ordered = sorted({v for v in values if v}, key=len, reverse=True)
        self._values = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, extra_names: Iterable[str] = ()
    ) -> Redactor:
        return cls(secret_values(environ, extra_names))

    def __call__(self, text: str) -> str:
        if self._values is not None:
            text = self._values.sub(MASK, text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` without the worker's secret values and credential-shaped strings."""
    return Redactor.from_env(environ)(text)


def child_env(
    allowed: Iterable[str] = (), environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The basics (`BASE_ENV`) plus the `allowed` names (globs like `PYTHON*` too)
    that are set in `environ` (default: the worker's environment)."""
    env = os.environ if environ is None else environ
    patterns = [*BASE_ENV, *allowed]
    return {k: v for k, v in env.items() if any(fnmatchcase(k, p) for p in patterns)}
