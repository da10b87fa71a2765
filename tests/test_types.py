"""Content, Memory, State, ActionExample, ErrorInfo and ActionResult."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pydantic
import pytest

from eliza_nb import ActionExample, ActionResult, Content, ErrorInfo, Memory, State
from eliza_nb.types import new_id, quick_message


class TestContent:
    def test_defaults(self) -> None:
        c = Content()
        assert (c.text, c.action, c.source, c.url, c.in_reply_to) == ("", None, None, None, None)
        assert c.attachments == []

    def test_extra_keys_are_kept(self) -> None:
        c = Content(text="hi", action="GREET", mood="cheerful", thought={"depth": 2})
        assert c.model_extra == {"mood": "cheerful", "thought": {"depth": 2}}
        assert c.model_dump()["mood"] == "cheerful"

    def test_attachments_are_not_shared_between_instances(self) -> None:
        a, b = Content(), Content()
        a.attachments.append("x")
        assert b.attachments == []

    def test_text_of_wrong_type_is_rejected_naming_the_field(self) -> None:
        with pytest.raises(pydantic.ValidationError, match="text"):
            Content(text=["not", "text"])


class TestMemory:
    def test_ids_are_generated_unique_uuids(self) -> None:
        a, b = Memory(), Memory()
        assert isinstance(a.id, uuid.UUID)
        assert a.id != b.id

    def test_defaults_and_text_shortcut(self) -> None:
        m = Memory(content={"text": "hello"})
        assert (m.user_id, m.agent_id, m.room_id) == ("user", "agent", "default")
        assert m.text == "hello"
        assert isinstance(m.content, Content)
        assert m.embedding is None

    def test_created_at_is_utc_aware(self) -> None:
        m = Memory()
        assert m.created_at.tzinfo is not None
        assert m.created_at.utcoffset() == timedelta(0)

    def test_naive_datetime_is_taken_as_utc(self) -> None:
        m = Memory(created_at=datetime(2024, 1, 2, 3, 4, 5))
        assert m.created_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

    def test_other_timezone_is_converted_to_utc(self) -> None:
        plus2 = timezone(timedelta(hours=2))
        m = Memory(created_at=datetime(2024, 1, 2, 12, 0, tzinfo=plus2))
        assert m.created_at.utcoffset() == timedelta(0)
        assert m.created_at.hour == 10

    def test_uuid_ids_become_strings(self) -> None:
        room = uuid.uuid4()
        m = Memory(room_id=room, user_id=room, agent_id=room)
        assert m.room_id == m.user_id == m.agent_id == str(room)

    def test_unknown_fields_are_rejected(self) -> None:
        with pytest.raises(pydantic.ValidationError, match="colour"):
            Memory(colour="blue")

    def test_embedding_is_a_list_of_floats(self) -> None:
        assert Memory(embedding=[1, 2.5]).embedding == [1.0, 2.5]
        with pytest.raises(pydantic.ValidationError, match="embedding"):
            Memory(embedding=["a"])

    def test_quick_message_equals_a_validated_memory(self) -> None:
        quick = quick_message("hi", "u", "a", "r")
        slow = Memory.model_validate(quick.model_dump())
        assert quick.model_dump() == slow.model_dump()
        assert quick.content.model_dump() == Content(text="hi").model_dump()

    def test_quick_message_behaves_like_a_model(self) -> None:
        import copy
        import pickle

        quick = quick_message("hi", "u", "a", "r")
        assert quick.model_dump(exclude_unset=True).keys() == {
            "user_id",
            "agent_id",
            "room_id",
            "content",
        }
        quick.content.text = "changed"  # assignment works and is tracked as set
        assert quick.content.model_fields_set == {"text"}
        assert pickle.loads(pickle.dumps(quick)) == quick
        assert copy.deepcopy(quick) == quick
        assert quick_message("hi", "u", "a", "r").id != quick.id


def test_new_id_round_trips_through_text() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    one = next(iter(ids))
    assert uuid.UUID(str(one)) == one
    assert hash(uuid.UUID(str(one))) == hash(one)


class TestState:
    def test_defaults(self) -> None:
        s = State()
        assert (s.values, s.recent_messages, s.actions, s.text) == ({}, [], [], "")

    def test_values_by_key(self) -> None:
        s = State(values={"time": "noon"})
        assert s["time"] == "noon"
        with pytest.raises(KeyError):
            s["weather"]


class TestActionExample:
    def test_content_dict_is_coerced(self) -> None:
        ex = ActionExample(user="{{user1}}", content={"text": "hi", "action": "GREET"})
        assert ex.content == Content(text="hi", action="GREET")

    @pytest.mark.parametrize("missing", ["user", "content"])
    def test_fields_are_required(self, missing: str) -> None:
        fields = {"user": "u", "content": {"text": "x"}}
        del fields[missing]
        with pytest.raises(pydantic.ValidationError, match=missing):
            ActionExample.model_validate(fields)


def test_error_info_fields() -> None:
    info = ErrorInfo(code="HANDLER_ERROR", message="boom")
    assert (info.code, info.message, info.error_type, info.traceback) == (
        "HANDLER_ERROR",
        "boom",
        "",
        "",
    )
    with pytest.raises(pydantic.ValidationError, match="code"):
        ErrorInfo(message="no code")


class TestActionResult:
    def make(self, **kw: object) -> ActionResult:
        fields: dict[str, object] = {
            "run_id": 3,
            "action": "ECHO",
            "plugin": "p",
            "success": True,
            "text": "hi",
            "started": 0.0,
            "duration_ms": 1.5,
        }
        fields.update(kw)
        return ActionResult(**fields)  # type: ignore[arg-type]

    def test_started_at_is_utc(self) -> None:
        assert self.make().started_at == datetime(1970, 1, 1, tzinfo=UTC)

    def test_model_dump(self) -> None:
        result = self.make(responses=[Content(text="r")], data={"n": 1})
        dumped = result.model_dump()
        assert dumped["responses"] == [{"text": "r"}]
        assert dumped["data"] == {"n": 1}
        assert dumped["error"] is None
        assert set(dumped) == {
            "run_id",
            "action",
            "plugin",
            "success",
            "text",
            "values",
            "data",
            "responses",
            "error",
            "started_at",
            "duration_ms",
        }

    def test_error_code(self) -> None:
        assert self.make().error_code is None
        failed = self.make(success=False, error=ErrorInfo(code="TIMEOUT", message="slow"))
        assert failed.error_code == "TIMEOUT"
        assert failed.model_dump()["error"]["code"] == "TIMEOUT"

    def test_repr_is_short_and_says_the_outcome(self) -> None:
        assert "ok" in repr(self.make())
        failed = self.make(success=False, text=None, error=ErrorInfo(code="X", message="m"))
        assert "failed X" in repr(failed)

    def test_equality_by_value_and_unhashable(self) -> None:
        assert self.make() == self.make()
        assert self.make() != self.make(text="other")
        assert self.make().__eq__(object()) is NotImplemented
        with pytest.raises(TypeError):
            hash(self.make())

    def test_responses_default_to_a_fresh_list(self) -> None:
        a, b = self.make(), self.make()
        a.responses.append(Content())
        assert b.responses == []
