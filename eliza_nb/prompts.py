"""The prompts of the elizaOS agent loop, how they are filled in, and how the answers are read.

Two templates play the roles of elizaOS 1.7's ``messageHandlerTemplate`` and
``shouldRespondTemplate`` and ask for the same XML answers (written for eliza_nb, not copied):
:data:`MESSAGE_HANDLER_TEMPLATE` for ``<response><thought>…</thought><actions>A,B</actions>
<providers>P1,P2</providers><text>…</text></response>`` (``REPLY`` alone to just answer,
``IGNORE`` alone to stay silent), :data:`SHOULD_RESPOND_TEMPLATE` for ``<response><name>…
</name><reasoning>…</reasoning><action>RESPOND | IGNORE | STOP</action></response>``.

Their placeholders (what the agent loop puts in ``state.values``):

================== ================================================ =========================
placeholder        what it holds                                    used by
================== ================================================ =========================
``agentName``      the agent's name                                 both
``bio``            the character's bio, a line per entry            message handler
``providers``      the composed provider text (``state.text``)      both
``actionNames``    the usable action names, ``"A, B"``              message handler
``actions``        one ``- NAME: description`` line per action      message handler
``recentMessages`` the conversation, the message to answer last     both
``providerNames``  the providers the model may ask for, ``"A, B"``  message handler
================== ================================================ =========================

:func:`compose_prompt` fills them in (elizaOS ``composePromptFromState``),
:func:`parse_key_value_xml` reads the answers (elizaOS 1.7.2 ``parseKeyValueXml``),
:func:`parse_should_respond` reads the should-respond answer, and :func:`template_for` picks a
character's own template (``Character.templates``) over the default.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from eliza_nb._checks import printable
from eliza_nb.character import Character
from eliza_nb.errors import ValidationError
from eliza_nb.types import Memory, State

__all__ = [
    "MESSAGE_HANDLER_TEMPLATE",
    "SHOULD_RESPOND_TEMPLATE",
    "compose_prompt",
    "parse_key_value_xml",
    "parse_should_respond",
    "template_for",
]

MESSAGE_HANDLER_TEMPLATE = """\
<task>Write the next message of {{agentName}} and choose the actions {{agentName}} takes.</task>

<character>
{{bio}}
</character>

<providers>
{{providers}}
</providers>

<available_actions>
Action names: {{actionNames}}
{{actions}}
</available_actions>

<conversation>
{{recentMessages}}
</conversation>

<instructions>
Read the last message of the conversation, think, then plan what {{agentName}} does next.

Choosing actions:
- The actions run one after another in the order you list them, so the order matters.
- Use only action names listed above, spelled as they are listed.
- Put REPLY first when {{agentName}} should answer before the other actions run.
- Use REPLY alone when {{agentName}} only needs to answer with text.
- Use IGNORE alone when {{agentName}} should not answer at all; never list it with others.

Choosing providers:
- Providers you may name for more context: {{providerNames}}.
- Name a provider only when {{agentName}} needs its context to answer correctly.
- Leave the list empty when no more context is needed; never name an action as a provider.

