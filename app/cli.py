"""``contentgraph`` command line: serve, migrate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from app.config import ConfigurationError, Settings, load_settings


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.value,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Alembic announces each of its plugins at INFO on every start; keep its real news.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from app.db.migrate import downgrade, upgrade

    if args.revision.startswith("-") or args.downgrade:
        asyncio.run(downgrade(settings, args.revision))
    else:
        asyncio.run(upgrade(settings, args.revision))
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    if args.workers > 1 and not settings.redis_url:
        raise ConfigurationError(
            "--workers > 1 needs REDIS_URL: the in-process cache and pub/sub serve one process"
        )
    settings.secret()  # create (embedded) or require (production) the key before serving
    if args.migrate:
        _migrate(settings, argparse.Namespace(revision="head", downgrade=False))
    host = args.host or settings.host
    port = args.port or settings.port
    logging.getLogger("contentgraph").info(
        "serving GraphQL (and GraphiQL in a browser) at http://%s:%s/graphql", host, port
    )
    uvicorn.run(
        "app.server:create_app",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        log_level=settings.log_level.value.lower(),
        proxy_headers=True,
    )
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        _configure_logging(settings)
        return int(args.handler(settings, args))
    except ConfigurationError as exc:
        print(f"contentgraph: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
