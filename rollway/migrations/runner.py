"""One environment's migration run: read the ledgers, guard, apply, run the command.

Nothing is applied unless the guard accepts every pending statement: a refused run
leaves the schema exactly as it was. The database URLs come from the worker's
environment (the spec names the variables) and never leave this module: errors
and the command's output are redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from rollway.migrations import guard, ledger
from rollway.migrations.files import MigrationFile, discover
from rollway.migrations.models import MigrateInput, MigrateResult, Refusal
from rollway.security.redact import Redactor, child_env, secret_values

CONNECT_TIMEOUT_S = 10


class MigrationError(Exception):
    """The run could not proceed (missing variable, unreachable database, failed SQL).

    `retryable`: whether trying again may help (an unreachable database, a lock
    wait that timed out), or a person must change something first.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def database_url(inp: MigrateInput, environment: str) -> str:
    """The URL from the worker variable the spec names for `environment`."""
    var = inp.migrations.databases.get(environment)
    if var is None:
        raise MigrationError(
            f"migrations.databases names no variable for '{environment}': add "
            f"{{{environment}: <VARIABLE>}} and set that variable on the worker"
        )
    url = os.environ.get(var, "")
    if not url:
        raise MigrationError(
            f"the worker's environment variable {var} (migrations.databases.{environment}) "
            "is not set: set it to the database URL on every worker"
        )
    return url


async def _connect(url: str, *, read_only: bool = False) -> AsyncConnection[TupleRow]:
    options = "-c default_transaction_read_only=on" if read_only else None
    conn: AsyncConnection[TupleRow] = await psycopg.AsyncConnection.connect(
        url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, options=options
    )
    return conn


async def _production_applied(inp: MigrateInput, same: dict[str, str]) -> set[str]:
    if inp.environment == inp.production:
        return set(same)
    conn = await _connect(database_url(inp, inp.production), read_only=True)
    async with conn:
        return set(await ledger.applied(conn, inp.migrations.table))


async def _command(
    argv: list[str], *, cwd: Path, url: str, timeout_s: float, clean: Redactor
) -> tuple[int, str, str]:
    """Run `argv` with DATABASE_URL set; (exit code, stdout, redacted output tail)."""
    env = child_env() | {"DATABASE_URL": url}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as e:
        raise MigrationError(f"could not run {argv[0]!r} in {cwd}: {clean(str(e))}") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        await proc.wait()
        raise
    stdout = out.decode(errors="replace")
    tail = "\n".join(clean(stdout + err.decode(errors="replace")).splitlines()[-30:])
    return proc.returncode or 0, stdout, tail


async def run(inp: MigrateInput, progress: Callable[[str], None]) -> MigrateResult:
    """Guard and apply `inp.environment`'s pending migrations; see the module docstring."""
    spec = inp.migrations
    base = Path(inp.pipeline_dir)
    url = database_url(inp, inp.environment)
    clean = Redactor([url, *secret_values(), *_password(url)])
    files = discover(base / spec.folder) if spec.folder is not None else []
    result = MigrateResult(environment=inp.environment)
    try:
        conn = await _connect(url)
    except psycopg.Error as e:
        raise MigrationError(
            f"cannot reach {inp.environment}'s database: {clean(str(e))}", retryable=True
        ) from None
    async with conn:
        try:
            await ledger.lock(conn, spec.table)
            done = await ledger.applied(conn, spec.table)
            result.refusals = _edited(files, done)
            pending = [f for f in files if f.name not in done]
            result.already_applied = len(files) - len(pending)
            production = await _production_applied(inp, done)
            guarded = list(pending)
            if spec.command is not None and spec.preview:
                code, preview, tail = await _command(
                    spec.preview,
                    cwd=base,
                    url=url,
                    timeout_s=spec.timeout.total_seconds(),
                    clean=clean,
                )
                if code != 0:
                    raise MigrationError(f"migrations.preview exited {code}:\n{tail}")
                guarded.append(MigrationFile(name="command preview", sql=preview, checksum=""))
            result.refusals += guard.judge(guarded, spec.pairs, production, inp.production)
            if result.refusals:
                return result
            await ledger.ensure(conn, spec.table)
            for migration in pending:
                progress(f"applying {migration.name}")
                try:
                    await ledger.apply(
                        conn,
                        migration,
                        table=spec.table,
                        lock_timeout=spec.lock_timeout,
                        applied_by=inp.applied_by,
                    )
                except psycopg.Error as e:
                    raise MigrationError(
                        f"{migration.name} failed and was rolled back (nothing of it is "
                        f"applied; {len(result.applied)} earlier file(s) are): {clean(str(e))}",
                        retryable=isinstance(e, psycopg.OperationalError),  # e.g. lock_timeout
                    ) from None
                result.applied.append(migration.name)
        except psycopg.Error as e:
            raise MigrationError(
                f"{inp.environment}'s database: {clean(str(e))}",
                retryable=isinstance(e, psycopg.OperationalError),
            ) from None
        if spec.command is not None:
            progress(f"running {spec.command[0]}")
            code, _, tail = await _command(
                spec.command, cwd=base, url=url, timeout_s=spec.timeout.total_seconds(), clean=clean
            )
            result.command_tail = tail
            if code != 0:
                raise MigrationError(f"migrations.command exited {code}:\n{tail}")
            result.command_ran = True
    return result


def _edited(files: list[MigrationFile], done: dict[str, str]) -> list[Refusal]:
    """Applied files whose content changed: forward-only means never editing history."""
    return [
        Refusal(
            file=f.name,
            statement="(the whole file)",
            problem="edited after it was applied (its checksum differs from the ledger's)",
            fix="restore the applied text and write the change as a new migration file",
        )
        for f in files
        if f.name in done and done[f.name] != f.checksum
    ]


def _password(url: str) -> list[str]:
    """The password inside a URL or key=value DSN, so no message can carry it."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return []
    password = info.get("password")
    return [str(password)] if password else []
