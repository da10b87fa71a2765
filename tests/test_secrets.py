"""The encrypted secret store: AES-256-GCM at rest, key handling, tamper detection, masking."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from eliza_nb import AgentRuntime, ElizaError, Plugin, action
from eliza_nb.secrets import (
    ENV_KEY,
    ENV_KEY_FILE,
    NONCE_BYTES,
    SecretError,
    SecretStore,
    generate_key,
    load_key,
    set_secret_interactive,
)

SECRET = "sk-live-4f9a8b7c6d5e"


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Never read or create the developer's real ~/.eliza_nb key in a test.
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.setenv(ENV_KEY_FILE, str(tmp_path / "default.key"))


@pytest.fixture
def key() -> str:
    return generate_key()


@pytest.fixture
def store(tmp_path: Path, key: str) -> SecretStore:
    return SecretStore(tmp_path / "secrets.json", key=key)


def _entries(store: SecretStore) -> dict[str, Any]:
    return dict(json.loads(store.path.read_text())["secrets"])


def _rewrite(store: SecretStore, name: str, field: str, change: Any) -> None:
    doc = json.loads(store.path.read_text())
    raw = bytearray(base64.b64decode(doc["secrets"][name][field]))
    doc["secrets"][name][field] = base64.b64encode(bytes(change(raw))).decode()
    store.path.write_text(json.dumps(doc))


def _flip_first(raw: bytearray) -> bytearray:
    raw[0] ^= 0x01
    return raw


# -- encryption at rest ---------------------------------------------------------------------
def test_round_trip_and_nothing_in_clear(store: SecretStore) -> None:
    store.set("OPENAI_API_KEY", SECRET)
    assert store.get("OPENAI_API_KEY") == SECRET
    assert SECRET.encode() not in store.path.read_bytes()
    assert store.names() == ["OPENAI_API_KEY"]
    assert "OPENAI_API_KEY" in store
    assert len(store) == 1


def test_each_encryption_uses_a_fresh_96_bit_nonce_and_keeps_the_tag(store: SecretStore) -> None:
    store.set("A_KEY", SECRET)
    first = _entries(store)["A_KEY"]
    store.set("A_KEY", SECRET)
    second = _entries(store)["A_KEY"]
    nonces = [base64.b64decode(e["nonce"]) for e in (first, second)]
    assert all(len(n) == NONCE_BYTES == 12 for n in nonces)
    assert nonces[0] != nonces[1]
    assert first["ciphertext"] != second["ciphertext"]
    # AES-GCM ciphertext = plaintext length + the 16-byte authentication tag.
    assert len(base64.b64decode(second["ciphertext"])) == len(SECRET.encode()) + 16


def test_unicode_values_and_replacement(store: SecretStore) -> None:
    store.set("PASSWORD", "päss wörd ✓")
    store.set("PASSWORD", "second")
    assert store.get("PASSWORD") == "second"
    assert store.delete("PASSWORD") is True
    assert store.delete("PASSWORD") is False
    assert store.names() == []


def test_store_file_is_private(store: SecretStore) -> None:
    store.set("A_KEY", SECRET)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_repr_names_secrets_but_never_values(store: SecretStore) -> None:
    store.set("A_KEY", SECRET)
    assert "A_KEY" in repr(store)
    assert SECRET not in repr(store)


# -- tampering ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("ciphertext", _flip_first),
        ("ciphertext", lambda raw: raw[:-1]),  # tag truncated
        ("ciphertext", lambda raw: raw[:-16]),  # tag stripped
        ("ciphertext", lambda raw: raw + b"\x00"),
        ("nonce", _flip_first),
        ("nonce", lambda raw: raw[:8]),
    ],
)
def test_tampered_entry_raises_a_clear_error(store: SecretStore, field: str, change: Any) -> None:
    store.set("API_KEY", SECRET)
    _rewrite(store, "API_KEY", field, change)
    with pytest.raises(SecretError, match="failed authentication") as info:
        store.get("API_KEY")
    assert info.value.code == "SECRET_ERROR"
    assert isinstance(info.value, ElizaError)
    assert SECRET not in str(info.value)


def test_an_entry_moved_to_another_name_fails(store: SecretStore) -> None:
    store.set("A_KEY", SECRET)
    store.set("B_KEY", "other-value")
    doc = json.loads(store.path.read_text())
    doc["secrets"]["B_KEY"] = doc["secrets"]["A_KEY"]
    store.path.write_text(json.dumps(doc))
    with pytest.raises(SecretError, match="failed authentication"):
        store.get("B_KEY")


def test_another_key_cannot_read_the_store(store: SecretStore) -> None:
    store.set("A_KEY", SECRET)
    with pytest.raises(SecretError, match="another key"):
        SecretStore(store.path, key=generate_key()).get("A_KEY")


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", '{"secrets": []}', '{"secrets": {"A": {"nonce": 1}}}', '{"format": 1}'],
)
def test_malformed_store_file(store: SecretStore, text: str) -> None:
    store.path.write_text(text)
    with pytest.raises(SecretError, match="malformed"):
        store.get("A")


def test_bad_base64_in_an_entry(store: SecretStore) -> None:
    store.path.write_text(json.dumps({"secrets": {"A": {"nonce": "%%%", "ciphertext": "@@"}}}))
    with pytest.raises(SecretError, match="failed authentication"):
        store.get("A")


def test_missing_secret_and_bad_names(store: SecretStore) -> None:
    with pytest.raises(SecretError, match="No secret named"):
        store.get("NOPE")
    for bad in ("", " A", 3):
        with pytest.raises(SecretError, match="name"):
            store.set(bad, "x")  # type: ignore[arg-type]
    with pytest.raises(SecretError, match="string"):
        store.set("A", b"bytes")  # type: ignore[arg-type]


# -- the key ----------------------------------------------------------------------------------
def test_key_from_environment_standard_and_urlsafe(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    raw = bytes(range(250, 256)) + os.urandom(26)  # bytes that differ between the alphabets
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        monkeypatch.setenv(ENV_KEY, encode(raw).decode())
        assert load_key() == raw
    monkeypatch.setenv(ENV_KEY, base64.urlsafe_b64encode(raw).decode().rstrip("="))
    assert load_key() == raw
    SecretStore(tmp_path / "s.json").set("A", "b")
    assert not (tmp_path / "default.key").exists()  # the environment key was used


@pytest.mark.parametrize(
    "value", ["short", base64.b64encode(b"x" * 16).decode(), "!!!notbase64!!!", "clé"]
)
def test_bad_environment_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(ENV_KEY, value)
    with pytest.raises(SecretError, match=f"{ENV_KEY} must hold a base64-encoded 32-byte key"):
        SecretStore()


def test_key_file_is_created_private_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "keys" / "secret.key"
    old = os.umask(0)  # even with a permissive umask the file starts at 0600
    try:
        first = SecretStore(tmp_path / "s.json", key_file=key_file)
    finally:
        os.umask(old)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first.set("A_KEY", SECRET)
    assert SecretStore(tmp_path / "s.json", key_file=key_file).get("A_KEY") == SECRET
    assert len(load_key(key_file)) == 32


def test_default_key_file_from_environment(tmp_path: Path) -> None:
    SecretStore(tmp_path / "s.json").set("A", "value")
    key_file = tmp_path / "default.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert SecretStore(tmp_path / "s.json").get("A") == "value"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_loose_key_file_is_refused(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_text(generate_key())
    key_file.chmod(mode)
    with pytest.raises(SecretError, match="chmod 600") as info:
        SecretStore(tmp_path / "s.json", key_file=key_file)
    assert info.value.details["mode"] == f"{mode:04o}"


def test_key_file_problems(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="does not exist"):
        load_key(tmp_path / "missing.key", create=False)
    with pytest.raises(SecretError, match="not a regular file"):
        load_key(tmp_path)
    garbage = tmp_path / "garbage.key"
    garbage.write_text("nope")
    garbage.chmod(0o600)
    with pytest.raises(SecretError, match="32-byte key"):
        load_key(garbage)


def test_raw_and_invalid_key_arguments(tmp_path: Path) -> None:
    raw = os.urandom(32)
    SecretStore(tmp_path / "s.json", key=raw).set("A", "v")
    assert SecretStore(tmp_path / "s.json", key=base64.b64encode(raw).decode()).get("A") == "v"
    with pytest.raises(SecretError, match="32 raw bytes"):
        SecretStore(tmp_path / "s.json", key=b"short")


# -- into a runtime -----------------------------------------------------------------------------
@action(name="LEAKY")
def leaky(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    raise RuntimeError(f"upstream refused {runtime.get_setting('SERVICE_CREDENTIAL')}")


async def test_loaded_secrets_are_masked_everywhere(store: SecretStore) -> None:
    # A name without a secret-looking suffix: load_into must mark it secret itself.
    store.set("SERVICE_CREDENTIAL", SECRET)
    rt = AgentRuntime(use_env=False)
    assert store.load_into(rt) == ["SERVICE_CREDENTIAL"]
    assert rt.get_setting("SERVICE_CREDENTIAL") == SECRET
    await rt.register_plugin(Plugin(name="leaky", actions=[leaky]))
    result = await rt.execute_action("LEAKY")
    assert result.error is not None
    assert result.error.message == "upstream refused ***"
    shown = [
        repr(result),
        result._repr_html_(),
        repr(rt),
        str(rt.settings.masked()),
        rt.errors_frame().to_csv(),
        str(rt.snapshot()),
    ]
    assert not [s for s in shown if SECRET in s]
    assert rt.settings.masked()["SERVICE_CREDENTIAL"] == "***"
    await rt.aclose()


def test_load_into_is_all_or_nothing(store: SecretStore) -> None:
    store.set("A_KEY", "good-value")
    store.set("B_KEY", "other-value")
    _rewrite(store, "B_KEY", "ciphertext", _flip_first)
    rt = AgentRuntime(use_env=False)
    with pytest.raises(SecretError):
        store.load_into(rt)
    assert rt.get_setting("A_KEY") is None
    assert store.load_into(rt, ["A_KEY"]) == ["A_KEY"]
    assert rt.get_setting("A_KEY") == "good-value"


# -- set_secret_interactive ------------------------------------------------------------------------
def test_set_secret_interactive_prompts_with_getpass(
    store: SecretStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return SECRET

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    changes: list[dict[str, Any]] = []
    rt = AgentRuntime(use_env=False)
    rt.run_sync(rt.register_plugin(Plugin(name="watch", on_config_change=changes.append)))
    assert set_secret_interactive(rt, "SERVICE_CREDENTIAL", store) is None
    assert prompts == ["Value for SERVICE_CREDENTIAL (input hidden): "]
    assert rt.get_setting("SERVICE_CREDENTIAL") == SECRET
    assert rt.settings.masked()["SERVICE_CREDENTIAL"] == "***"
    assert rt.settings.masker.mask(f"x {SECRET} y") == "x *** y"
    assert changes == [{"SERVICE_CREDENTIAL": SECRET}]
    assert store.get("SERVICE_CREDENTIAL") == SECRET
    rt.close()


def test_set_secret_interactive_without_store_or_value() -> None:
    rt = AgentRuntime(use_env=False)
    set_secret_interactive(rt, "TOKEN", getpass_fn=lambda prompt: "tok-123456")
    assert rt.get_setting("TOKEN") == "tok-123456"
    with pytest.raises(SecretError, match="No value entered"):
        set_secret_interactive(rt, "TOKEN", getpass_fn=lambda prompt: "")
    assert rt.get_setting("TOKEN") == "tok-123456"
    with pytest.raises(SecretError, match="name"):
        set_secret_interactive(rt, "", getpass_fn=lambda prompt: "x")
    rt.close()


@pytest.mark.parametrize("error", [NotImplementedError, EOFError])
def test_set_secret_interactive_without_a_terminal_says_what_to_use(
    error: type[BaseException],
) -> None:
    from IPython.core.error import StdinNotImplementedError

    def no_input(prompt: str) -> str:
        raise (StdinNotImplementedError("no stdin") if error is NotImplementedError else error())

    rt = AgentRuntime(use_env=False)
    with pytest.raises(SecretError) as info:
        set_secret_interactive(rt, "API_KEY", getpass_fn=no_input)
    message = str(info.value)
    assert "\n" not in message
    assert "%eliza set API_KEY=" in message and "SecretStore" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert rt.get_setting("API_KEY") is None
    rt.close()