Writing the text:
- Put code in ``` fences (with the language when it is known), short names in single
  backticks, and never fence plain prose.
</instructions>

<keys>
"thought": one or two sentences on what {{agentName}} thinks and plans.
"actions": the action names {{agentName}} takes, comma-separated, in the order they run \
(REPLY to just answer, IGNORE to stay silent).
"providers": the provider names {{agentName}} needs for context, comma-separated (may be empty).
"text": the message {{agentName}} sends to the conversation.
</keys>

<output>
Answer with this XML block and nothing else: no preamble, no explanation, no <think> section.
<response>
    <thought>...</thought>
    <actions>ACTION1,ACTION2</actions>
    <providers>PROVIDER1,PROVIDER2</providers>
    <text>...</text>
</response>
Begin the answer with <response> and end it with </response>.
</output>"""
"""The message handler prompt: what the agent says and which actions it takes."""

SHOULD_RESPOND_TEMPLATE = """\
<task>Decide for {{agentName}} whether to answer the last message, ignore it, or leave the \
conversation.</task>

<providers>
{{providers}}
</providers>

<conversation>
{{recentMessages}}
</conversation>

<instructions>
Decide whether {{agentName}} takes part in the conversation now:
- The last message names {{agentName}}, replies to {{agentName}}, or continues a thread \
{{agentName}} is part of: RESPOND.
- It is addressed to someone else by another name, or it talks about {{agentName}} rather \
than to them: IGNORE.
- Someone asks {{agentName}} to stop, to be quiet or to leave: STOP.
- In every other case: IGNORE.
</instructions>

<output>
Answer with this XML block and nothing else: no preamble, no explanation, no <think> section.
<response>
  <name>{{agentName}}</name>
  <reasoning>...</reasoning>
  <action>RESPOND | IGNORE | STOP</action>
</response>
Begin the answer with <response> and end it with </response>.
</output>"""
"""The should-respond prompt: does the agent answer, ignore the message, or stop."""


# -- compose_prompt ---------------------------------------------------------------------
# {{{name}}} first, so its third braces are not left around a {{name}} match.
_PLACEHOLDER = re.compile(
    r"\{\{\{\s*([\w$-]+(?:\.[\w$-]+)*)\s*\}\}\}|\{\{\s*([\w$-]+(?:\.[\w$-]+)*)\s*\}\}"
)
_SKIPPED_FIELDS = frozenset({"text", "values", "data"})
_LISTS = (list, tuple, set, frozenset)


def compose_prompt(template: str, state: State | Mapping[str, Any]) -> str:
    """Fill a template's ``{{name}}`` and ``{{{name}}}`` placeholders from a state.

    As elizaOS ``composePromptFromState``, names come from ``state.values``, then from the
    other fields (``recent_messages`` also as ``recentMessages``; not ``text``, ``values``,
    ``data``); ``providers`` falls back to ``state.text`` (the provider text) and
    ``actionNames`` to ``state.actions``. A plain dict is read as the values. Spaces inside
    the braces are allowed, ``a.b`` is the key ``a.b`` or else ``b`` in the dict ``a``,
    nothing is HTML-escaped, and block helpers (``{{#if}}``) are left as written.

    A missing name or None gives ``""`` (as in Handlebars), ``True`` gives ``true``, a list
    its items joined with ``", "`` (memories: one ``user: text`` line each; a nested list as
    JSON), a dict or a pydantic model JSON, anything else ``str()``. The result is masked
    with the state's masker, so no secret the runtime knows reaches a model (a dict has no
    masker).

    Raises:
        ValidationError: ``template`` is not a string (``field="template"``) or ``state`` is
            neither a ``State`` nor a dict (``field="state"``).

    Example:
        >>> compose_prompt("Hi {{ name }}, {{{missing}}}bye.", {"name": "Ada"})
        'Hi Ada, bye.'
        >>> compose_prompt("Tools: {{tools}}", {"tools": ["SEARCH", "REPLY"]})
        'Tools: SEARCH, REPLY'
    """
    if not isinstance(template, str):
        raise ValidationError(
            f"template must be a string, not {type(template).__name__}", field="template"
        )
    context = _context(state)

    def fill(match: re.Match[str]) -> str:
        return _render(_lookup(context, match.group(1) or match.group(2)))

    filled = _PLACEHOLDER.sub(fill, template)
    return state.mask(filled) if isinstance(state, State) else filled


def _context(state: State | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(state, Mapping):
        return state
    if not isinstance(state, State):
        raise ValidationError(
            f"state must be a State or a dict of values, not {type(state).__name__}",
            field="state",
        )
    context: dict[str, Any] = {"providers": state.text, "actionNames": state.actions}
    for name in type(state).model_fields:
        if name not in _SKIPPED_FIELDS:
            context[name] = context[_camel(name)] = getattr(state, name)
    return {**context, **state.values}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _lookup(context: Mapping[str, Any], path: str) -> Any:
    if path in context:  # a key that holds dots itself
        return context[path]
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _render(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Memory):
        return f"{value.user_id}: {value.content.text}"
    if isinstance(value, _LISTS):
        items = list(value)
        sep = "\n" if items and all(isinstance(i, Memory) for i in items) else ", "
        # A nested list is shown as JSON: rendering it item by item never ends on a cycle.
        return sep.join(_json(i) if isinstance(i, _LISTS) else _render(i) for i in items)
    if isinstance(value, BaseModel):
        return _json(value.model_dump(mode="json"))
    if isinstance(value, Mapping):
        return _json(value)
    return printable(value)


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=printable)
    except (ValueError, TypeError, RecursionError):  # a cycle, odd keys, deep nesting
        return printable(value)


# -- parse_key_value_xml ----------------------------------------------------------------
# JavaScript's trim() and \s: the WhiteSpace and LineTerminator sets of ECMAScript. Python's
# str.strip() differs (it strips \x1c-\x1f and \x85, and keeps \ufeff).
_JS_SPACE = "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
_JS_SPACE += "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_TAG_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_CLOSE_TAG = re.compile(r"</([A-Za-z0-9_-]+)>")
_LIST_KEYS = frozenset({"actions", "providers", "evaluators"})
# In the order elizaOS replaces them: "&amp;quot;" becomes '"' and "&amp;lt;" becomes "&lt;".
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"), ("&quot;", '"'), ("&apos;", "'"))


def parse_key_value_xml(text: str) -> dict[str, Any] | None:
    """Read a model's XML answer as a dict, as elizaOS 1.7.2 ``parseKeyValueXml`` does.

    The block read is the text between the first ``<response>`` and the first ``</response>``
    after it; when there is none (or it is empty), the content of the first element that has
    a matching close tag (same-name nesting counted, self-closing tags skipped). Each direct
    child ``<key>value</key>`` of the block gives one key: the value has
    ``&lt; &gt; &amp; &quot; &apos;`` unescaped (in that order) and surrounding whitespace
    removed; ``actions``, ``providers`` and ``evaluators`` are split on commas into trimmed
    lists (empty: ``[]``), ``simple`` is ``True`` when it says ``true`` (any case), anything
    else stays a string. A later duplicate key wins; attributes and the text between children
    are ignored (not comments: an element inside ``<!-- -->`` is read). Without a
    ``<response>``, a first element with no children gives None, whatever follows it.

    Differences from the JavaScript: a ``<__proto__>`` child is kept as a key (JavaScript
    drops it), and the keys keep document order (JavaScript lists integer-like keys first).

    Returns:
        The dict, or None for an empty text, a text with no element, or a block without
        children. It never raises on a string.

    Raises:
        ValidationError: ``text`` is not a string (``field="text"``).

    Example:
        >>> parse_key_value_xml("<response><thought>Easy.</thought>"
        ...     "<actions>REPLY, SEARCH</actions><text>1 &lt; 2</text></response>")
        {'thought': 'Easy.', 'actions': ['REPLY', 'SEARCH'], 'text': '1 < 2'}
        >>> parse_key_value_xml("no XML here") is None
        True
    """
    if not isinstance(text, str):
        raise ValidationError(f"text must be a string, not {type(text).__name__}", field="text")
    if not text:
        return None
    _, opened, rest = text.partition("<response>")
    block, closed, _ = rest.partition("</response>")
    if not (opened and closed and block):
        block = next((inner for _, inner in _elements(text)), "")
    result = {key: _typed(key, _value(inner)) for key, inner in _elements(block)}
    return result or None


def _elements(text: str) -> Iterator[tuple[str, str]]:
    """Each ``(tag, inner text)`` of the elements at the top level of ``text``, in order."""
    i, n = 0, len(text)
    # Where the last </tag> of each name starts: a start tag after it has no close, known
    # without searching to the end once per start tag.
    last_close = {m[1]: m.start() for m in _CLOSE_TAG.finditer(text)}
    memos: dict[str, dict[int, int]] = {}
    while (start := text.find("<", i)) != -1:
        i = start + 1
        if text.startswith(("</", "<!--", "<?"), start):
            continue
        j = i
        while j < n and text[j] in _TAG_CHARS:
            j += 1
        if j == i:
            continue
        head_end = text.find(">", j)
        if head_end == -1:
            return  # no tag can end after this point
        i = head_end + 1
        if _self_closing(text, start, head_end):
            continue
        tag = text[start + 1 : j]
        if last_close.get(tag, -1) <= head_end:
            continue
        close = _matching_close(text, tag, head_end + 1, memos.setdefault(tag, {}))
        if close != -1:
            yield tag, text[head_end + 1 : close]
            i = close + len(tag) + 3


def _self_closing(text: str, start: int, head_end: int) -> bool:
    # The start tag text[start:head_end + 1] ends in "/" and optional whitespace before ">".
    return text[start:head_end].rstrip(_JS_SPACE).endswith("/")


def _matching_close(text: str, tag: str, pos: int, memo: dict[int, int]) -> int:
    """Where the ``</tag>`` closing an element whose start tag ends before ``pos`` starts, or -1.

    The walk of elizaOS 1.7.2: from ``pos`` at depth 1, each ``<tag`` prefix before the next
    ``</tag>`` opens a level (``<textarea>`` counts for ``<text>``; a self-closing one does
    not), each ``</tag>`` closes one. Where a walk goes depends on its cursor only, so
    ``memo`` keeps the answer of every cursor passed (``-1``: none) for this tag: walking
    again from each start tag, as the JavaScript does, costs cubic time on deep nesting.
    """
    opening, closing = f"<{tag}", f"</{tag}>"
    waiting = [[], [pos]]  # waiting[d]: cursors passed at depth d, answered when it drops
    cursor, next_open, next_close = pos, -2, -2  # -2: not searched yet
    while len(waiting) > 1:
        close_at = memo.get(cursor)
        if close_at is None:
            # A position found from an earlier cursor holds until the cursor passes it.
            if next_close < cursor and (next_close := text.find(closing, cursor)) == -1:
                break
            if next_open != -1 and next_open < cursor:
                next_open = text.find(opening, cursor)
            if next_open != -1 and next_open < next_close:
                head_end = text.find(">", next_open + 1)
                if head_end == -1:
                    break
                cursor = head_end + 1
                if _self_closing(text, next_open, head_end):
                    waiting[-1].append(cursor)
                else:
                    waiting.append([cursor])
                continue
            close_at = next_close
        elif close_at == -1:
            break
        memo.update(dict.fromkeys(waiting.pop(), close_at))
        cursor = close_at + len(closing)
        waiting[-1].append(cursor)
    for cursors in waiting[1:]:  # the walk ran out: no close for these
        memo.update(dict.fromkeys(cursors, -1))
    return memo[pos]


def _value(inner: str) -> str:
    for entity, char in _ENTITIES:
        inner = inner.replace(entity, char)
    return inner.strip(_JS_SPACE)


def _typed(key: str, value: str) -> Any:
    if key in _LIST_KEYS:
        return [item.strip(_JS_SPACE) for item in value.split(",")] if value else []
    if key == "simple":
        return value.lower() == "true"
    return value


# -- the should-respond answer, and the character's templates ----------------------------
_CHOICES = frozenset({"RESPOND", "IGNORE", "STOP"})


def parse_should_respond(text: str) -> str | None:
    """``"RESPOND"``, ``"IGNORE"`` or ``"STOP"`` from a should-respond answer, else None.

    Reads the ``<action>`` of the XML answer, else a bare one-word answer (``"respond."``),
    upper-cased; ``NONE`` counts as ``IGNORE``. Anything else (another word, the choices
    echoed as ``RESPOND | IGNORE | STOP``) gives None and the caller decides: elizaOS 1.7.2
    answers unless the action is ``IGNORE`` or ``NONE`` (so on ``STOP`` and unknown words
    too), and stays silent when no action can be read.

    Raises:
        ValidationError: ``text`` is not a string (``field="text"``).

    Example:
        >>> parse_should_respond("<response><name>Ada</name><action>respond</action></response>")
        'RESPOND'
        >>> parse_should_respond("STOP!"), parse_should_respond("maybe") is None
        ('STOP', True)
    """
    parsed = parse_key_value_xml(text)  # validates text
    word = parsed.get("action") if parsed is not None else text
    if not isinstance(word, str):
        return None
    word = word.strip(_JS_SPACE + ".!\"'`*").upper()
    word = "IGNORE" if word == "NONE" else word
    return word if word in _CHOICES else None


