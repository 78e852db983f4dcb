"""Forward-only database migrations with a guard against destructive statements.

- `files`: the migration folder's `.sql` files, in name order, with checksums.
- `guard`: parses pending SQL with sqlglot and refuses destructive statements unless
  the file is the declared contract phase of an expand/contract pair whose expand
  is applied in production.
- `ledger`: the `schema_migrations` table, and applying one file atomically with its row.
- `runner`: one environment's migration run, as the `migrate` activity does it.
- `models`: the activity's payloads (no database URL: only the name of its variable).

Only `models` is imported by workflow code; the rest needs psycopg and sqlglot.
"""
