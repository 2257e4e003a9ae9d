"""`segdb db upgrade|current|check|roles`: the catalog's schema, and roles for a shared catalog."""

from __future__ import annotations

import argparse
from typing import Any

from segdb.cli.arguments import add_archive_option


def add_db(commands: Any) -> None:
    db = commands.add_parser("db", help="catalog schema: upgrade, current, check; roles for a shared catalog")
    db.add_argument("action", choices=list(ACTIONS), help="upgrade the schema, print its current version, check it "
                    "against the code, or print the SQL of roles for a shared PostgreSQL catalog")
    add_archive_option(db)
    db.add_argument("--apply", action="store_true", help="with roles: run the SQL instead of printing it "
                    "(as the schema's owner, with CREATEROLE; running it again changes nothing)")
    db.add_argument("--reader-role", default="segdb_reader", metavar="NAME",
                    help="with roles: the read-only role's name (default: segdb_reader)")
    db.add_argument("--curator-role", default="segdb_curator", metavar="NAME",
                    help="with roles: the curator role's name (default: segdb_curator)")
    db.set_defaults(handler=run_db)


def run_db(args: argparse.Namespace) -> int:
    return ACTIONS[args.action](args)


def run_upgrade(args: argparse.Namespace) -> int:
    from segdb.archive import admin, resolve_target

    before = admin.upgrade_schema(args.archive, storage_root=args.storage_root)
    location = resolve_target(args.archive, args.storage_root).location
    print(f"catalog at {location}: schema {before or 'empty'} -> {admin.SCHEMA_REVISION}")
    return 0


def run_current(args: argparse.Namespace) -> int:
    from segdb.archive import admin

    status = admin.schema_status(args.archive, storage_root=args.storage_root)
    print(f"catalog at {status.location}: schema {status.revision or 'none'} "
          f"(this segdb expects {status.expected_revision})")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from segdb.archive import admin

    status = admin.schema_status(args.archive, storage_root=args.storage_root)
    if status.revision != status.expected_revision:
        problem = admin.upgrade_problem(args.archive, storage_root=args.storage_root)
        behind = f"schema {status.revision or 'none'} is not {status.expected_revision}: run `segdb db upgrade`"
        print(problem or behind)
        return 1
    if status.drift:
        print("the catalog's tables differ from segdb's models:")
        for item in status.drift:
            print(f"  {item}")
        return 1
    print(f"catalog at {status.location}: schema {status.expected_revision}, tables match the models")
    return 0


def run_roles(args: argparse.Namespace) -> int:
    from segdb.archive import admin
    from segdb.curation import roles_sql

    schema = admin.postgres_schema(args.archive, storage_root=args.storage_root)
    sql = roles_sql(schema, reader=args.reader_role, curator_role=args.curator_role)
    if not args.apply:
        print(sql)
        return 0
    admin.run_owner_script(args.archive, sql, storage_root=args.storage_root,
                           what="`segdb db roles --apply` (it creates roles and grants on the schema)")
    print(f"roles {args.reader_role} and {args.curator_role} are set up for schema {schema}")
    return 0


ACTIONS = {"upgrade": run_upgrade, "current": run_current, "check": run_check, "roles": run_roles}
