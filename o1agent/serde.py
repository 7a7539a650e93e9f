"""Checkpoint serialization of o1agent's graph state: which types may be revived from a checkpoint.

LangGraph stores state with ``JsonPlusSerializer`` (msgpack). A pydantic model or dataclass is
written as its module, class name and fields, and on load the class is imported and called — so
loading is gated by an allowlist. What langgraph-checkpoint 4.3 does (read in its source:
``langgraph/checkpoint/serde/_msgpack.py`` and ``jsonplus.py``):

* ``LANGGRAPH_STRICT_MSGPACK`` is read once, when ``langgraph.checkpoint.serde._msgpack`` is
  imported (``STRICT_MSGPACK_ENABLED``, _msgpack.py:12); setting it later has no effect.
* ``JsonPlusSerializer()`` without ``allowed_msgpack_modules`` picks its mode at construction
  (jsonplus.py:129): ``True`` — revive any class, logging "Deserializing unregistered type ...
  This will be blocked in a future version" once per class — or, under the flag, ``None`` — only
  ``SAFE_MSGPACK_TYPES`` (datetime, uuid, LangChain messages, LangGraph's ``Send``/``Overwrite``…).
* With an explicit allowlist, ``SAFE_MSGPACK_TYPES`` plus the listed ``(module, name)`` pairs are
  revived, silently, in either mode; anything else is blocked (logged "Blocked deserialization",
  and the raw field dict comes back instead of the object).
* Under the flag, ``StateGraph.compile`` also allow-lists the classes reachable from the state's
  type hints (``BaseCheckpointSaver.with_allowlist``); values under ``dict[str, Any]`` (a
  strategy's ``search`` state, ``TraceEvent.data``) are not reachable that way.

This module holds the list of o1agent's checkpointed types, ``serializer()`` allowing them, and
``with_o1agent_types(checkpointer)``. It is not a serializer of its own (encoding stays LangGraph's),
does not open or set up checkpoint stores (``o1agent.integrations.checkpoint`` does) and does not
migrate old checkpoints.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from typing import Any, TypeVar

from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from .config import GenerationConfig
from .schema import Budget, Node, Result, Step, ToolCall, Trace, TraceEvent, Tree, Usage
from .search.base import Expansion

logger = logging.getLogger(__name__)

# Every o1agent class that can sit in graph state or in a pending write, nested ones included
# (a pydantic model is revived by calling its class with the stored fields, so nested models are
# rebuilt by pydantic; they are listed anyway, since a strategy may keep a bare Node or Step).
CHECKPOINT_TYPES: tuple[type, ...] = (
    Step,
    ToolCall,
    Node,
    Tree,
    Usage,
    TraceEvent,
    Trace,
    Result,
    Budget,
    GenerationConfig,
    Expansion,
)

# The (module, class name) pairs LangGraph's allowlist is keyed by; derived from the classes so a
# class that moves to another module is still allowed.
ALLOWED_MSGPACK_MODULES: tuple[tuple[str, str], ...] = tuple(
    (t.__module__, t.__name__) for t in CHECKPOINT_TYPES
)

TypeKey = tuple[str, ...] | type
C = TypeVar("C")


def _keys(extra: Iterable[TypeKey]) -> list[tuple[str, ...]]:
    keys: list[tuple[str, ...]] = list(ALLOWED_MSGPACK_MODULES)
    for item in extra:
        keys.append((item.__module__, item.__name__) if isinstance(item, type) else tuple(item))
    return keys


def serializer(extra: Iterable[TypeKey] = ()) -> JsonPlusSerializer:
    """LangGraph's ``JsonPlusSerializer`` with o1agent's types (and ``extra``: classes or
    ``(module, name)`` pairs, e.g. a custom strategy's own state types) allow-listed.

    Its other settings are LangGraph's defaults (no pickle fallback, no JSON-revived modules), and
    ``SAFE_MSGPACK_TYPES`` stay allowed. Classes in neither list are blocked in both modes: this is
    the behaviour LangGraph announces for every serializer, and an explicit allowlist is the only
    way it offers to silence the per-class warning.
    """
    return JsonPlusSerializer(allowed_msgpack_modules=_keys(extra))


def _is_default(serde: JsonPlusSerializer) -> bool:
    # What ``JsonPlusSerializer()`` builds: allow-all (True) or, under the strict flag, safe types
    # only (None); no pickle fallback, no JSON modules, LangGraph's own ext hook.
    return (
        type(serde) is JsonPlusSerializer
        and serde._allowed_msgpack_modules in (True, None)
        and not serde.pickle_fallback
        and not serde._allowed_json_modules
        and not serde._custom_unpack_ext_hook
    )


def allowing_o1agent_types(serde: Any, extra: Iterable[TypeKey] = ()) -> Any:
    """``serde`` made to allow o1agent's types where that can be done without losing its settings;
    otherwise ``serde`` itself. See ``with_o1agent_types`` for the rules."""
    keys = _keys(extra)
    if isinstance(serde, EncryptedSerializer):
        inner = allowing_o1agent_types(serde.serde, extra)
        return serde if inner is serde.serde else EncryptedSerializer(serde.cipher, inner)
    if not isinstance(serde, JsonPlusSerializer):
        # A serializer of the user's own: we cannot know how it revives objects (it may not use
        # msgpack at all), so it is kept as given; allowing o1agent's types is then its job.
        logger.debug("checkpoint serializer %s kept as given", type(serde).__name__)
        return serde
    if _is_default(serde):
        return serializer(extra)
    if serde._custom_unpack_ext_hook:
        # The user's own ext hook does the reviving and ignores the allowlist: nothing to add.
        return serde
    if serde._allowed_msgpack_modules is True:
        # Allow-all with warnings, but with other settings of the user's (pickle fallback, JSON
        # modules). LangGraph's ``with_msgpack_allowlist`` leaves an allow-all serializer unchanged,
        # so the warning could not be silenced that way; keep those settings and narrow the
        # msgpack list to safe + o1agent types, as ``serializer()`` does. A subclass is kept as
        # given: its constructor may take other arguments.
        if type(serde) is not JsonPlusSerializer:
            return serde
        return JsonPlusSerializer(
            pickle_fallback=serde.pickle_fallback,
            allowed_json_modules=serde._allowed_json_modules,
            allowed_msgpack_modules=keys,
        )
    # An explicit list (or strict None): merge ours into it; LangGraph's own method keeps every
    # other setting and the class (it copies the object), and returns it unchanged if nothing is new.
    return serde.with_msgpack_allowlist(keys)


def with_o1agent_types(checkpointer: C, extra: Iterable[TypeKey] = ()) -> C:
    """A checkpointer whose serializer allows o1agent's types; ``None`` stays ``None``.

    * Default serializer (a saver built without ``serde=``): it gets ``serializer(extra)``.
    * A ``JsonPlusSerializer`` the user configured: an explicit allowlist is merged with ours;
      an allow-all one keeps its pickle fallback and JSON modules with the list narrowed to
      safe + o1agent types; one with a custom ext hook is kept as is.
    * An ``EncryptedSerializer``: the same rules applied to the serializer inside it.
    * Any other serializer is kept as given (it is the user's own encoding).

    The saver is shallow-copied, as LangGraph's ``BaseCheckpointSaver.with_allowlist`` does: the
    copy shares the storage (InMemorySaver's dicts, the SQLite or Postgres connection and lock), so
    both objects see the same checkpoints, and the caller's saver keeps its own serializer for any
    other graph it serves. A saver that already allows the types is returned unchanged. Values
    that are not savers (``True``/``False`` for a subgraph, ``None``) are returned unchanged.
    """
    serde = getattr(checkpointer, "serde", None)
    if checkpointer is None or isinstance(checkpointer, bool) or serde is None:
        return checkpointer
    new = allowing_o1agent_types(serde, extra)
    if new is serde:
        return checkpointer
    clone = copy.copy(checkpointer)
    clone.serde = new  # type: ignore[attr-defined]  # any saver; it has .serde (checked above)
    return clone
