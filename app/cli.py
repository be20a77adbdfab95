"""``contentgraph`` command line: serve, migrate, createuser, fsck, gc, storage copy, schema.

Exit codes: 0 done; 1 the command ran and found a problem (fsck: a fault; createuser: the name
or password was refused); 2 refused to run - invalid configuration or arguments, or a start-up
check failed (database, schema, Redis, files root, connection budget), said in one line on
standard error (LOG_LEVEL=DEBUG adds the traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import logging.config
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from app.config import ConfigurationError, LogFormat, LogLevel, Settings, load_settings
from app.observability.logs import logging_config
from app.observability.multiprocess import forget_inherited, metrics_directory

REFUSED = 2


def _logging_config(settings: Settings) -> dict[str, Any]:
    return logging_config(settings.log_level.value, settings.log_format is LogFormat.JSON)


def _configure_logging(settings: Settings) -> None:
    """The format of every command's logs - and of the server's workers (see _serve)."""
    logging.config.dictConfig(_logging_config(settings))


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from app import preflight

    async def run() -> None:
        await preflight.before_migrating(settings)
        down = args.revision.startswith("-") or args.downgrade
        await preflight.migrate(settings, args.revision, down=down)

    asyncio.run(run())
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    forget_inherited()  # before prometheus_client is imported (by preflight's imports)
    import uvicorn

    from app import preflight

    if args.workers < 1:
        raise ConfigurationError("--workers must be at least 1")
    if args.workers > 1 and not settings.redis_url:
        raise ConfigurationError(
            "--workers > 1 needs REDIS_URL: the in-process cache and pub/sub serve one process"
        )
    settings.secret()  # create (embedded) or require (production) the key before serving
    # Every dependency is tried before "serving" is announced and before uvicorn starts: a
    # failure is one line naming the cause and the fix, not a traceback from the lifespan.
    asyncio.run(
        preflight.before_serving(settings, workers=args.workers, migrate_first=args.migrate)
    )
    host = args.host or settings.host
    port = args.port or settings.port
    logging.getLogger("contentgraph").info(
        "serving GraphQL (and GraphiQL in a browser) at http://%s:%s/graphql", host, port
    )
    # Several workers keep their metrics in a directory of this start's (summed by /metrics).
    with metrics_directory(args.workers):
        uvicorn.run(
            "app.server:create_app",
            factory=True,
            host=host,
            port=port,
            workers=args.workers,
            # Each worker applies it again: uvicorn's lines in our format, through our handler.
            log_config=_logging_config(settings),
            log_level=settings.log_level.value.lower(),
            # app.http.request_log writes the request lines, with id, operation and duration.
            access_log=False,
            # X-Forwarded-For and -Proto, from the proxies FORWARDED_ALLOW_IPS names only: the
            # per-address limits (logins, websockets) count the address they give.
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            # A websocket message is a request: the same limit as a body (uvicorn's is 16 MiB,
            # read in full before the application sees it).
            ws_max_size=settings.max_request_bytes,
            ws_per_message_deflate=settings.ws_per_message_deflate,
        )
    return 0


def _createuser(settings: Settings, args: argparse.Namespace) -> int:
    from app import preflight
    from app.auth.bootstrap import create_admin, generate_password
    from app.auth.passwords import Passwords
    from app.db.database import Database
    from app.services.errors import ValidationFailed

    asyncio.run(preflight.before_commands(settings))  # before asking for a password
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        shown = False
    elif sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.username} (empty to generate): ")
        shown = not password
        password = password or generate_password()
    else:
        password, shown = generate_password(), True

    async def create() -> None:
        db = Database(settings)
        passwords = Passwords(
            time_cost=settings.password_time_cost, memory_kib=settings.password_memory_kib
        )
        try:
            await create_admin(db, passwords, args.username, password, admin=args.admin)
        finally:
            await db.dispose()

    try:
        asyncio.run(create())
    except ValidationFailed as failed:
        print(f"contentgraph: cannot create {args.username}: {failed}", file=sys.stderr)
        return 1
    role = "an administrator" if args.admin else "a user without roles"
    print(f"created {args.username}, {role}")
    if shown:
        print(f"password (shown once): {password}")
    return 0


def _progress(description: str, total: int | None) -> Any:
    """A progress bar on a terminal; silent in pipes and logs."""
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit=" files", disable=not sys.stderr.isatty())


FSCK_HELP = """\
Check that file rows and blobs agree. Exit 1 if there is a fault:
  dangling rows          a row whose blob is missing (its file cannot be served)
  size/hash mismatches   a blob whose bytes are not what its row says (--verify re-hashes)
  orphan blobs           a blob no row records, older than the grace period: possibly a
                         lost row (a restored database, a manual delete), so look before
                         `contentgraph gc` removes it
