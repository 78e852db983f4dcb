"""Parse SARIF 2.1.0 from any scanner (Bandit, Semgrep, Trivy, CodeQL, gitleaks, ...).

Severity: `properties.security-severity` (a CVSS score, on the result or its rule)
when present, banded >=9 critical, >=7 high, >=4 medium, else low; otherwise the
SARIF `level` (result, then the rule's `defaultConfiguration`, then SARIF's default
`warning`): error -> critical, warning -> medium, note -> low, none -> info.

Secrets: a finding is a secret when the tool is gitleaks or TruffleHog, or a tag
on the result or rule contains "secret". Snippets are never copied, and quoted
literals and long tokens are redacted from the messages of secret and
hard-coded-credential findings, so no secret value leaves this module.

Malformed input raises `SarifError` naming the source and the JSON path, e.g.
`bandit.sarif: runs[0].results[3].level: 'fatal' is not a SARIF level (...)`.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

from rollway.scan.findings import Finding, Severity

SARIF_LEVELS: dict[str, Severity] = {
    "error": "critical",
    "warning": "medium",
    "note": "low",
    "none": "info",
}

SECRET_TOOLS = ("gitleaks", "trufflehog")

# CWE ids of "hard-coded credential" rules (Bandit B105-B107, Semgrep, CodeQL):
# their messages may quote the credential, so they are redacted like secrets.
_CREDENTIAL_CWES = ("cwe-259", "cwe-321", "cwe-798")

_MAX_MESSAGE = 2000

_PKG_PATTERNS = {
    "package": re.compile(r"^[ \t]*Package:[ \t]*(.*?)[ \t]*$", re.MULTILINE),
    "installed_version": re.compile(r"^[ \t]*Installed Version:[ \t]*(.*?)[ \t]*$", re.MULTILINE),
    "fixed_version": re.compile(r"^[ \t]*Fixed Version:[ \t]*(.*?)[ \t]*$", re.MULTILINE),
}
_PKG_PROPERTY_KEYS = {
    "package": ("package", "packageName", "package_name", "pkgName", "PkgName"),
    "installed_version": (
        "installedVersion",
        "installed_version",
        "packageVersion",
        "package_version",
        "InstalledVersion",
    ),
    "fixed_version": ("fixedVersion", "fixed_version", "fixVersion", "FixedVersion"),
}
_QUOTED = re.compile(r"""(['"`])(?:(?!\1).){1,500}\1""")
_TOKEN_CHARS = r"[A-Za-z0-9+/=_\-]"
_TOKEN = re.compile(rf"\b(?={_TOKEN_CHARS}*\d)(?={_TOKEN_CHARS}*[A-Za-z]){_TOKEN_CHARS}{{20,}}")


class SarifError(ValueError):
    """The SARIF document is malformed; the message names the source and JSON path."""

    def __init__(self, source: str, path: str, problem: str) -> None:
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {problem}")
        self.source = source
        self.path = path
        self.problem = problem


def parse_sarif_text(text: str | bytes, source: str) -> list[Finding]:
    """Parse a SARIF document given as JSON text; `source` names it in errors and findings."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SarifError(source, "", f"not valid JSON ({exc})") from exc
    return parse_sarif(doc, source)


def parse_sarif(doc: Any, source: str) -> list[Finding]:
    """Turn a decoded SARIF 2.1.0 document into findings (all runs, all results)."""
    if not isinstance(doc, dict):
        raise SarifError(source, "", f"a SARIF log must be a JSON object, not {_kind(doc)}")
    version = doc.get("version")
    if version != "2.1.0":
        raise SarifError(source, "version", f"{version!r} is not supported; expected '2.1.0'")
    runs = doc.get("runs")
    if not isinstance(runs, list):
        raise SarifError(source, "runs", f"must be a list, not {_kind(runs)}")
    findings: list[Finding] = []
    for i, run in enumerate(runs):
        findings.extend(_Run(source, f"runs[{i}]", run).findings())
    return findings


class _Run:
    def __init__(self, source: str, path: str, run: Any) -> None:
        self.source = source
        self.path = path
        if not isinstance(run, dict):
            self._fail(path, f"must be an object, not {_kind(run)}")
        self.run: dict[str, Any] = run
        tool = _obj(run.get("tool"))
        driver = _obj(tool.get("driver"))
        name = driver.get("name")
        if not isinstance(name, str) or not name:
            self._fail(f"{path}.tool.driver.name", "missing; every SARIF run names its tool")
        self.tool: str = name
        self.driver = driver
        extensions = tool.get("extensions") or []
        self.extensions: list[dict[str, Any]] = [_obj(e) for e in _list(extensions)]
        self.secret_tool = any(t in name.lower().replace(" ", "") for t in SECRET_TOOLS)

    def _fail(self, path: str, problem: str) -> NoReturn:
        raise SarifError(self.source, path, problem)

    def findings(self) -> list[Finding]:
        results = self.run.get("results")
        if results is None:
            return []
        if not isinstance(results, list):
            self._fail(f"{self.path}.results", f"must be a list, not {_kind(results)}")
        return [self._finding(f"{self.path}.results[{i}]", r) for i, r in enumerate(results)]

    # -- one result ---------------------------------------------------------------

    def _finding(self, path: str, result: Any) -> Finding:
        if not isinstance(result, dict):
            self._fail(path, f"must be an object, not {_kind(result)}")
        rule = self._rule(path, result)
        rule_id = result.get("ruleId")
        ref = result.get("rule")
        if not isinstance(rule_id, str) or not rule_id:
            rule_id = (ref.get("id") if isinstance(ref, dict) else None) or rule.get("id")
        if not isinstance(rule_id, str) or not rule_id:
            self._fail(path, "has no ruleId and no rule reference")
        props = _obj(result.get("properties"))
        rule_props = _obj(rule.get("properties"))
        tags = [str(t).lower() for t in _list(props.get("tags")) + _list(rule_props.get("tags"))]
        is_secret = self.secret_tool or any("secret" in t for t in tags)
        redact = is_secret or any(cwe in t for t in tags for cwe in _CREDENTIAL_CWES)

        title = _text(rule.get("shortDescription")) or str(rule.get("name") or "") or rule_id
        message = self._message(path, result, rule)
        help_text = _text(rule.get("help")) or _text(rule.get("fullDescription"))
        pkg = _package_info(props, rule_props, message, help_text)
        if redact:
            title, message = _redact(title), _redact(message)
        return Finding(
            id=rule_id,
            tool=self.tool,
            severity=self._severity(path, result, rule),
            title=_first_line(title),
            message=message[:_MAX_MESSAGE],
            location=self._location(path, result),
            package=pkg["package"],
            installed_version=pkg["installed_version"],
            fixed_version=pkg["fixed_version"],
            is_secret=is_secret,
            source=self.source,
        )

    def _rule(self, path: str, result: dict[str, Any]) -> dict[str, Any]:
        ref = result.get("rule")
        ref = ref if isinstance(ref, dict) else {}
        component = self.driver
        comp_ref = ref.get("toolComponent")
        if isinstance(comp_ref, dict) and isinstance(comp_ref.get("index"), int):
            ci = comp_ref["index"]
            if not 0 <= ci < len(self.extensions):
                self._fail(
                    f"{path}.rule.toolComponent.index",
                    f"{ci} is out of range (run has {len(self.extensions)} extensions)",
                )
            component = self.extensions[ci]
        rules = [_obj(r) for r in _list(component.get("rules"))]
        index = result.get("ruleIndex", ref.get("index"))
        if isinstance(index, int) and index >= 0:
            if index >= len(rules):
                field = "ruleIndex" if "ruleIndex" in result else "rule.index"
                self._fail(f"{path}.{field}", f"{index} is out of range ({len(rules)} rules)")
            return rules[index]
        rule_id = result.get("ruleId") or ref.get("id")
        if isinstance(rule_id, str):
            for comp in [self.driver, *self.extensions]:
                for r in _list(comp.get("rules")):
                    if isinstance(r, dict) and r.get("id") == rule_id:
                        return r
        return {}

    def _severity(self, path: str, result: dict[str, Any], rule: dict[str, Any]) -> Severity:
        for where, props in (
            (f"{path}.properties", _obj(result.get("properties"))),
            (f"{path} rule.properties", _obj(rule.get("properties"))),
        ):
            raw = props.get("security-severity")
            if raw is None or raw == "":
                continue
            try:
                score = float(raw)
            except (TypeError, ValueError):
                self._fail(f"{where}.security-severity", f"{raw!r} is not a CVSS score")
            return cvss_severity(score)
        level = result.get("level")
        level_path = f"{path}.level"
        if level is None:
            level = _obj(rule.get("defaultConfiguration")).get("level")
            level_path = f"{path} rule.defaultConfiguration.level"
        if level is None:
            return SARIF_LEVELS["warning"]
        if level not in SARIF_LEVELS:
            self._fail(
                level_path,
                f"{level!r} is not a SARIF level ({', '.join(SARIF_LEVELS)})",
            )
        return SARIF_LEVELS[level]

    def _message(self, path: str, result: dict[str, Any], rule: dict[str, Any]) -> str:
        msg = result.get("message")
        if msg is None:
            return ""
        if not isinstance(msg, dict):
            self._fail(f"{path}.message", f"must be an object, not {_kind(msg)}")
        text = msg.get("text") or msg.get("markdown")
        if not text and isinstance(msg.get("id"), str):
            text = _text(_obj(rule.get("messageStrings")).get(msg["id"]))
        text = str(text or "")
        for i, arg in enumerate(_list(msg.get("arguments"))):
            text = text.replace(f"{{{i}}}", str(arg))
        return text

    def _location(self, path: str, result: dict[str, Any]) -> str | None:
        for loc in _list(result.get("locations")):
            loc = _obj(loc)
            phys = _obj(loc.get("physicalLocation"))
            uri = _obj(phys.get("artifactLocation")).get("uri")
            if isinstance(uri, str) and uri:
                uri = uri.removeprefix("file://")
                line = _obj(phys.get("region")).get("startLine")
                return f"{uri}:{line}" if isinstance(line, int) else uri
            for logical in _list(loc.get("logicalLocations")):
                name = _obj(logical).get("fullyQualifiedName") or _obj(logical).get("name")
                if isinstance(name, str) and name:
                    return name
        return None


def cvss_severity(score: float) -> Severity:
    """CVSS score to severity band: >=9 critical, >=7 high, >=4 medium, else low."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low"


def _package_info(
    props: dict[str, Any], rule_props: dict[str, Any], message: str, help_text: str
) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for field, keys in _PKG_PROPERTY_KEYS.items():
        value: str | None = None
        for p in (props, rule_props):
            for k in keys:
                if isinstance(p.get(k), str | int | float) and str(p[k]).strip():
                    value = str(p[k]).strip()
                    break
            if value:
                break
        if value is None:
            for text in (message, help_text):
                m = _PKG_PATTERNS[field].search(text)
                if m and m.group(1):
                    value = m.group(1)
                    break
        out[field] = value
    return out


def _redact(text: str) -> str:
    text = _QUOTED.sub(lambda m: f"{m.group(1)}***{m.group(1)}", text)
    return _TOKEN.sub("***", text)


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:300]


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("text") or value.get("markdown") or "")
    return ""


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)
