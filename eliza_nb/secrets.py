"""An encrypted secret store: API keys kept on disk with AES-256-GCM, loaded into a runtime masked.

Each value is encrypted with cryptography's ``AESGCM`` under a fresh random 96-bit nonce; the
16-byte authentication tag that AESGCM appends is kept with the ciphertext, and the secret's name
is bound in as associated data, so a value that was altered, truncated, encrypted under another
key or moved to another name fails to decrypt with a :class:`SecretError` instead of returning
garbage. The store is a JSON file of ``{name: {"nonce": b64, "ciphertext": b64}}``.

The 32-byte key comes from, in order: the ``key=`` argument, the ``key_file=`` argument, the
``ELIZA_SECRET_KEY`` environment variable (base64 or urlsafe base64), the file named by
``ELIZA_SECRET_KEY_FILE``, or ``~/.eliza_nb/secret.key``. A missing key file is created with
permissions 0600; a key file that others can read is refused.

Example:
    >>> import tempfile, pathlib
    >>> from eliza_nb import AgentRuntime
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> store = SecretStore(tmp / "secrets.json", key=generate_key())
    >>> store.set("OPENAI_API_KEY", "sk-example-123")
    >>> rt = AgentRuntime(use_env=False)
    >>> store.load_into(rt)
    ['OPENAI_API_KEY']
    >>> rt.settings.masked()["OPENAI_API_KEY"]
    '***'

In a notebook, ``%eliza secret set KEY`` (:func:`set_secret_interactive`) asks for the value with
``getpass``, so it is never typed into a cell and never saved in the ``.ipynb``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import getpass
import json
import logging
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from eliza_nb._checks import shown
from eliza_nb.errors import Code, ElizaError

if TYPE_CHECKING:
    from eliza_nb.runtime import AgentRuntime

__all__ = [
    "ENV_KEY",
    "ENV_KEY_FILE",
    "SecretError",
    "SecretStore",
    "default_key_file",
    "generate_key",
    "load_key",
    "set_secret_interactive",
]

log = logging.getLogger("eliza_nb")

ENV_KEY = "ELIZA_SECRET_KEY"
ENV_KEY_FILE = "ELIZA_SECRET_KEY_FILE"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits, the nonce size GCM is specified for
_FORMAT = 1
_AAD_PREFIX = b"eliza_nb-secret:"


class SecretError(ElizaError):
    """The secret store cannot be used: a bad or unsafe key, a malformed file, or a value that
    fails authentication (tampered with, or encrypted under another key)."""

    default_code = Code.SECRET_ERROR


def _home() -> Path:
    return Path.home() / ".eliza_nb"


def default_key_file() -> Path:
    """Where the key lives when neither an argument nor the environment names one."""
    return Path(os.environ.get(ENV_KEY_FILE) or _home() / "secret.key")


def generate_key() -> str:
    """A new random 256-bit key, urlsafe-base64 encoded (the form ``ELIZA_SECRET_KEY`` takes)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def _decode_key(text: str | bytes, source: str) -> bytes:
    """The 32 raw bytes of a base64 or urlsafe-base64 key, or a SecretError naming ``source``."""
    try:
        data = text.strip() if isinstance(text, bytes) else text.strip().encode("ascii")
        # One strict decoder for both alphabets: urlsafe's -_ become +/ first; padding optional.
        data = data.replace(b"-", b"+").replace(b"_", b"/")
        raw = base64.b64decode(data + b"=" * (-len(data) % 4), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise SecretError(
            f"{source} must hold a base64-encoded 32-byte key (AES-256); generate one with "
            "`python -c 'from eliza_nb.secrets import generate_key; print(generate_key())'`.",
            details={"source": source},
        )
    return raw


def _check_private(path: Path) -> None:
    """Refuse a key file that is not a regular file or that group or others may access."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise SecretError(f"Key file {path} is not a regular file", details={"path": str(path)})
    mode = stat.S_IMODE(info.st_mode)
    if os.name != "nt" and mode & 0o077:
        raise SecretError(
            f"Key file {path} has permissions {mode:04o}; it must be private to its owner. "
            f"Run: chmod 600 {path}",
            details={"path": str(path), "mode": f"{mode:04o}"},
        )


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        # O_EXCL: never overwrite a key another process just created; 0600 from the start, so
        # the key is never readable by others, not even for an instant.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(generate_key() + "\n")
    log.info("created secret key file %s (permissions 0600)", path)


def load_key(key_file: str | Path | None = None, *, create: bool = True) -> bytes:
    """The store key: ``key_file`` if given, else ``ELIZA_SECRET_KEY``, else the default file.

    A missing key file is created (permissions 0600) unless ``create`` is false.

    Raises:
        SecretError: the key is not base64 of 32 bytes, the key file is missing (and not to be
            created), or the key file's permissions let others read it.
    """
    if key_file is None and os.environ.get(ENV_KEY):
        return _decode_key(os.environ[ENV_KEY], ENV_KEY)
    path = Path(key_file) if key_file is not None else default_key_file()
    if not path.exists():
        if not create:
            raise SecretError(f"Key file {path} does not exist", details={"path": str(path)})
        _create_key_file(path)
    _check_private(path)
    return _decode_key(path.read_bytes(), f"Key file {path}")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name or name.strip() != name:
        raise SecretError(
            "A secret's name must be a non-empty string without surrounding spaces, "
            f"got {shown(name)}"
        )
    return name


class SecretStore:
    """Secrets encrypted at rest in a JSON file (AES-256-GCM, one random nonce per value).

    Args:
        path: The store file (default ``~/.eliza_nb/secrets.json``); created on first ``set``.
        key: The 32-byte key, raw or base64-encoded; if omitted, :func:`load_key` finds it.
        key_file: A key file to use (created with permissions 0600 if missing).

    Raises:
        SecretError: the key is unusable (see :func:`load_key`).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        key: bytes | str | None = None,
        key_file: str | Path | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else _home() / "secrets.json"
        if isinstance(key, str):
            raw = _decode_key(key, "key")
        elif isinstance(key, bytes) and len(key) == KEY_BYTES:
            raw = key
        elif key is None:
            raw = load_key(key_file)
        else:
            raise SecretError("key must be 32 raw bytes or their base64 encoding")
        self._aead = AESGCM(raw)

    # -- file ---------------------------------------------------------------------------
    def _read(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self._malformed(f"not readable JSON ({exc})") from None
        entries = doc.get("secrets") if isinstance(doc, dict) else None
        if not isinstance(entries, dict) or not all(
            isinstance(v, dict)
            and isinstance(v.get("nonce"), str)
            and isinstance(v.get("ciphertext"), str)
            for v in entries.values()
        ):
            raise self._malformed("expected {'secrets': {name: {'nonce', 'ciphertext'}}}")
        return entries

    def _malformed(self, why: str) -> SecretError:
        return SecretError(
            f"Secret store {self.path} is malformed: {why}", details={"path": str(self.path)}
        )

    def _write(self, entries: dict[str, dict[str, str]]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        doc = {"format": _FORMAT, "cipher": "AES-256-GCM", "secrets": entries}
        # Write a private temporary file, then rename: a crash never leaves half a store.
        fd, tmp = tempfile.mkstemp(prefix=".secrets-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    # -- values -------------------------------------------------------------------------
    def set(self, name: str, value: str) -> None:
        """Encrypt ``value`` under a fresh nonce and save it as ``name`` (replacing any)."""
        _check_name(name)
        if not isinstance(value, str):
            raise SecretError(f"Secret {name!r}: the value must be a string")
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode("utf-8"), _AAD_PREFIX + name.encode())
        entries = self._read()
        entries[name] = {"nonce": _b64(nonce), "ciphertext": _b64(sealed)}
        self._write(entries)

    def get(self, name: str) -> str:
        """Decrypt and return the secret ``name``.

        Raises:
            SecretError: there is no such secret, or its ciphertext fails authentication
                (it was tampered with, or the store was written under another key).
        """
        entry = self._read().get(_check_name(name))
        if entry is None:
            raise SecretError(f"No secret named {name!r} in {self.path}", details={"name": name})
        try:
            nonce = base64.b64decode(entry["nonce"], validate=True)
            sealed = base64.b64decode(entry["ciphertext"], validate=True)
            if len(nonce) != NONCE_BYTES:
                raise ValueError("bad nonce length")
            plain = self._aead.decrypt(nonce, sealed, _AAD_PREFIX + name.encode())
            return plain.decode("utf-8")
        except (InvalidTag, ValueError, binascii.Error):
            raise SecretError(
                f"Secret {name!r} failed authentication: the store file was tampered with, "
                "or it was written with another key. Set the secret again.",
                details={"name": name, "path": str(self.path)},
            ) from None

    def delete(self, name: str) -> bool:
        """Remove a secret; True if it existed."""
        entries = self._read()
        if entries.pop(_check_name(name), None) is None:
            return False
        self._write(entries)
        return True

    def names(self) -> list[str]:
        """The stored secrets' names, sorted (values stay encrypted)."""
        return sorted(self._read())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._read()

    def __len__(self) -> int:
        return len(self._read())

    def load_into(self, runtime: AgentRuntime, names: Iterable[str] | None = None) -> list[str]:
        """Decrypt secrets (all, or ``names``) into ``runtime``'s settings, marked secret.

        Their values are masked as ``'***'`` in every frame, repr, log line and error message
        from then on. Load before registering plugins that require them.

        Raises:
            SecretError: a secret is missing or fails authentication (nothing is loaded then).
        """
        chosen = self.names() if names is None else [_check_name(n) for n in names]
        values = {name: self.get(name) for name in chosen}  # decrypt all before changing any
        for name, value in values.items():
            _put_secret(runtime, name, value)
        return chosen

    def __repr__(self) -> str:
        return f"SecretStore(path={str(self.path)!r}, secrets={self.names()!r})"


def _put_secret(runtime: AgentRuntime, name: str, value: str) -> None:
    # Mark first so the value is registered with the masker as it is set.
    runtime.settings.mark_secret([name])
    runtime.settings.set(name, value)


def set_secret_interactive(
    runtime: AgentRuntime,
    key: str,
    store: SecretStore | None = None,
    *,
    prompt: str | None = None,
    getpass_fn: Callable[[str], str] | None = None,
) -> None:
    """Ask for a secret's value with ``getpass`` and set it in ``runtime``, masked.

    The value is typed into a password prompt, never into a cell, so it is not saved in the
    notebook; nothing is returned, so it never lands in ``Out``. With ``store`` the value is
    also saved, encrypted, for later sessions. Plugins hear of it through ``on_config_change``.
    This is what ``%eliza secret set KEY`` runs.

    Raises:
        SecretError: the name is invalid, no value was entered, or nobody can type one (a
            kernel run by nbclient or papermill, a script without a terminal); nothing is
            changed then.
    """
    _check_name(key)
    ask = getpass_fn if getpass_fn is not None else getpass.getpass
    value = _ask(ask, prompt or f"Value for {key} (input hidden): ", key)
    if not isinstance(value, str) or not value:
        raise SecretError(f"No value entered: {key} is unchanged", details={"name": key})
    if store is not None:
        store.set(key, value)
    runtime.settings.mark_secret([key])
    runtime.run_sync(runtime.set_setting(key, value))
    where = f" and saved to {store.path}" if store is not None else ""
    log.info("secret %s set%s", key, where)


def _ask(ask: Callable[[str], str], prompt: str, key: str) -> str:
    """``ask(prompt)``; without anyone to answer, a one-line error that says what to do instead.

    ipykernel raises ``StdinNotImplementedError`` (a ``NotImplementedError``) when its frontend
    takes no input, as under nbclient and papermill; ``getpass`` without a terminal reads stdin,
    which may be at its end (``EOFError``).
    """
    try:
        return ask(prompt)
    except (NotImplementedError, EOFError):
        raise SecretError(
            f"Cannot ask for {key}: nobody can type here (no terminal, or a frontend without "
            f"input such as nbclient or papermill); use %eliza set {key}=... (or the "
            "environment, or .env) or a SecretStore: SecretStore().set(...) once, then "
            "%eliza secret load",
            details={"name": key},
        ) from None
