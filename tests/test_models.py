"""Model handlers: ModelType, priority lookup, use_model, embeddings and the deterministic model."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eliza_nb import (
    AgentRuntime,
    ModelNotFoundError,
    ModelType,
    Plugin,
    ValidationError,
)
from eliza_nb.models import MODEL_COLUMNS, ModelRegistry, embed_text, model_key
from eliza_nb.testing import DeterministicModel, hash_embedding


def echo_model(tag: str) -> Any:
    def handler(runtime: Any, params: dict[str, Any]) -> str:
        return f"{tag}:{params.get('prompt', '')}"

    return handler


def model_plugin(name: str, priority: int = 0, **models: Any) -> Plugin:
    return Plugin(name=name, priority=priority, models=models or {"TEXT_SMALL": echo_model(name)})


# -- ModelType and the registry -----------------------------------------------------------
def test_model_types_are_the_elizaos_names() -> None:
    assert [m.value for m in ModelType] == [
        "TEXT_SMALL",
        "TEXT_LARGE",
        "TEXT_EMBEDDING",
        "OBJECT_SMALL",
        "OBJECT_LARGE",
    ]
    assert ModelType.TEXT_SMALL == "TEXT_SMALL"
    assert model_key("text_small") == model_key(ModelType.TEXT_SMALL) == "TEXT_SMALL"


@pytest.mark.parametrize("bad", ["", "  ", None, 3])
def test_model_key_rejects_non_names(bad: Any) -> None:
    with pytest.raises(ValidationError):
        model_key(bad)


def test_plugin_models_are_checked_when_the_plugin_is_created() -> None:
    with pytest.raises(ValidationError, match="field 'models' must be a dict"):
        Plugin(name="p", models=[echo_model("x")])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="model TEXT_SMALL must be a function"):
        Plugin(name="p", models={"TEXT_SMALL": "not callable"})
    with pytest.raises(ValidationError, match=r"handler\(runtime, params\)"):
        Plugin(name="p", models={"TEXT_SMALL": lambda params: params})
    assert list(Plugin(name="p", models={"text_large": echo_model("x")}).models) == ["TEXT_LARGE"]


def test_the_highest_priority_serves_and_the_first_registered_wins_a_tie() -> None:
    reg = ModelRegistry()
    reg.add("TEXT_SMALL", echo_model("a"), "a", 0)
    reg.add("TEXT_SMALL", echo_model("b"), "b", 0)
    assert reg.resolve("TEXT_SMALL").plugin == "a"  # type: ignore[union-attr]
    reg.add("TEXT_SMALL", echo_model("c"), "c", 5)
    assert reg.resolve(ModelType.TEXT_SMALL).plugin == "c"  # type: ignore[union-attr]
    reg.remove_plugin("c")
    assert reg.resolve("text_small").plugin == "a"  # type: ignore[union-attr]
    reg.remove_plugin("a")
    reg.remove_plugin("b")
    assert reg.resolve("TEXT_SMALL") is None
    assert reg.types() == []


async def test_use_model_calls_the_highest_priority_plugin(runtime: AgentRuntime) -> None:
    await runtime.register_plugin(model_plugin("low", priority=1))
    await runtime.register_plugin(model_plugin("high", priority=10))
    await runtime.register_plugin(model_plugin("default"))
    assert await runtime.use_model(ModelType.TEXT_SMALL, prompt="hi") == "high:hi"
    await runtime.unregister_plugin("high")
    assert await runtime.use_model("TEXT_SMALL", {"prompt": "hi"}) == "low:hi"


async def test_use_model_merges_a_params_dict_and_keywords(runtime: AgentRuntime) -> None:
    seen: list[dict[str, Any]] = []

    async def handler(rt: Any, params: dict[str, Any]) -> str:
        seen.append(params)
        return "ok"

    runtime.register_model("TEXT_LARGE", handler)
    assert (
        await runtime.use_model("TEXT_LARGE", {"prompt": "p", "temperature": 0}, temperature=1)
        == "ok"
    )
    assert seen == [{"prompt": "p", "temperature": 1}]


async def test_a_missing_model_raises_model_not_found(runtime: AgentRuntime) -> None:
    await runtime.register_plugin(model_plugin("small"))
    with pytest.raises(ModelNotFoundError, match="No plugin serves model TEXT_LARGE") as info:
        await runtime.use_model(ModelType.TEXT_LARGE, prompt="x")
    assert info.value.code == "MODEL_NOT_FOUND"
    assert info.value.details["served"] == ["TEXT_SMALL"]


async def test_replacing_a_plugin_replaces_its_models(runtime: AgentRuntime) -> None:
    await runtime.register_plugin(model_plugin("m", TEXT_SMALL=echo_model("v1")))
    await runtime.register_plugin(model_plugin("m", TEXT_SMALL=echo_model("v2")))
    assert await runtime.use_model("TEXT_SMALL", prompt="") == "v2:"
    assert len(runtime.models_frame()) == 1


async def test_models_frame_lists_each_handler_and_who_serves(runtime: AgentRuntime) -> None:
    empty = runtime.models_frame()
    assert list(empty.columns) == [c for c, _ in MODEL_COLUMNS] and empty.empty
    assert str(empty["priority"].dtype) == "int64"
    await runtime.register_plugin(model_plugin("low", 0, TEXT_SMALL=echo_model("l")))
    await runtime.register_plugin(model_plugin("high", 3, TEXT_SMALL=echo_model("h")))
    frame = runtime.models_frame()
    assert frame[["model_type", "plugin", "priority", "serving"]].values.tolist() == [
        ["TEXT_SMALL", "high", 3, True],
        ["TEXT_SMALL", "low", 0, False],
    ]


def test_register_model_rejects_a_non_callable(runtime: AgentRuntime) -> None:
    with pytest.raises(ValidationError):
        runtime.register_model("TEXT_SMALL", "nope")  # type: ignore[arg-type]


# -- embeddings ---------------------------------------------------------------------------
async def test_without_an_embedding_model_memories_have_none(runtime: AgentRuntime) -> None:
    mem = await runtime.messages.create_memory("hello", room_id="r")
    assert mem.embedding is None
    assert await embed_text(runtime, "hello") is None
    found = await runtime.messages.search_memories("r", query="hell")  # falls back to text
    assert [m.text for m in found] == ["hello"]


async def test_an_embedding_model_fills_embeddings_and_ranks_by_similarity(
    runtime: AgentRuntime,
) -> None:
    await runtime.register_plugin(DeterministicModel(dim=256).plugin)
    for text in ["the weather in paris is sunny", "stock prices fell today", "paris weather"]:
        mem = await runtime.messages.create_memory(text, room_id="r")
        assert mem.embedding == hash_embedding(text, 256)
    found = await runtime.messages.search_memories("r", query="weather paris", top_k=2)
    assert [m.text for m in found] == ["paris weather", "the weather in paris is sunny"]


async def test_a_failing_embedding_model_still_stores_the_memory(runtime: AgentRuntime) -> None:
    def broken(rt: Any, params: dict[str, Any]) -> list[float]:
        raise RuntimeError("embedding backend down")

    runtime.register_model(ModelType.TEXT_EMBEDDING, broken)
    mem = await runtime.messages.create_memory("keep me", room_id="r")
    assert mem.embedding is None
    assert await runtime.messages.count_memories("r") == 1
    errors = runtime.errors_frame()
    assert errors["code"].tolist() == ["EMBEDDING_ERROR"]
    assert "embedding backend down" in errors["message"][0]


async def test_an_embedding_model_must_return_numbers(runtime: AgentRuntime) -> None:
    runtime.register_model(ModelType.TEXT_EMBEDDING, lambda rt, params: "not a vector")
    with pytest.raises(ValidationError, match="list of numbers"):
        await embed_text(runtime, "x")


# -- the deterministic model --------------------------------------------------------------
def test_hash_embeddings_are_stable_unit_vectors() -> None:
    a = hash_embedding("Hello world", 32)
    assert a == hash_embedding("hello  WORLD", 32)
    assert len(a) == 32 and abs(sum(x * x for x in a) - 1.0) < 1e-9
    assert hash_embedding("", 8) == [0.0] * 8


async def test_the_deterministic_model_follows_its_script(runtime: AgentRuntime) -> None:
    async def later(params: dict[str, Any]) -> str:
        return f"computed from {params['prompt']}"

    model = DeterministicModel(
        ["first", {"k": 1}, later, ValueError("scripted failure")], default_text="default"
    )
    await runtime.register_plugin(model.plugin)
    assert await runtime.use_model("TEXT_SMALL", prompt="a") == "first"
    assert await runtime.use_model("TEXT_LARGE", prompt="b") == '{"k": 1}'
    assert await runtime.use_model("TEXT_LARGE", prompt="c") == "computed from c"
    with pytest.raises(ValueError, match="scripted failure"):
        await runtime.use_model("TEXT_SMALL", prompt="d")
    assert await runtime.use_model("TEXT_SMALL", prompt="e") == "default"
    assert [kind for kind, _ in model.calls] == [
        "TEXT_SMALL",
        "TEXT_LARGE",
        "TEXT_LARGE",
        "TEXT_SMALL",
        "TEXT_SMALL",
    ]


async def test_object_models_answer_dicts(runtime: AgentRuntime) -> None:
    model = DeterministicModel(['{"a": 1}', "plain", {"b": 2}])
    await runtime.register_plugin(model.plugin)
    assert await runtime.use_model("OBJECT_SMALL", prompt="") == {"a": 1}
    assert await runtime.use_model("OBJECT_LARGE", prompt="") == {"text": "plain"}
    assert await runtime.use_model("OBJECT_LARGE", prompt="") == {"b": 2}


async def test_a_responder_answers_after_the_script(runtime: AgentRuntime) -> None:
    model = DeterministicModel(["scripted"], responder=lambda params: params["prompt"][::-1])
    model.add_replies("also scripted")
    await runtime.register_plugin(model.plugin)
    answers = [await runtime.use_model("TEXT_SMALL", prompt="abc") for _ in range(3)]
    assert answers == ["scripted", "also scripted", "cba"]


async def test_a_higher_priority_model_plugin_takes_over(runtime: AgentRuntime) -> None:
    await runtime.register_plugin(DeterministicModel(default_text="base").plugin)
    await runtime.register_plugin(
        DeterministicModel(default_text="preferred", name="preferred", priority=5).plugin
    )
    assert await runtime.use_model("TEXT_SMALL", prompt="") == "preferred"


def test_use_model_works_from_sync_code() -> None:
    rt = AgentRuntime(use_env=False)
    try:
        rt.run_sync(rt.register_plugin(DeterministicModel(default_text="sync").plugin))
        assert rt.run_sync(rt.use_model("TEXT_SMALL", prompt="")) == "sync"
    finally:
        rt.close()


async def test_concurrent_model_calls_each_get_an_answer(runtime: AgentRuntime) -> None:
    await runtime.register_plugin(DeterministicModel(default_text="{message}").plugin)
    answers = await asyncio.gather(
        *(runtime.use_model("TEXT_SMALL", prompt=str(i)) for i in range(5))
    )
    assert answers == ["0", "1", "2", "3", "4"]
