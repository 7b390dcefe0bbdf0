"""YAML from users, read with bounds: one error type, no alias bomb, no duplicate key.

``yaml.safe_load`` constructs no Python objects, but a few lines of YAML can still:

- expand to gigabytes through aliases (nine nested levels of ``&a [l, l, ...]`` /
  ``[*a, *a, ...]``): the reader's memory, and worse, an error message that formats the
  expanded value, die with a MemoryError;
- say one key twice (``temperature`` under ``params``): PyYAML keeps the last silently;
- raise ValueError (``2020-13-45``, a 5,000-digit integer), KeyError (``!!bool maybe``),
  AttributeError, IndexError or RecursionError (5,000 nested ``[``) instead of a YAML error.

:func:`load_yaml` composes the node graph first (linear in the text: an alias is a second
reference to one node, not a copy), measures what it would expand to without expanding it,
then constructs. Every failure is a :class:`YamlError` naming the place (file, line) and the
fix; no message ever holds a value longer than :data:`SHOWN` characters. The config loader
(``ssl_core.config``) uses it; a search-space loader can call it the same way, or pass a
subclass of :class:`BoundedLoader` that adds its own resolvers.
"""
from __future__ import annotations

import reprlib
from typing import Any

import yaml

MAX_NODES = 100_000  # values after alias expansion; a config has a few hundred, a space a few thousand
MAX_DEPTH = 64  # nesting of lists and mappings; configs nest 2 deep, spaces 4-5
SHOWN = 60  # characters of a key shown in a message
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = SHOWN


class YamlError(ValueError):
    """A YAML text that cannot be read safely; the message names where and what to fix.

    ``kind``: what failed (``DuplicateKey``, ``AliasExpansion``, ``RecursionError``, or the
    PyYAML / constructor error's class name); ``detail``: the message without ``where``.
    """

    def __init__(self, where: str, kind: str, detail: str) -> None:
        super().__init__(f"{where}: {detail}")
        self.kind, self.detail = kind, detail


def _cut(text: str) -> str:
    return text if len(text) <= 2 * SHOWN else text[:2 * SHOWN] + "..."


def short(value: Any) -> str:
    """``repr`` cut to about SHOWN characters: messages never format a value whole."""
    return _SHORT.repr(value)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses a key given twice in one mapping (naming both lines)."""

    where = "<yaml>"

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *base" overrides on purpose; only keys written twice are refused
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: PyYAML's own check below says so
                continue
            seen[key] = _line(key_node)
            if first is not None:
                raise YamlError(self.where, "DuplicateKey", f"key {short(key)} is given twice in one mapping, on "
                                f"lines {first} and {_line(key_node)}; keep one (YAML would silently use the last)")
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: yaml.Node, where: str, max_nodes: int, max_depth: int) -> int:
    """How many values ``root`` expands to with every alias copied out, counted without copying:
    each node's size is computed once (iteratively: no recursion limit) and reused by every
    alias of it. Raises YamlError for a cycle (``&a [*a]``), nesting past max_depth, or more
    than max_nodes values."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if depth[key] > max_depth:
                raise YamlError(where, "Nesting", f"values are nested more than {max_depth} deep "
                                f"(line {_line(node)}); flatten the structure")
            if size[key] > max_nodes:
                raise YamlError(where, "AliasExpansion", f"the value at line {_line(node)} expands to more than "
                                f"{max_nodes:,} values through aliases (*name); write the values out, or use fewer "
                                "nested aliases")
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlError(where, "AliasCycle", f"the alias at line {_line(node)} refers to a value that contains it, "
                            "an endless value; remove the alias")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)
    return size[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load_yaml(text: str, where: str = "<yaml>", loader: type[BoundedLoader] = BoundedLoader,
              max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> Any:
    """The value of one YAML document ``text``, or YamlError naming ``where`` and the fix.

    Bounded in memory by the text's length (aliases are measured before anything is
    expanded) and in depth; duplicate keys, several documents, bad tags and values PyYAML's
    constructors reject all become YamlError.
    """
    try:
        reader = type("Loader", (loader,), {"where": where})(text)
    except yaml.YAMLError as err:  # a control character: the reader refuses the text as a whole
        raise YamlError(where, type(err).__name__, f"{_cut(str(err).splitlines()[0])}; remove it") from None
    try:
        try:
            node = reader.get_single_node()
        except yaml.composer.ComposerError as err:
            problem = err.problem or "not one YAML document"
            fix = ("keep one document, without '---' between parts" if "document" in problem
                   else "define each anchor (&name) before its aliases (*name)")
            raise YamlError(where, "ComposerError", f"{_cut(problem)} (line "
                            f"{(err.problem_mark or err.context_mark).line + 1}); {fix}") from None
        if node is None:
            return None
        _expanded_size(node, where, max_nodes, max_depth)
        return reader.construct_document(node)
    except YamlError:
        raise
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise YamlError(where, type(err).__name__, f"{_cut(err.problem or err.context or str(err))}{at}; "
                        "fix the text there") from None
    except RecursionError:
        raise YamlError(where, "RecursionError", "values are nested too deeply to read; flatten the "
                        "structure") from None
    except (yaml.YAMLError, ValueError, KeyError, AttributeError, IndexError, TypeError, OverflowError) as err:
        # PyYAML's constructors leak bare errors: "2020-13-45" (ValueError), "!!bool maybe"
        # (KeyError), a 5,000-digit integer (ValueError: the int conversion limit), "!!timestamp x".
        raise YamlError(where, type(err).__name__, f"{_cut(str(err).strip(chr(39) + chr(34)))}: a value that cannot "
                        "be read; quote it to keep it as text, or fix it") from None
    finally:
        reader.dispose()