Reported, and exit 0 when nothing else is found:
  in flight              orphan blobs and uploads in .tmp younger than the grace period:
                         an upload that may still commit, or that a crash interrupted just
                         now (what gc keeps too)
  abandoned uploads      files in .tmp older than the grace period: uploads that never
                         finished. No row can point at a temp file, so they are waste, not
                         disagreement: `contentgraph gc` removes them.
"""


def _fsck(settings: Settings, args: argparse.Namespace) -> int:
    from app import preflight
    from app.container import build_services
    from app.storage.consistency import count_rows, fsck

    grace = settings.gc_grace_seconds if args.grace is None else args.grace

    async def run() -> int:
        await preflight.before_commands(settings)
        services = build_services(settings)
        try:
            rows = await count_rows(services.db)
            with _progress("checking", rows or None) as bar:
                report = await fsck(
                    services.db,
                    services.files.blobs,
                    grace_seconds=grace,
                    verify_hashes=args.verify,
                    tick=bar.update,
                )
        finally:
            await services.close()
        for line in report.problems:
            print(line)
        print(
            f"{report.rows} rows, {report.blobs} blobs: {report.dangling_rows} dangling rows, "
            f"{report.orphan_blobs} orphan blobs, {report.size_mismatches} size mismatches, "
            f"{report.hash_mismatches} hash mismatches"
            + ("" if args.verify else " (hashes not verified: --verify)")
        )
        print(
            f"in flight, younger than {grace:g} s (not faults): {report.young_orphans} orphan "
            f"blobs, {report.temp_in_flight} uploads in .tmp"
        )
        print(
            f"abandoned uploads in .tmp, older than {grace:g} s: {report.temp_abandoned} "
            "(not a fault: contentgraph gc removes them)"
        )
        return 0 if report.clean else 1

    return asyncio.run(run())


def _gc(settings: Settings, args: argparse.Namespace) -> int:
    from app import preflight
    from app.container import build_services
    from app.storage.consistency import gc

    grace = settings.gc_grace_seconds if args.grace is None else args.grace

    async def run() -> int:
        await preflight.before_commands(settings)
        services = build_services(settings)
        try:
            with _progress("collecting", None) as bar:
                report = await gc(
                    services.db,
                    services.files,
                    grace_seconds=grace,
                    dry_run=args.dry_run,
                    tick=bar.update,
                )
            sessions = 0 if args.dry_run else await services.auth.sessions.purge_expired()
        finally:
            await services.close()
        verb = "would remove" if args.dry_run else "removed"
        print(
            f"{verb} {report.orphans_removed} orphan blobs ({report.bytes_freed} bytes) and "
            f"{report.temp_removed} abandoned uploads; kept {report.orphans_kept_young} orphans "
            f"younger than {grace} s"
        )
        if not args.dry_run:
            print(f"removed {sessions} expired sessions")
        return 0

    return asyncio.run(run())


STORAGE_COPY_HELP = """\
Copy every blob the file rows reference from the store in use (STORAGE_BACKEND) to the other
one: --to s3 needs the S3_* settings, --to local writes under FILES_ROOT. Each blob is streamed
into a temporary blob, hashed on the way, and placed only if its SHA-256 and size are what the
row says; blobs the target already holds (at the right size; --verify re-hashes them) are
skipped, so it is safe to run again after an interruption. To move a store: copy while the
server runs, stop it (or its uploads), copy again (only what came meanwhile), switch
STORAGE_BACKEND and start it. Exit 1 if a blob could not be copied.
"""


def _storage_copy(settings: Settings, args: argparse.Namespace) -> int:
    from app import preflight
    from app.config import StorageBackend
    from app.container import build_services
    from app.storage.moving import copy_store, count_referenced
    from app.storage.stores import build_blob_store

    to = StorageBackend(args.to)
    if to is settings.storage_backend:
        raise ConfigurationError(
            f"STORAGE_BACKEND is already {to.value}: copy --to the store you are moving to"
        )
    if to is StorageBackend.S3 and not settings.s3_bucket:
        raise ConfigurationError("storage copy --to s3 needs S3_BUCKET (and the other S3_*)")
    if args.jobs < 1:
        raise ConfigurationError("--jobs must be at least 1")

    async def run() -> int:
        await preflight.before_commands(settings)
        services = build_services(settings)
        target = build_blob_store(settings.model_copy(update={"storage_backend": to}))
        source = services.files.blobs
        try:
            await target.check()
            total = await count_referenced(services.db)
            with _progress(f"copying to {to.value}", total or None) as bar:
                report = await copy_store(
                    services.db, source, target, verify=args.verify, jobs=args.jobs, tick=bar.update
                )
        finally:
            await target.close()
            await services.close()
        for line in report.problems:
            print(line)
        print(
            f"from {source.describe()} to {target.describe()}: copied {report.copied} blobs "
            f"({report.bytes_copied} bytes), {report.present} already there"
            + (f" ({report.replaced} of them replaced: wrong bytes)" if report.replaced else "")
            + f", {report.failed} failed"
        )
        return 1 if report.failed else 0

    return asyncio.run(run())


def _schema(settings: Settings, args: argparse.Namespace) -> int:
    """The SDL for frontend tools; needs no database, Redis or key, so it runs anywhere."""
    from schema import sdl

    sys.stdout.write(sdl(settings))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="contentgraph", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", help="interface to bind (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default: PORT or 8000)")
    serve.add_argument("--workers", type=int, default=1, help="server processes (needs Redis)")
    serve.add_argument("--migrate", action="store_true", help="upgrade the database first")
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="upgrade the database schema")
    migrate.add_argument("revision", nargs="?", default="head", help="target (default: head)")
    migrate.add_argument("--downgrade", action="store_true", help="go down to the revision")
    migrate.set_defaults(handler=_migrate)

    createuser = commands.add_parser("createuser", help="create a user (and seed the roles)")
    createuser.add_argument("username")
    createuser.add_argument("--admin", action="store_true", help="give the user the admin role")
    createuser.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    createuser.set_defaults(handler=_createuser)

    fsck = commands.add_parser(
        "fsck",
        help="check that file rows and blobs agree (exit 1 on a fault)",
        description=FSCK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fsck.add_argument("--verify", action="store_true", help="re-hash every blob (slow)")
    fsck.add_argument(
        "--grace",
        type=float,
        metavar="SECONDS",
        help="age in seconds below which orphans and temp files count as in flight "
        "(default GC_GRACE_SECONDS, as for gc)",
    )
    fsck.set_defaults(handler=_fsck)

    gc = commands.add_parser(
        "gc", help="remove orphan blobs, abandoned uploads and expired sessions"
    )
    gc.add_argument("--grace", type=float, help="minimum age in seconds (default GC_GRACE_SECONDS)")
    gc.add_argument("--dry-run", action="store_true", help="report, remove nothing")
    gc.set_defaults(handler=_gc)

    storage = commands.add_parser("storage", help="move the blobs to another store")
    storage_commands = storage.add_subparsers(dest="storage_command", required=True)
    copy = storage_commands.add_parser(
        "copy",
        help="copy every referenced blob to the other store (local or s3), verified",
        description=STORAGE_COPY_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    copy.add_argument("--to", required=True, choices=["local", "s3"], help="the target store")
    copy.add_argument(
        "--verify", action="store_true", help="re-hash blobs the target already holds (slow)"
    )
    copy.add_argument("--jobs", type=int, default=4, help="blobs copied at once (default 4)")
    copy.set_defaults(handler=_storage_copy)

    schema = commands.add_parser(
        "schema",
        help="print the GraphQL schema (SDL) for frontend tools",
        description="Print the GraphQL schema in SDL; no database or Redis needed. The "
        "repository keeps it in schema.graphql: contentgraph schema > schema.graphql",
    )
    schema.set_defaults(handler=_schema)
    return parser


def _refuse(exc: BaseException, settings: Settings | None, line: str | None = None) -> int:
    """One line on stderr; the traceback too, but only for someone who asked (DEBUG)."""
    if settings is not None and settings.log_level is LogLevel.DEBUG:
        traceback.print_exception(exc)
    print(f"contentgraph: {line or exc}", file=sys.stderr)
    return REFUSED


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings: Settings | None = None
    try:
        settings = load_settings()
        _configure_logging(settings)
        return int(args.handler(settings, args))
    except ConfigurationError as exc:
        return _refuse(exc, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # The database or Redis failing midway (not at a check) gets the same one line.
        from app.preflight import explain

        refusal = explain(exc, settings) if settings is not None else None
        if refusal is None:
            raise
        return _refuse(exc, settings, str(refusal))


if __name__ == "__main__":
    sys.exit(main())
