"""Action chains (elizaOS 1.7): several actions in a row, each seeing what ran before it.

:func:`run_chain` runs the steps through the one dispatch path (:meth:`Dispatcher.run`), so each
step is recorded like any run. Every handler gets two reserved options:

- ``options["action_context"]``: an :class:`ActionContext`, the results of the steps before it;
- ``options["action_plan"]``: the chain's :class:`ActionPlan` (steps, their status, the thought);
- in the agent loop, ``options["responses"]``: the agent's decided replies (``Content``), what
  elizaOS passes a handler as its ``responses`` argument.

A step's ``ActionResult.values`` are merged into the state the next step sees, and
``state.data["action_results"]`` lists the results so far. A failed step stops the chain unless
its action sets ``continue_on_error``; the steps after it are marked ``"skipped"`` and the
returned list holds only the results of the steps that ran.

Example:
    >>> from eliza_nb import AgentRuntime, Plugin, action
    >>> @action()
    ... def first(runtime, message, state, options, callback):
    ...     return {"success": True, "text": "one", "values": {"n": 1}}
    >>> @action()
    ... def second(runtime, message, state, options, callback):
    ...     before = options["action_context"].get_previous_result("FIRST")
    ...     return f"{before.text} then two (n={state.values['n']})"
    >>> rt = AgentRuntime(use_env=False)
    >>> rt.run_sync(rt.register_plugin(Plugin(name="demo", actions=[first, second])))
    >>> [r.text for r in rt.run_sync(rt.execute_actions(["FIRST", "SECOND"], "go"))]
    ['one', 'one then two (n=1)']
    >>> rt.close()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from eliza_nb._checks import shown
from eliza_nb.dispatcher import check_timeout
from eliza_nb.errors import ValidationError
from eliza_nb.parameters import RESERVED_OPTIONS
from eliza_nb.types import ActionResult, Content, Memory, State

if TYPE_CHECKING:
    from eliza_nb.dispatcher import Dispatcher

__all__ = ["ActionContext", "ActionPlan", "ActionStep", "check_names", "run_chain"]

StepStatus = Literal["pending", "running", "completed", "failed", "skipped"]


@dataclass(frozen=True)
class ActionContext:
    """What a step of a chain knows of the steps before it (elizaOS's ``ActionContext``)."""

    previous_results: tuple[ActionResult, ...] = ()

    def get_previous_result(self, name: str) -> ActionResult | None:
        """The latest result of the action called ``name`` (any case), or None."""
        wanted = name.upper()
        for result in reversed(self.previous_results):
            if result.action.upper() == wanted:
                return result
        return None


@dataclass
class ActionStep:
    """One step of a plan: the action's name, its status and, once it ran, its result."""

    action: str
    status: StepStatus = "pending"
    result: ActionResult | None = None

    @property
    def error(self) -> str | None:
        """The failed step's error code (None otherwise)."""
        return self.result.error_code if self.result is not None else None


@dataclass
class ActionPlan:
    """The chain being run (elizaOS's ``ActionPlan``); ``current_step`` counts from 1."""

    steps: list[ActionStep] = field(default_factory=list)
    thought: str = ""
    current_step: int = 0

    @property
    def total_steps(self) -> int:
        """How many steps the chain has."""
        return len(self.steps)


def check_names(names: Any) -> list[str]:
    """``names`` as a list of action names.

    Raises:
        ValidationError: it is not a list (or tuple) of non-empty strings.
    """
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ValidationError(
            f"names must be a list of action names, got {shown(names)}", field="names"
        )
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(
                f"names must hold non-empty action names, got {shown(name)}", field="names"
            )
    return [name.strip() for name in names]


def _chain_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValidationError(
            f"options must be a dict, got {type(options).__name__}", field="options"
        )
    taken = sorted(RESERVED_OPTIONS & options.keys())
    if taken:
        raise ValidationError(
            f"options must not set {', '.join(taken)}: the chain fills it in", field="options"
        )
    return dict(options)


async def run_chain(
    dispatcher: Dispatcher,
    names: Sequence[str],
    message: Memory,
    state: State,
    *,
    options: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    thought: str = "",
    responses: Sequence[Content] = (),
) -> list[ActionResult]:
    """Run ``names`` in order on ``message``; the results of the steps that ran.

    ``state`` is the chain's own: the steps' ``values`` are merged into it. An unknown name is
    a recorded ``ACTION_NOT_FOUND`` step that stops the chain.

    Raises:
        ValidationError: ``names``, ``options`` or ``timeout`` are malformed (before any step).
    """
    shared = _chain_options(options)
    if responses:  # the agent's decided replies: elizaOS's sixth handler argument
        shared["responses"] = list(responses)
    plan = ActionPlan(steps=[ActionStep(n) for n in check_names(names)], thought=thought)
    check_timeout(timeout)
    results: list[ActionResult] = []
    for index, step in enumerate(plan.steps):
        plan.current_step = index + 1
        step.status = "running"
        result, go_on = await _step(
            dispatcher, step, message, state, shared, plan, results, timeout
        )
        results.append(result)
        state.values.update(result.values)
        state.data["action_results"] = list(results)
        if not go_on:
            for later in plan.steps[index + 1 :]:
                later.status = "skipped"
            break
    return results


async def _step(
    dispatcher: Dispatcher,
    step: ActionStep,
    message: Memory,
    state: State,
    shared: dict[str, Any],
    plan: ActionPlan,
    results: list[ActionResult],
    timeout: float | None,
) -> tuple[ActionResult, bool]:
    """Run one step; the result and whether the chain goes on."""
    entry = dispatcher.registry.find(step.action)
    if entry is None:
        result = dispatcher.not_found(step.action, message)
        step.status, step.result = "failed", result
        return result, False
    action, plugin = entry
    step.action = action.name  # a simile or another case names the action itself
    opts = {**shared, "action_context": ActionContext(tuple(results)), "action_plan": plan}
    result = await dispatcher.run(
        action, plugin, message, state=state, options=opts, timeout=timeout
    )
    step.status, step.result = ("completed" if result.success else "failed"), result
    return result, result.success or action.continue_on_error
