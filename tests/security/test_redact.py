"""Secrets stay out: redaction of messages and log tails, allow-listed child environments."""

from __future__ import annotations

import pytest

from rollway.security.redact import MASK, Redactor, child_env, is_secret_name, redact

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBkZWFkYmVlZmRlYWRiZWVmZGVhZGJlZWZkZWFkYmVlZgAAAJgAAAAAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----"
)

ENV = {
    "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "GITHUB_TOKEN": "tok-1234567890",
    "DB_PASSWORD": "hunter2hunter2",
    "STRIPE_API_KEY": "sk_live_abcdef",
    "ROLLWAY_SECRET_VARS": "DATABASE_URL, SENTRY_*",
    "DATABASE_URL": "postgres://app:pw@db/app",
    "SENTRY_DSN": "https://abc@sentry.example/1",
    "FEATURE_FLAG": "true",
    "KEYBOARD_LAYOUT": "no",  # secret-looking name, trivial value: left alone
    "HOME": "/home/worker",
}


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET),
        ("uploading with AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        (f"key:\n{PEM}\nafter", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"),
        (PEM.rsplit("\n", 2)[0], "QyNTUxOQAAACBkZWFkYmVlZmRlYWRiZWVm"),  # tail cut before END
        ("curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc'", "eyJhbGciOiJIUzI1NiJ9"),
        ("connect password=s3cr3t-pa55 host=db", "s3cr3t-pa55"),
        ('{"api_key": "k-998877665544"}', "k-998877665544"),
        ("slack xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij"),
        ("gh ghp_" + "a" * 36, "ghp_" + "a" * 36),
        ("git clone https://bot:glpat-XYZ123@git.example/repo", "glpat-XYZ123"),
    ],
)
def test_credential_patterns_are_redacted(text: str, secret: str) -> None:
    out = redact(text, environ={})
    assert secret not in out
    assert MASK in out


@pytest.mark.parametrize(
    "value",
    [AWS_SECRET, "tok-1234567890", "hunter2hunter2", "sk_live_abcdef", "postgres://app:pw@db/app"],
)
def test_values_of_secret_variables_are_redacted_anywhere(value: str) -> None:
    text = f"error: could not log in with {value} (tried twice: {value})"
    out = redact(text, environ=ENV)
    assert value not in out and out.count(MASK) >= 2


def test_configured_names_and_trivial_values() -> None:
    assert is_secret_name("SENTRY_DSN", ["SENTRY_*"])
    assert not is_secret_name("SENTRY_DSN")
    redactor = Redactor.from_env(ENV)
    assert "https://abc@sentry.example/1" not in redactor("dsn https://abc@sentry.example/1")
    assert redactor("FEATURE_FLAG is true, layout no") == "FEATURE_FLAG is true, layout no"


def test_plain_text_is_untouched() -> None:
    text = "building demo v2 (commit 4f2a9c1)\nscan report: /tmp/a/bandit.sarif"
    assert redact(text, environ=ENV) == text


def test_child_env_is_an_allow_list() -> None:
    env = child_env(["STRIPE_API_KEY", "SENTRY_*"], environ=ENV | {"PATH": "/usr/bin"})
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/worker",
        "STRIPE_API_KEY": "sk_live_abcdef",
        "SENTRY_DSN": "https://abc@sentry.example/1",
    }
    assert "AWS_SECRET_ACCESS_KEY" not in child_env(environ=ENV)
