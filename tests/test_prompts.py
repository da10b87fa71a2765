"""eliza_nb.prompts: the two templates, compose_prompt, parse_key_value_xml and friends."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eliza_nb import AgentRuntime, Character, Content, Memory, State, ValidationError
from eliza_nb.prompts import (
    MESSAGE_HANDLER_TEMPLATE,
    SHOULD_RESPOND_TEMPLATE,
    compose_prompt,
    parse_key_value_xml,
    parse_should_respond,
    template_for,
)
from eliza_nb.settings import Masker

SECRET = "sk-test-0123456789"


def placeholders(template: str) -> set[str]:
    return set(re.findall(r"\{\{\s*(\w+)\s*\}\}", template))


# -- the templates ----------------------------------------------------------------------
def test_the_message_handler_template_has_its_documented_placeholders() -> None:
    assert placeholders(MESSAGE_HANDLER_TEMPLATE) == {
        "agentName",
        "bio",
        "providers",
        "actionNames",
        "actions",
        "recentMessages",
        "providerNames",
    }


def test_the_should_respond_template_has_its_documented_placeholders() -> None:
    assert placeholders(SHOULD_RESPOND_TEMPLATE) == {"agentName", "providers", "recentMessages"}


def test_the_message_handler_template_asks_for_the_elizaos_answer() -> None:
    example = re.search(r"<response>.*?</response>", MESSAGE_HANDLER_TEMPLATE, re.S)
    assert example is not None
    assert parse_key_value_xml(example.group()) == {
        "thought": "...",
        "actions": ["ACTION1", "ACTION2"],
        "providers": ["PROVIDER1", "PROVIDER2"],
        "text": "...",
    }
    assert "REPLY" in MESSAGE_HANDLER_TEMPLATE and "IGNORE" in MESSAGE_HANDLER_TEMPLATE


def test_the_should_respond_template_asks_for_the_elizaos_answer() -> None:
    prompt = compose_prompt(SHOULD_RESPOND_TEMPLATE, {"agentName": "Ada"})
    example = re.search(r"<response>.*?</response>", prompt, re.S)
    assert example is not None
    assert parse_key_value_xml(example.group()) == {
        "name": "Ada",
        "reasoning": "...",
        "action": "RESPOND | IGNORE | STOP",
    }


def test_a_filled_template_leaves_no_placeholder_behind() -> None:
    values = {name: f"<{name}>" for name in placeholders(MESSAGE_HANDLER_TEMPLATE)}
    prompt = compose_prompt(MESSAGE_HANDLER_TEMPLATE, values)
    assert "{{" not in prompt and "}}" not in prompt
    assert "<recentMessages>" in prompt and "<actionNames>" in prompt


# -- parse_key_value_xml: the elizaOS test cases -----------------------------------------
# Every parseKeyValueXml case of packages/core/src/__tests__/utils.test.ts in elizaOS/eliza
# (describe('parseKeyValueXml') and the top-level 'parseKeyValueXml parses simple xml block'),
# read at commit 1ebdb65 of the 1.x line, written here in Python; each also checked against
# the JavaScript of @elizaos/core 1.7.2 (src/utils.ts in its source map, git e91c91c).
ELIZAOS_CASES = [
    pytest.param(
        """<response>
                <name>TestAgent</name>
                <reasoning>Test reasoning</reasoning>
                <action>RESPOND</action>
            </response>""",
        {"name": "TestAgent", "reasoning": "Test reasoning", "action": "RESPOND"},
        id="should parse response XML blocks",
    ),
    pytest.param(
        """<response>
                <actions>ACTION1,ACTION2,ACTION3</actions>
                <providers>PROVIDER1, PROVIDER2</providers>
                <evaluators>EVAL1, EVAL2</evaluators>
            </response>""",
        {
            "actions": ["ACTION1", "ACTION2", "ACTION3"],
            "providers": ["PROVIDER1", "PROVIDER2"],
            "evaluators": ["EVAL1", "EVAL2"],
        },
        id="should handle comma-separated lists for specific keys",
    ),
    pytest.param(
        "<response><simple>true</simple><complex>false</complex></response>",
        {"simple": True, "complex": "false"},  # only "simple" is read as a boolean
        id="should parse boolean values",
    ),
    pytest.param(
        "<response><text>Value with &lt;tags&gt; &amp; entities</text></response>",
        {"text": "Value with <tags> & entities"},
        id="should handle XML entities",
    ),
    pytest.param("", None, id="should return null for invalid XML (empty)"),
    pytest.param("not xml", None, id="should return null for invalid XML (not xml)"),
    pytest.param("<unclosed>", None, id="should return null for invalid XML (unclosed)"),
    pytest.param(
        "<custom><key>value</key></custom>", {"key": "value"}, id="should handle any root tag name"
    ),
    pytest.param(
        "<response><start>value</end></response>", None, id="should handle mismatched XML tags"
    ),
    pytest.param(
        "<response></response>", None, id="should return null when no key-value pairs (empty)"
    ),
    pytest.param(
        "<response>Just plain text</response>",
        None,
        id="should return null when no key-value pairs (plain text)",
    ),
    pytest.param(
        """<response>
                <actions></actions>
                <providers> </providers>
            </response>""",
        {"actions": [], "providers": []},
        id="should handle empty comma-separated lists",
    ),
    pytest.param(
        # elizaOS asserts the text contains 'outer' and '<text>inner</text>'; this is all of it.
        "<container><text><text>inner</text>outer</text></container>",
        {"text": "<text>inner</text>outer"},
        id="should correctly handle nested same-name tags in fallback scan",
    ),
    pytest.param(
        "<sc /> <container><key>value</key></container>",
        {"key": "value"},
        id="should treat self-closing tags with whitespace as self-closing and skip them",
    ),
    pytest.param(
        "<response><key>value</key><actions>a,b</actions><simple>true</simple></response>",
        {"key": "value", "actions": ["a", "b"], "simple": True},
        id="parseKeyValueXml parses simple xml block",
    ),
]


@pytest.mark.parametrize(("text", "expected"), ELIZAOS_CASES)
def test_parse_key_value_xml_passes_the_elizaos_cases(text: str, expected: Any) -> None:
    assert parse_key_value_xml(text) == expected


def test_an_unclosed_response_is_parsed_in_linear_time() -> None:
    # elizaOS: 'should handle malicious input without ReDoS (unclosed response tag)'.
    start = time.perf_counter()
    assert parse_key_value_xml("<response>" + "a" * 10000) is None
    assert time.perf_counter() - start < 0.1


# -- parse_key_value_xml: behaviour the elizaOS tests leave open --------------------------
# Each expected value is what the JavaScript of @elizaos/core 1.7.2 returns for the text.
QUIRKS = [
    pytest.param(
        "Sure! <response><thought>t</thought></response> then <response><x>u</x></response>",
        {"thought": "t"},
        id="the first response block wins, prose around it is ignored",
    ),
    pytest.param(
        "<response></response><other><k>v</k></other>",
        None,
        id="an empty response falls back to the first element: that same empty response",
    ),
    pytest.param(
        "<k><a>1</a></k><response></response>",
        {"a": "1"},
        id="an empty response falls back to the first element, wherever it is",
    ),
    pytest.param(
        "<a>text</a><b><c>1</c></b>",
        None,
        id="the fallback is the first closed element, even without children",
    ),
    pytest.param(
        "<response><k>v</k>", None, id="an unclosed response falls back to a childless <k>"
    ),
    pytest.param(
        "<response><a>1</a><a>2</a></response>", {"a": "2"}, id="a later duplicate key wins"
    ),
    pytest.param(
        "<response><actions>A,,B,</actions><simple>TRUE</simple></response>",
        {"actions": ["A", "", "B", ""], "simple": True},
        id="empty list items are kept; simple ignores case",
    ),
    pytest.param(
        "<response><simple>yes</simple></response>", {"simple": False}, id="simple is only true"
    ),
    pytest.param(
        "<response><actions><action>A</action></actions></response>",
        {"actions": ["<action>A</action>"]},
        id="a nested list is split as text",
    ),
    pytest.param(
        '<response><a x="1">v</a><!-- <b>c</b> --><c/><d>w</d></response>',
        {"a": "v", "b": "c", "d": "w"},
        id="attributes are ignored, a comment's elements are read, self-closing skipped",
    ),
    pytest.param(
        "<response><text>a<textarea>b</textarea></text><x>1</x></response>",
        {"textarea": "b", "x": "1"},
        id="a <textarea> inside <text> counts as nesting, as in 1.7.2",
    ),
    pytest.param(
        "<response><text>&amp;quot;hi&amp;quot; &amp;lt;b&amp;gt;</text></response>",
        {"text": '"hi" &lt;b&gt;'},
        id="entities are unescaped in elizaOS order",
    ),
    pytest.param(
        "<response><a>\ufeff x \xa0</a><b>\x1cy\x85</b></response>",
        {"a": "x", "b": "\x1cy\x85"},
        id="whitespace is trimmed as JavaScript trims it",
    ),
    pytest.param(
        "<response><1>one</1><_-9>x</_-9></response>",
        {"1": "one", "_-9": "x"},
        id="tag names are letters, digits, _ and -",
    ),
    pytest.param(
        "<r><a>1<a>2</a>3</a><a/><a>4</a></r>",
        {"a": "4"},
        id="nested same-name children: the last complete one wins",
    ),
    pytest.param(
        "<r><a><a /><a>x</a></a><b>y</b></r>",
        {"a": "<a /><a>x</a>", "b": "y"},
        id="a self-closing same-name tag does not nest",
    ),
    pytest.param(
        "<r><a><a></a></r><a>z</a>", {"a": ""}, id="an unbalanced child gives way to its inner one"
    ),
    pytest.param(
        "<a><b>1</b><a><b>2</b></a>",
        None,
        id="an unbalanced first element: the fallback is its childless <b>",
    ),
    pytest.param(
        "<r/><k>v</k></r>", None, id="a self-closing first tag is no block, even if closed later"
    ),
    pytest.param("<a/ ><k>v</k></a>", None, id="whitespace between / and > still self-closes"),
    pytest.param(
        "<r><a x='<a'>v</a></r>", {"a": "v"}, id="a start tag inside an attribute is skipped"
    ),
    pytest.param(
        "<response><text>Use <b>bold</b> text</text><actions>REPLY</actions></response>",
        {"text": "Use <b>bold</b> text", "actions": ["REPLY"]},
        id="markup inside a value is kept",
    ),
    pytest.param(
        "<response><__proto__>x</__proto__></response>",
        {"__proto__": "x"},
        id="a __proto__ key is kept (JavaScript drops it: the one difference)",
    ),
]


@pytest.mark.parametrize(("text", "expected"), QUIRKS)
def test_parse_key_value_xml_matches_elizaos_1_7_2(text: str, expected: Any) -> None:
    assert parse_key_value_xml(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "<a>" * 20000,
        "<a>" * 50000 + "</a>",
        ("<a>" * 20000 + "</a>") * 3,
        "".join(f"<a{i}>" for i in range(20000)),
        "<response>" + "<k>v</k>" * 20000 + "</response>",
        "<" * 100000,
    ],
    ids=["unclosed", "deep", "deep-thrice", "distinct", "many-keys", "brackets"],
)
def test_pathological_nesting_is_parsed_quickly(text: str) -> None:
    # The JavaScript is cubic on deep nesting (8 KB of "<a>" took 6 s in a plain port).
    start = time.perf_counter()
    parse_key_value_xml(text)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("bad", [None, 42, b"<response></response>", ["<a>b</a>"]])
def test_parse_key_value_xml_rejects_a_non_string(bad: Any) -> None:
    with pytest.raises(ValidationError, match="text must be a string") as info:
        parse_key_value_xml(bad)
    assert info.value.field == "text"


XMLISH = st.lists(
    st.sampled_from([*"<>/!?-_ ax,\n\t\xa0&;\"'=", "response", "actions", "simple", "text"]),
    max_size=60,
).map("".join)


@given(st.one_of(st.text(), XMLISH))
def test_parse_key_value_xml_never_raises_on_text(text: str) -> None:
    result = parse_key_value_xml(text)
    assert result is None or (result and all(isinstance(k, str) for k in result))


KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}", fullmatch=True).filter(
    lambda k: k not in {"actions", "providers", "evaluators", "simple", "response"}
)
# What JavaScript's trim() removes: the parser trims values so, and decodes "&amp;quot;"
# twice (as elizaOS does); values with either cannot round-trip.
JS_SPACE = "\t\n\v\f\r \xa0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    chr(c) for c in range(0x2000, 0x200B)
)
VALUES = st.text(st.characters(exclude_categories=["Cs"]), max_size=30).filter(
    lambda v: v == v.strip(JS_SPACE) and "&quot;" not in v and "&apos;" not in v
)
NAMES = st.lists(st.from_regex(r"[A-Z][A-Z_]{0,10}", fullmatch=True), max_size=4)


def xml_escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@given(st.dictionaries(KEYS, VALUES, min_size=1, max_size=5), NAMES, st.booleans())
def test_a_rendered_response_round_trips(
    fields: dict[str, str], actions: list[str], simple: bool
) -> None:
    children = "".join(f"<{k}>{xml_escape(v)}</{k}>" for k, v in fields.items())
    text = f"Here you go:\n<response>{children}<actions>{','.join(actions)}</actions>"
    text += f"<simple>{str(simple).lower()}</simple></response>"
    assert parse_key_value_xml(text) == {**fields, "actions": actions, "simple": simple}


# -- compose_prompt ---------------------------------------------------------------------
# composePrompt / composePromptFromState cases of the same elizaOS test file, in Python.
def test_compose_fills_values_and_fields_like_compose_prompt_from_state() -> None:
    state = State(
        values={"bio": "I am a helpful assistant", "lore": "Created to help with tasks"},
        recent_messages=[Memory(user_id="user-1", content={"text": "Hello"})],
    )
    prompt = compose_prompt("Bio: {{bio}}\nLore: {{lore}}\nRecent: {{recentMessages}}", state)
    assert prompt == "Bio: I am a helpful assistant\nLore: Created to help with tasks\n" + (
        "Recent: user-1: Hello"
    )


def test_a_missing_name_renders_empty_as_in_handlebars() -> None:
    assert compose_prompt("Bio: {{bio}}\nMissing: {{missingProp}}", State()) == "Bio: \nMissing: "
    assert compose_prompt("Hello {{name}}, your role is {{role}}.", {"name": "Bob"}) == (
        "Hello Bob, your role is ."
    )
    assert compose_prompt("Template with {{placeholder}}.", {}) == "Template with ."


def test_values_and_other_fields_are_flattened_but_not_text_values_or_data() -> None:
    state = State(values={"b": "y"}, actions=["z"], text="provider text")
    assert compose_prompt("{{b}} {{actions}}", state) == "y z"
    assert compose_prompt("[{{text}}][{{values}}][{{data}}]", state) == "[][][]"


def test_a_placeholder_repeats_and_takes_spaces_and_triple_braces() -> None:
    assert compose_prompt("{{word}} {{ word }} {{{word}}} {{{ word }}}", {"word": "test"}) == (
        "test test test test"
    )


def test_values_win_over_fields_and_the_fallbacks() -> None:
    state = State(values={"actions": "- GREET: says hello", "providers": "from values"})
    state.actions, state.text = ["GREET"], "from text"
    assert compose_prompt("{{actions}}|{{actionNames}}|{{providers}}", state) == (
        "- GREET: says hello|GREET|from values"
    )


def test_providers_and_action_names_fall_back_to_the_state() -> None:
    state = State(actions=["GREET", "REPLY"], text="# Time\nnoon")
    assert compose_prompt("{{providers}} / {{actionNames}}", state) == "# Time\nnoon / GREET, REPLY"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (1.5, "1.5"),
        (["a", 1, None, True], "a, 1, , true"),
        ((), ""),
        ({"k": [1, "é"]}, '{"k": [1, "é"]}'),
        (Memory(user_id="ann", content={"text": "hi"}), "ann: hi"),
        (
            [Memory(user_id="a", content={"text": "1"}), Memory(content={"text": "2"})],
            "a: 1\nuser: 2",
        ),
        ({"nested": {"deep": object}}, '{"nested": {"deep": "<class \'object\'>"}}'),
    ],
    ids=lambda v: type(v).__name__,
)
def test_values_render_as_documented(value: Any, shown: str) -> None:
    assert compose_prompt("<{{v}}>", {"v": value}) == f"<{shown}>"


def test_a_model_renders_as_json_and_an_unserialisable_dict_as_text() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    content = Content(text="hi", action="GREET")
    assert compose_prompt("{{m}}", {"m": content}) == (
        '{"text": "hi", "action": "GREET", "source": null, "url": null, "in_reply_to": null, '
        '"attachments": []}'
    )
    assert compose_prompt("{{c}}", {"c": cyclic}) == "{'self': {...}}"
    assert compose_prompt("{{t}}", {"t": {(1, 2): "tuple key"}}) == "{(1, 2): 'tuple key'}"


def test_a_dotted_name_looks_into_dicts() -> None:
    values = {"user": {"name": "Ann", "tags": ["x"]}, "flat": "s", "a.b": "dotted key"}
    assert compose_prompt("{{user.name}} {{user.tags}} [{{user.age}}] [{{flat.x}}]", values) == (
        "Ann x [] []"
    )
    assert compose_prompt("{{a.b}}", values) == "dotted key"


def test_nested_and_cyclic_lists_render_without_recursing_forever() -> None:
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    assert compose_prompt("{{v}}", {"v": ["a", ["b", 2], {"k": None}]}) == (
        'a, ["b", 2], {"k": null}'
    )
    assert compose_prompt("{{v}}", {"v": cyclic}) == "1, [1, [...]]"


def test_block_helpers_are_left_as_written() -> None:
    template = "{{#if name}}Hi {{name}}{{/if}} {{!-- note --}} {{> partial}}"
    assert compose_prompt(template, {"name": "Ann"}) == (
        "{{#if name}}Hi Ann{{/if}} {{!-- note --}} {{> partial}}"
    )


@given(st.text())
def test_a_value_is_inserted_as_it_is_never_expanded_again(value: str) -> None:
    assert compose_prompt("[{{v}}]", {"v": value, "w": "no"}) == f"[{value}]"


SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
NESTED = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner)
        | st.frozensets(SCALARS, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
TEMPLATES = st.lists(
    st.sampled_from(["{{", "}}", "{{{", "}}}", " ", "a", "b", ".", "#", "x y", "{{a}}", "{{a.b}}"]),
    max_size=12,
).map("".join)


@given(TEMPLATES, st.dictionaries(st.sampled_from(["a", "b", "a.b"]), NESTED, max_size=3))
def test_compose_prompt_never_raises_on_any_values(template: str, values: dict[str, Any]) -> None:
    assert isinstance(compose_prompt(template, values), str)
    assert isinstance(compose_prompt(template, State(values=values)), str)


def test_the_result_is_masked_with_the_state_masker() -> None:
    masker = Masker()
    masker.add(SECRET)
    state = State(values={"token": SECRET}, text=f"key={SECRET}").masked_with(masker)
    prompt = compose_prompt(f"{{{{token}}}} {{{{providers}}}} {SECRET}", state)
    assert prompt == "*** key=*** ***"
    # A plain dict has no masker: what it holds is inserted as given.
    assert compose_prompt("{{token}}", {"token": SECRET}) == SECRET


async def test_a_secret_of_the_runtime_never_reaches_the_prompt() -> None:
    rt = AgentRuntime(settings={"ACME_API_KEY": SECRET}, use_env=False)
    try:
        state = await rt.compose_state("hello")
        state.values["leak"] = f"the key is {SECRET}"  # after compose_state masked its values
        prompt = compose_prompt("{{leak}} {{recentMessages}}", state)
        assert SECRET not in prompt and "the key is ***" in prompt
    finally:
        rt.close()


@pytest.mark.parametrize("bad", [None, 1, b"{{x}}", ["{{x}}"]])
def test_compose_prompt_rejects_a_template_that_is_not_a_string(bad: Any) -> None:
    with pytest.raises(ValidationError, match="template must be a string") as info:
        compose_prompt(bad, {})
    assert info.value.field == "template"


@pytest.mark.parametrize("bad", [None, "values", 3, ["x"]])
def test_compose_prompt_rejects_a_state_that_is_neither_state_nor_dict(bad: Any) -> None:
    with pytest.raises(ValidationError, match="state must be a State or a dict") as info:
        compose_prompt("{{x}}", bad)
    assert info.value.field == "state"


# -- parse_should_respond ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "choice"),
    [
        ("<response><name>Ada</name><reasoning>named</reasoning><action>RESPOND</action>", None),
        (
            "<response><name>Ada</name><reasoning>r</reasoning><action>RESPOND</action></response>",
            "RESPOND",
        ),
        ("<response><action> ignore </action></response>", "IGNORE"),
        ("<response><action>Stop</action></response>", "STOP"),
        ("<response><action>NONE</action></response>", "IGNORE"),
        ("<response><action>RESPOND | IGNORE | STOP</action></response>", None),
        ("<response><action>REPLY</action></response>", None),
        ("<response><name>Ada</name></response>", None),
        ("respond", "RESPOND"),
        ("  STOP!\n", "STOP"),
        ('"Ignore."', "IGNORE"),
        ("**RESPOND**", "RESPOND"),
        ("I would respond", None),
        ("", None),
    ],
)
def test_parse_should_respond(answer: str, choice: str | None) -> None:
    assert parse_should_respond(answer) == choice


def test_parse_should_respond_rejects_a_non_string() -> None:
    with pytest.raises(ValidationError) as info:
        parse_should_respond(None)  # type: ignore[arg-type]
    assert info.value.field == "text"


# -- template_for -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "default"),
    [
        ("messageHandlerTemplate", MESSAGE_HANDLER_TEMPLATE),
        ("message_handler", MESSAGE_HANDLER_TEMPLATE),
        ("shouldRespondTemplate", SHOULD_RESPOND_TEMPLATE),
        ("should_respond", SHOULD_RESPOND_TEMPLATE),
    ],
)
def test_template_for_gives_the_default_without_an_override(name: str, default: str) -> None:
    assert template_for(None, name) is default
    assert template_for(Character(name="Ada"), name) is default


def test_template_for_prefers_the_characters_template_under_either_spelling() -> None:
    ada = Character(
        name="Ada",
        templates={"messageHandlerTemplate": "custom handler", "should_respond": "custom respond"},
    )
    assert template_for(ada, "message_handler") == "custom handler"
    assert template_for(ada, "messageHandlerTemplate") == "custom handler"
    assert template_for(ada, "shouldRespondTemplate") == "custom respond"


def test_an_empty_override_counts_as_none() -> None:
    ada = Character(name="Ada", templates={"shouldRespondTemplate": ""})
    assert template_for(ada, "should_respond") is SHOULD_RESPOND_TEMPLATE


@pytest.mark.parametrize("bad", ["postCreationTemplate", "MESSAGE_HANDLER", "", None, 3])
def test_template_for_rejects_an_unknown_name(bad: Any) -> None:
    with pytest.raises(ValidationError, match="unknown template name") as info:
        template_for(None, bad)
    assert info.value.field == "name"
    assert "should_respond" in str(info.value)


@pytest.mark.parametrize("bad", ["Ada", {"name": "Ada"}, 1])
def test_template_for_rejects_a_character_of_the_wrong_type(bad: Any) -> None:
    with pytest.raises(ValidationError, match="character must be a Character") as info:
        template_for(bad, "message_handler")
    assert info.value.field == "character"
