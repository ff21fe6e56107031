"""The seal key: found or created at start-up, checked against the database, and rotated.

The key lives outside the database (SEAL_KEY, or a 0600 file, by default DATA_DIR/keys/seal.key),
so a dump or backup of the database alone cannot link a hidden report to its reporter.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from bot.config import ConfigError, Settings
from bot.light_settings import read_seal_keys
from storage.db import Database, session_factory
from storage.seal import Sealer, SealError, first_seal, new_key, reseal_all, seal_existing

log = logging.getLogger(__name__)


def read_keys(settings: Settings) -> list[str]:
    """The keys, newest first; empty when none is configured yet."""
    return read_seal_keys(settings.seal_key, settings.seal_key_path)


def write_key_file(path: Path, keys: list[str], first: bool = False) -> bool:
    """Replace the key file atomically, readable by its owner only. `first`: only if there is
    none yet; False when another instance sharing the folder has just made it (then use its key,
    or the instances would seal with different keys)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(
            "# Grassroots seal key. Back it up apart from the database; never share it.\n"
            + "".join(k + "\n" for k in keys)
        )
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    if not first:
        os.replace(tmp, path)
        return True
    try:
        os.link(tmp, path)  # fails if the file exists: never replaces another instance's key
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def _where(settings: Settings) -> str:
    return "SEAL_KEY" if settings.seal_key.strip() else f"the key file {settings.seal_key_path}"


def _sealer(settings: Settings, keys: list[str]) -> Sealer:
    try:
        return Sealer(keys)
    except (ValueError, TypeError):
        raise ConfigError(f"invalid seal key in {_where(settings)}: not a Fernet key") from None


def _first_key(settings: Settings) -> list[str]:
    """A new key in the key file; or, when an instance sharing the folder made one at the same
    moment, that one (instances sealing with different keys could not read each other's)."""
    try:
        created = write_key_file(settings.seal_key_path, [new_key()], first=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the seal key file {settings.seal_key_path}: "
            f"{exc.strerror or exc} (set SEAL_KEY_FILE to a writable place, or SEAL_KEY)"
        ) from None
    if created:
        log.warning(
            "Created a new seal key in %s. Back this file up now, apart from the database: "
            "without it, confidential and anonymous reporters can no longer be reached.",
            settings.seal_key_path,
        )
    keys = read_keys(settings)
    if not keys:
        raise ConfigError(f"the seal key file {settings.seal_key_path} holds no key")
    return keys


async def open_sealer(settings: Settings, db: Database) -> Sealer:
    """The sealer for this database: its key must open the seals already there. With no key
    and no seals yet (a first start), a new key is created and the operator told to back it up."""
    async with session_factory(db)() as session:
        existing = await first_seal(session)
    keys = read_keys(settings)
    if not keys:
        if existing is not None:
            raise ConfigError(
                f"no seal key ({_where(settings)} is missing) but the database holds sealed "
                "reporter links: restore the key from your backup"
            )
        keys = _first_key(settings)
    sealer = _sealer(settings, keys)
    if existing is not None:
        try:
            sealer.open(existing)
        except SealError:
            raise ConfigError(
                f"the seal key in {_where(settings)} cannot open this database's sealed reporter "
                "links: restore the right key from your backup"
            ) from None
    async with session_factory(db)() as session, session.begin():
        sealed = await seal_existing(session, sealer)
    if sealed:
        log.warning("Sealed the reporter links of %d earlier hidden reports.", sealed)
    return sealer


# -- grassroots keys ... ---------------------------------------------------------------------------
async def keys_command(args: argparse.Namespace, settings: Settings, sessions: Any) -> int:
    """`sessions` is open already, so the current key has been checked against the database."""
    if args.action == "new":
        print(new_key())
        return 0
    keys = read_keys(settings)
    from_env = bool(settings.seal_key.strip())
    if from_env and len(keys) < 2:
        raise ConfigError(
            "SEAL_KEY is set in the environment: set SEAL_KEY=NEW,OLD (`grassroots keys new` "
            "prints a key), run `grassroots keys rotate`, then set SEAL_KEY=NEW"
        )
    path = settings.seal_key_path
    if not from_env:
        keys = [new_key(), *keys]
        write_key_file(path, keys)  # a crash from here on leaves both keys at hand
    sealer = _sealer(settings, keys)
    async with sessions() as session, session.begin():
        count = await reseal_all(session, sealer)
    if from_env:
        print(
            f"Re-sealed {count} links under the first key of SEAL_KEY; now set SEAL_KEY to it alone."
        )
    else:
        write_key_file(path, keys[:1])
        print(
            f"Re-sealed {count} links under a new key in {path}; the old key is no longer "
            "needed. Back up the new key file now, then restart the bot."
        )
    return 0