_HANDLER = (("messageHandlerTemplate", "message_handler"), MESSAGE_HANDLER_TEMPLATE)
_RESPOND = (("shouldRespondTemplate", "should_respond"), SHOULD_RESPOND_TEMPLATE)
# Every accepted name -> the keys a character's override may be under, and the default.
_TEMPLATES = {name: entry for entry in (_HANDLER, _RESPOND) for name in entry[0]}


def template_for(character: Character | None, name: str) -> str:
    """The template ``name`` of a character (``Character.templates``), else the default.

    ``name`` is ``"messageHandlerTemplate"`` or ``"shouldRespondTemplate"`` (the keys of an
    elizaOS character file), or ``"message_handler"`` / ``"should_respond"``; the character's
    entry is looked up under either spelling. An empty override counts as none, as in elizaOS.

    Raises:
        ValidationError: ``name`` is not one of these (``field="name"``), or ``character`` is
            neither a ``Character`` nor None (``field="character"``).

    Example:
        >>> ada = Character(name="Ada", templates={"shouldRespondTemplate": "Well, {{agentName}}?"})
        >>> template_for(ada, "should_respond")
        'Well, {{agentName}}?'
        >>> template_for(None, "message_handler") == MESSAGE_HANDLER_TEMPLATE
        True
    """
    entry = _TEMPLATES.get(name) if isinstance(name, str) else None
    if entry is None:
        raise ValidationError(
            f"unknown template name {name!r}; use one of {', '.join(_TEMPLATES)}", field="name"
        )
    if character is not None and not isinstance(character, Character):
        raise ValidationError(
            f"character must be a Character or None, not {type(character).__name__}",
            field="character",
        )
    keys, default = entry
    overrides = character.templates if character is not None else {}
    return next((overrides[k] for k in keys if overrides.get(k)), default)
