"""`smsrelay smsc`: run the SMSC simulator in the foreground until SIGINT or SIGTERM.

`smsrelay.cli` declares the command and calls `run`; the work is here so that the
simulator's package owns its own start-up. The first line on stderr names the port,
which a test that asked for port 0 reads to know where to connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

import typer

from smsrelay.config import ConfigError
from smsrelay.smsc.server import serve_smsc
from smsrelay.smsc.settings import SmscSettings, load_smsc_settings


def run(host: str | None, port: int | None, config: Path | None) -> None:
    """Read the settings (file, then options), serve until stopped; exit 1 on failure."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = load_smsc_settings(config, host=host, port=port)
        asyncio.run(_serve(settings))
    except (ConfigError, OSError) as exc:  # OSError: the address cannot be listened on
        typer.echo(f"smsrelay smsc: {exc}", err=True)
        raise typer.Exit(1) from exc


async def _serve(settings: SmscSettings) -> None:
    serving = asyncio.ensure_future(serve_smsc(settings))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, serving.cancel)
    with contextlib.suppress(asyncio.CancelledError):  # cancelled: a signal, a clean stop
        await serving
