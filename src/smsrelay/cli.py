"""`smsrelay`: the administration commands and the server.

Each command reads the settings the same way as the server (file, environment, then its
own options), so `smsrelay key create` and `smsrelay serve` agree on the database
without repeating it. Expected failures exit with status 1 and one line on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from rich.console import Console
from uvicorn.config import STARTUP_FAILURE

from smsrelay.composition import store_for
from smsrelay.config import ConfigError, Settings, load_settings
from smsrelay.domain.pricing import money_text
from smsrelay.domain.records import DEFAULT_TIMEZONE, Account, NotEnoughCredit
from smsrelay.migrate_data import migrate_data as copy_into_postgresql
from smsrelay.service import accounts
from smsrelay.service.sending import SendingRules
from smsrelay.store import Store, StoreError

app = typer.Typer(help="smsrelay: a self-hosted SMS platform speaking the SMS Partner v1 API.")
account_app = typer.Typer(help="Manage accounts.")
key_app = typer.Typer(help="Manage API keys.")
reports_app = typer.Typer(help="Delivery reports that need an operator's eye.")
app.add_typer(account_app, name="account")
app.add_typer(key_app, name="key")
app.add_typer(reports_app, name="reports")

T = TypeVar("T")

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="sqlite:///PATH (default sqlite:///var/smsrelay.db)"
        " or postgresql://user@host:port/dbname",
    ),
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML settings file", exists=True, dir_okay=False)
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"smsrelay: {message}", err=True)
    return typer.Exit(1)


def _settings(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc


def _migrate(settings: Settings) -> None:
    """Bring the database to the current schema, or exit with one line saying why not
    (a file that cannot be opened, a server that does not answer, a role or a database
    that does not exist)."""

    async def nothing_more(store: Store) -> None:
        return None

    _with_store(settings, nothing_more)


def _with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run `work` against a migrated store, mapping store failures to a clean exit."""

    async def run() -> T:
        store = store_for(settings, "command")
        try:
            await store.migrate()
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except (StoreError, ValueError) as exc:
        raise _fail(str(exc)) from exc


@app.command()
def migrate(database: DatabaseOption = None, config: ConfigOption = None) -> None:
    """Create or upgrade the database schema."""
    settings = _settings(config, database=database)
    _migrate(settings)
    typer.echo(f"database at {settings.database} is up to date")


@app.command("migrate-data")
def migrate_data(
    source: Annotated[str, typer.Option("--from", help="sqlite:///PATH of the installation")],
    target: Annotated[str, typer.Option("--to", help="postgresql://user@host:port/dbname")],
    resume: Annotated[
        bool,
        typer.Option(help="go on with a copy that was interrupted (the target holds its rows)"),
    ] = False,
    chunk_rows: Annotated[int, typer.Option(min=1, help="rows per committed chunk")] = 5000,
) -> None:
    """Copy an installation's SQLite database into PostgreSQL, then compare the counts.

    Accounts, keys (still hashed), messages, recipients, parts, events, STOP lists,
    replies and the reports kept unapplied. An empty target is required unless --resume.
    """
    try:
        same = copy_into_postgresql(
            source, target, resume=resume, chunk_rows=chunk_rows, console=Console()
        )
    except StoreError as exc:
        raise _fail(str(exc)) from exc
    except KeyboardInterrupt:
        raise _fail(
            "interrupted: what was copied is kept; run the same command with --resume to go on"
        ) from None
    if not same:
        raise _fail("the counts differ: see the table above")
    typer.echo(f"copied {source} into {target}")


@account_app.command("create")
def account_create(
    name: str,
    region: Annotated[str, typer.Option(help="default region of national numbers")] = "FR",
    lang: Annotated[str, typer.Option(help="language of messages: fr or en")] = "fr",
    credits: Annotated[float, typer.Option(help="initial credit, in the currency")] = 0.0,
    timezone: Annotated[
        str, typer.Option(help="time zone of scheduled dates and quiet hours")
    ] = DEFAULT_TIMEZONE,
    quiet_hours: Annotated[
        bool, typer.Option(help="marketing: hold sends 20:00-08:00, Sundays and holidays")
    ] = False,
    database: DatabaseOption = None,
    config: ConfigOption = None,
) -> None:
    """Create an account; prints its id."""
    settings = _settings(config, database=database)
    account = _with_store(
        settings,
        lambda store: accounts.create_account(
            store,
            name,
            region=region,
            language=lang,
            credits=credits,
            timezone=timezone,
            quiet_hours=quiet_hours,
        ),
    )
    typer.echo(account.id)


@account_app.command("credit")
def account_credit(
    account: Annotated[str, typer.Argument(help="account id or name")],
    amount: Annotated[float, typer.Argument(help="credit to add, in the currency")],
    database: DatabaseOption = None,
    config: ConfigOption = None,
) -> None:
    """Add credit to an account (a negative amount takes some back); prints the balance."""
    settings = _settings(config, database=database)

    async def work(store: Store) -> int:
        found = await _account(store, account)
        try:
            return await accounts.add_credit(store, found, amount)
        except NotEnoughCredit as exc:
            raise ValueError(f"the balance of {found.name!r} would go below zero") from exc

    typer.echo(money_text(_with_store(settings, work)))


