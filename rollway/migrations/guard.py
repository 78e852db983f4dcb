"""The migration guard: destructive statements need a contract phase whose expand is live.

Pending SQL is parsed with sqlglot (PostgreSQL dialect), never matched with regular
expressions. Destructive, because the version still serving traffic may rely on
what they remove or change: `DROP TABLE` (and schemas, views, types, sequences),
`ALTER TABLE … DROP COLUMN`, `ALTER COLUMN … TYPE`, renames of tables and columns,
`TRUNCATE`. A statement sqlglot cannot parse into a tree (it falls back to an
opaque command) is judged on its tokens: one that drops, renames, truncates or
changes a column type is destructive, and a `DO` block (code the guard cannot
read) is refused as well, since failing open would let anything through.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Tokenizer

from rollway.migrations.files import MigrationFile
from rollway.migrations.models import Refusal
from rollway.spec import ExpandContract

DIALECT = "postgres"
DROPPED_OBJECTS = {"TABLE", "SCHEMA", "DATABASE", "VIEW", "MATERIALIZED VIEW", "TYPE", "SEQUENCE"}
RENAMED_OBJECTS = {"TABLE", "VIEW", "MATERIALIZED VIEW"}
MAX_STATEMENT = 200

EXPAND_CONTRACT_FIX = (
    "write it as an expand/contract pair: release an additive `expand` migration first "
    "(add the new column or table, backfill, deploy code that handles both schemas), "
    "then declare this file its `contract` in migrations.pairs "
    "({expand: <expand file>, contract: %s}) and promote it in a later release"
)


@dataclass(frozen=True)
class Finding:
    """One destructive statement: what it does, and its SQL (shortened)."""

    problem: str
    statement: str


def _short(sql: str) -> str:
    one_line = " ".join(sql.split())
    return one_line if len(one_line) <= MAX_STATEMENT else one_line[: MAX_STATEMENT - 1] + "…"


def _kind(node: exp.Expression) -> str:
    return str(node.args.get("kind") or "").upper()


def _alter_findings(alter: exp.Alter) -> Iterator[str]:
    table = alter.this.sql(DIALECT) if alter.this is not None else "?"
    for action in alter.args.get("actions") or []:
        if isinstance(action, exp.Drop) and _kind(action) == "COLUMN":
            yield f"DROP COLUMN on {table}"
        elif isinstance(action, exp.AlterColumn) and action.args.get("dtype") is not None:
            yield f"ALTER COLUMN {action.this.sql(DIALECT)} … TYPE on {table}"
        elif isinstance(action, exp.RenameColumn):
            yield f"RENAME COLUMN on {table}"
        elif isinstance(action, exp.AlterRename) and _kind(alter) in RENAMED_OBJECTS:
            yield f"RENAME of {_kind(alter).lower()} {table}"


def _command_findings(command: exp.Command, text: str) -> Iterator[str]:
    """An opaque command, judged on sqlglot's tokens of its text (no regular expressions)."""
    head = str(command.this).upper()
    if head == "DO":
        yield "a DO block (procedural code the guard cannot read)"
        return
    try:
        words = [t.text.upper() for t in Tokenizer(dialect=DIALECT).tokenize(text)]
    except TokenError:
        yield "a statement the guard cannot read"
        return
    for destructive in ("DROP", "RENAME", "TRUNCATE"):
        if destructive in words:
            yield f"{head} … {destructive} (a statement sqlglot reads only as a command)"
            return
    if head == "ALTER" and "COLUMN" in words and "TYPE" in words[words.index("COLUMN") :]:
        yield "ALTER COLUMN … TYPE (a statement sqlglot reads only as a command)"


def findings(sql: str) -> list[Finding]:
    """The destructive statements of one migration's SQL (PostgreSQL)."""
    try:
        statements = sqlglot.parse(sql, read=DIALECT)
    except (ParseError, TokenError) as e:
        return [Finding(f"SQL the guard cannot parse ({str(e).splitlines()[0]})", _short(sql))]
    found: list[Finding] = []
    for statement in statements:
        if statement is None:
            continue
        text = statement.sql(DIALECT)
        problems: Iterable[str] = ()
        if isinstance(statement, exp.Drop) and _kind(statement) in DROPPED_OBJECTS:
            problems = [f"DROP {_kind(statement)}"]
        elif isinstance(statement, exp.Alter):
            problems = _alter_findings(statement)
        elif isinstance(statement, exp.TruncateTable):
            problems = ["TRUNCATE"]
        elif isinstance(statement, exp.Command):
            problems = _command_findings(statement, text)
        found.extend(Finding(problem, _short(text)) for problem in problems)
    return found


def judge(
    pending: list[MigrationFile],
    pairs: list[ExpandContract],
    production_applied: set[str],
    production: str,
) -> list[Refusal]:
    """Refusals for every destructive statement not allowed as a contract phase.

    A destructive statement is allowed only in a file declared `contract` in `pairs`
    whose `expand` is in `production_applied` (production's ledger as it was before
    this run): code that handles both schemas is then already live everywhere.
    """
    contract_of = {p.contract: p.expand for p in pairs}
    refusals = []
    for migration in pending:
        expand = contract_of.get(migration.name)
        if expand is not None and expand in production_applied:
            continue
        for finding in findings(migration.sql):
            if expand is None:
                fix = EXPAND_CONTRACT_FIX % migration.name
            else:
                fix = (
                    f"it is the contract of '{expand}', which is not applied in {production} "
                    f"yet: release '{expand}' first (with code that handles both schemas), "
                    "then promote this contract in a later release"
                )
            refusals.append(
                Refusal(
                    file=migration.name,
                    statement=finding.statement,
                    problem=f"destructive statement ({finding.problem})",
                    fix=fix,
                )
            )
    return refusals