async def _account(store: Store, ref: str) -> Account:
    account = await store.find_account(ref)
    if account is None:
        raise ValueError(f"no account {ref!r}")
    return account


@key_app.command("create")
def key_create(
    account: Annotated[str, typer.Argument(help="account id or name")],
    database: DatabaseOption = None,
    config: ConfigOption = None,
) -> None:
    """Create an API key; prints only the key, which is shown this once."""
    settings = _settings(config, database=database)

    async def work(store: Store) -> str:
        return await accounts.create_api_key(store, await _account(store, account))

    typer.echo(_with_store(settings, work))


@key_app.command("revoke")
def key_revoke(
    key: Annotated[str, typer.Argument(help="the key, or its id (the part before the dot)")],
    database: DatabaseOption = None,
    config: ConfigOption = None,
) -> None:
    """Revoke an API key: it is refused (code 10) from the next request on."""
    settings = _settings(config, database=database)
    if not _with_store(settings, lambda store: accounts.revoke_api_key(store, key)):
        raise _fail(f"no active key {accounts.key_id_of(key)!r}")
    typer.echo(f"revoked {accounts.key_id_of(key)}")


@reports_app.command("ambiguous")
def reports_ambiguous(
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 50,
    database: DatabaseOption = None,
    config: ConfigOption = None,
) -> None:
    """Reports that fitted several SMS awaiting one (operator ids reused): applied to none.

    One line each: id, connector, operator id, handset, state, and the SMS it fitted.
    """
    settings = _settings(config, database=database)
    for report in _with_store(settings, lambda store: store.ambiguous_reports(limit)):
        fits = ", ".join(
            f"message {message} to {phone}" + (f" part {part}" if part else "")
            for _, message, phone, part in report.candidates
        )
        typer.echo(
            f"{report.id}\t{report.carrier}\t{report.operator_ref}\t{report.phone or '-'}"
            f"\t{report.state}\t{fits}"
        )


def _serve(settings: Settings, access_log: bool) -> None:
    # Only the server needs Starlette.
    from smsrelay.api.app import create_app
    from smsrelay.api.http_server import server_config

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = server_config(create_app(settings), settings, access_log=access_log)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    # Before the server starts: a database it cannot use is one line, not the traceback
    # of a failed start-up.
    _migrate(settings)
    server = uvicorn.Server(config)
    # uvicorn stops on SIGINT, then raises it again for whoever handled it before: us.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise typer.Exit(STARTUP_FAILURE)


HostOption = Annotated[str | None, typer.Option(help="address to listen on (default 127.0.0.1)")]
PortOption = Annotated[int | None, typer.Option(help="port to listen on (default 8000)")]
AccessLogOption = Annotated[bool, typer.Option(help="log every request (costs throughput)")]


@app.command()
def serve(
    host: HostOption = None,
    port: PortOption = None,
    database: DatabaseOption = None,
    config: ConfigOption = None,
    access_log: AccessLogOption = False,
) -> None:
    """Run the HTTP API, and delivery in a worker process: through the configured SMPP
    connectors, or the simulated operator when there are none."""
    _serve(_settings(config, host=host, port=port, database=database), access_log)


@app.command()
def demo(
    host: HostOption = None,
    port: PortOption = None,
    database: DatabaseOption = None,
    config: ConfigOption = None,
    key_file: Annotated[Path, typer.Option(help="where the demo key is kept")] = Path(
        "var/demo.key"
    ),
    time_scale: Annotated[float, typer.Option(help="speed of the simulated network")] = 60.0,
    access_log: AccessLogOption = False,
) -> None:
    """`make run`: a demo account and key (kept across restarts), a sample send, the server."""
    settings = _settings(
        config, host=host, port=port, database=database, simulator={"time_scale": time_scale}
    )
    from smsrelay.demo import prepare_demo

    try:
        rules = SendingRules.from_settings(settings)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    key, message_id = _with_store(settings, lambda store: prepare_demo(store, key_file, rules))
    base = f"http://{settings.host}:{settings.port}"
    typer.echo(
        f"\nsmsrelay demo on {base} — simulated network {time_scale:g}x faster than real\n"
        f"API key: {key}\n\nStatus of the sample send (message {message_id}):\n"
        f'  curl -s -X POST {base}/v1/multi-status -d \'{{"apiKey": "{key}", '
        f'"SMSStatut_List": [{{"phoneNumber": "0600000001", "messageId": {message_id}}}, '
        f'{{"phoneNumber": "+33600000002", "messageId": {message_id}}}, '
        f'{{"phoneNumber": "+33600000003", "messageId": {message_id}}}]}}\'\n'
        f"Send another:\n"
        f'  curl -s -X POST {base}/v1/send -d \'{{"apiKey": "{key}", '
        f'"phoneNumbers": "+33600000001,0612345678", "message": "Bonjour"}}\'\n'
    )
    sys.stdout.flush()
    _serve(settings, access_log)


SmscPortOption = Annotated[
    int | None, typer.Option(help="port to listen on (default 2775; 0: any free port)")
]


@app.command()
def smsc(host: HostOption = None, port: SmscPortOption = None, config: ConfigOption = None) -> None:
    """A simulated operator (SMSC) speaking SMPP 3.4, for tests and development."""
    from smsrelay.smsc.cli import run  # only this command needs the simulator

    run(host, port, config)
