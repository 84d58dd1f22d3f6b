"""Safe, strict YAML loading for the hand-edited knowledge files.

The knowledge files are edited by hospital staff, not programmers. PyYAML's
defaults silently turn some harmless-looking text into other things (``9:30``
becomes 570, ``no`` becomes False, ``0612`` loses its zero, ``!!python/...``
can run code). This module parses with a restricted loader, keeps the position
of every value, and turns every surprise into a :class:`Problem` written in
plain words, so an admin sees all mistakes of a file at once.

Nothing here raises for bad content: problems are returned, never raised.
"""
from __future__ import annotations

import hashlib
import marshal
import os
import re
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias, cast

import yaml
from yaml.error import Mark
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .problems import Problem

FieldPath: TypeAlias = tuple[str | int, ...]  # str keys and int list indexes; () is the root
Positions: TypeAlias = dict[FieldPath, tuple[int, int]]  # path -> (line, column), 1-based
_Note: TypeAlias = tuple[Mark, str]  # (where, what) noted by the composer on a node

__all__ = ["LoadedYaml", "NotPlainFile", "load_yaml_text", "load_yaml_file", "read_plain_file",
           "cache_dir", "MAX_CHARS", "CACHE_MIN_BYTES"]

MAX_CHARS = 2_000_000
CACHE_MIN_BYTES = 256 * 1024
"""Files this large (an imported directory: 0.7 MB per 1,000 doctors) are remembered once
read without a problem, by content, in the parse cache (see :func:`cache_dir`): parsing
one takes about a second, reading it back a few hundredths."""
_CACHE_FORMAT = b"forumbot-yamlsafe-1\0"  # change when a rule changes what a file loads to
MAX_BYTES = 4 * MAX_CHARS  # a UTF-8 character is at most 4 bytes
MAX_REPEATS = 20  # per-file cap for line-by-line reports (tabs, control characters)

_STD = "tag:yaml.org,2002:"
# The only explicit tags we accept: they can only ever produce text, lists and mappings.
_ALLOWED_TAGS = {ScalarEvent: _STD + "str", MappingStartEvent: _STD + "map",
                 SequenceStartEvent: _STD + "seq"}
_ALIAS_MSG = "anchors and aliases (& and *) are not allowed in knowledge files; write the value out"

# Strict implicit types (a subset of YAML 1.2 core that every tool agrees on).
_NULL = re.compile(r"~|null|Null|NULL|")
_BOOL = re.compile(r"(?i:true|false)")
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+")

# Traps: plain text that YAML 1.1 (PyYAML) or YAML 1.2 tools read as something else.
_TIME = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_YESNO = re.compile(r"(?i:yes|no|on|off|y|n)")
_DATE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
                   r"(?P<time>(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]*)?)?"
                   r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::?[0-9]{2})?))?)?")
_PREFIXED = re.compile(r"[-+]?0(?:[xX][0-9a-fA-F_]+|[oO][0-7_]+|[bB][01_]+)")
_UNDERSCORE = re.compile(r"[-+]?[0-9][0-9_]*_[0-9_]*(?:\.[0-9_]*)?")
_LEADING_ZERO = re.compile(r"-?0[0-9]+(?:\.[0-9]*)?")
_PLUS = re.compile(r"\+(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_SPECIAL = re.compile(r"(?i:[-+]?\.inf|\.nan)")
_OTHER_NUMBER = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")

# Characters PyYAML refuses, plus the invisible separators it treats as line breaks
# (they would make YAML's line numbers disagree with the editor's).
_CONTROL = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029]")
_PYYAML_RESOLVER = yaml.resolver.Resolver()  # what plain PyYAML would make of a scalar
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # the same line breaks PyYAML counts, once _CONTROL is gone

_TOO_DEEP = "it is nested too deeply"
_INDENT_HINT = "the indentation of this line does not match the lines around it"
_SYNTAX_HINTS = [  # (piece of PyYAML's message, plain explanation); first match wins
    ("mapping values are not allowed",
     "a colon inside a value: put the value in quotes, or check the indentation"),
    ("'\\t'", "a tab character is here; YAML allows only spaces. Replace it with spaces or delete it"),
    ("end of stream", "a quote is not closed: check that every opening \" or ' has a closing one"),
    ("could not find expected ':'", _INDENT_HINT),
    ("did not find expected key", _INDENT_HINT),
    ("expected <block end>", _INDENT_HINT),
    ("expected '-'", _INDENT_HINT),
    ("expected ',' or", "a list [ ] or group { } in brackets is not closed properly"),
    ("cannot start any token",
     "this value starts with a character YAML reserves (such as @ or `): put the value in quotes"),
    ("undefined tag handle", "a '!' at the start of a value means a tag: put the value in quotes"),
    ("expected the node content", "a value is missing or a stray '-' or ':' is here: check this line"),
    ("expected alphabetic or numeric character",
     "& and * at the start of a value are special in YAML: put the value in quotes"),
]


@dataclass
class LoadedYaml:
    """Result of loading one YAML text; never raised, always returned.

    Attributes:
        data: the parsed document (dict/list/str/int/float/bool/None); None when the
            file is empty or could not be read at all.
        positions: path -> (line, column), 1-based, of the value at that path. A path is
            a tuple of str keys and int list indexes; ``()`` is the root. For a mapping
            entry the key's own position is under ``path + ("__key__",)``.
        problems: every error and warning found, in file order.
    """

    data: object = None
    positions: Positions = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _line_col(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]``, counting line breaks like PyYAML."""
    before = _LINE_BREAK.split(text[:index])
    return len(before), len(before[-1]) + 1


def field_path(path: FieldPath) -> str | None:
    """``("doctors", 3, "telecom")`` -> ``doctors[3].telecom``; the root gives None."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def position_of(positions: Positions, path: FieldPath) -> tuple[int | None, int | None]:
    """Return (line, column) of ``path`` in a :class:`LoadedYaml`'s positions, or of its
    nearest recorded parent (value, else key); (None, None) when nothing is recorded."""
    while True:
        if path in positions:
            return positions[path]
        if path + ("__key__",) in positions:
            return positions[path + ("__key__",)]
        if not path:
            return None, None
        path = path[:-1]


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else str(value)


def _trap(text: str) -> str | None:
    """Explain what tools would silently make of this plain ``text``; None when it is safe text."""
    try:
        return _explain_trap(text)
    except ValueError:  # e.g. "0x_" or a number with thousands of digits
        return "Without quotes YAML may read it as a number."


def _explain_trap(text: str) -> str | None:
    if _TIME.fullmatch(text):
        sign = -1 if text.startswith("-") else 1
        total = 0.0
        for part in text.lstrip("+-").replace("_", "").split(":"):
            total = total * 60 + float(part or 0)
        return f"Without quotes YAML reads it as the number {_number_text(sign * total)}, not as a time."
    if _YESNO.fullmatch(text):
        meaning = "false" if text.lower() in ("no", "off", "n") else "true"
        return f"Without quotes YAML reads it as the yes/no value {meaning}, not as the word {text}."
    if m := _DATE.fullmatch(text):
        kind = "a date and time" if m.group("time") else "a date"
        return f"Without quotes YAML reads it as {kind} instead of text."
    if _PREFIXED.fullmatch(text):
        return (f"Without quotes YAML reads it as the number {int(text.replace('_', ''), 0)} "
                "(0x, 0o and 0b mean hexadecimal, octal and binary).")
    if _UNDERSCORE.fullmatch(text):
        digits = text.replace("_", "").rstrip(".") or "0"
        return (f"Without quotes YAML reads it as the number {_number_text(float(digits))} "
                "(the underscores are dropped).")
    if _LEADING_ZERO.fullmatch(text):
        octal = " (PyYAML even reads it in octal, as " + str(int(text, 8)) + ")" \
            if re.fullmatch(r"-?0[0-7]+", text) else ""
        return f"Without quotes YAML reads it as a number and the leading zero is lost{octal}."
    if _PLUS.fullmatch(text):
        return (f"Without quotes YAML reads it as the number {_number_text(float(text))} "
                "and the plus sign is lost.")
    if _SPECIAL.fullmatch(text):
        what = "not-a-number" if "nan" in text.lower() else "infinity"
        return f"Without quotes YAML reads it as a special number ({what})."
    if _OTHER_NUMBER.fullmatch(text):
        return f"Without quotes YAML reads it as the number {_number_text(float(text))}."
    # Safety net: anything else PyYAML itself would not keep as text (e.g. '=' or '<<').
    # types-PyYAML leaves BaseResolver.resolve unannotated (it returns the tag, a str)
    if _PYYAML_RESOLVER.resolve(ScalarNode, text, (True, False)) != _STD + "str":  # type: ignore[no-untyped-call]
        return "Without quotes YAML may read it as something other than text."
    return None


def _plain_value(text: str) -> object:
    """Strict implicit typing of an unquoted scalar; anything unusual stays text."""
    if _NULL.fullmatch(text):
        return None
    if _BOOL.fullmatch(text):
        return text.lower() == "true"
    if _INT.fullmatch(text) and len(text) < 4000:  # Python refuses to convert longer digit strings
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


if TYPE_CHECKING:
    class _NotingBase(yaml.parser.Parser, yaml.composer.Composer):
        """What the noting composer uses of the parser it is mixed with (PyYAML's or libyaml's)."""

        def peek_event(self) -> Event: ...
        def get_event(self) -> Event: ...
else:
    _NotingBase = object


def _note(node: Node, notes: list[_Note], rejected: bool) -> None:
    """Attach the composer's notes to ``node`` (read back by :meth:`_Builder.report_notes`)."""
    node.__dict__.update(notes=notes, rejected=rejected)


class _Noting(_NotingBase):
    """Composer part that notes anchors, aliases and tags on the nodes instead of honouring
    them.

    Only the composer is used (text -> nodes); turning nodes into Python values is
    done by :class:`_Builder`, so no constructor (safe or not) ever runs. The notes are
    reported by the builder, which knows the field path.
    """

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self.anchors = {}  # aliases are never resolved, so anchors are never kept
        if self.check_event(AliasEvent):
            alias = self.get_event()
            at = cast(Mark, alias.start_mark)
            alias_node = ScalarNode(_STD + "null", "", at, cast(Mark, alias.end_mark))
            _note(alias_node, [(at, _ALIAS_MSG)], True)
            return alias_node
        # Past an alias, the next event starts a node: a scalar, a sequence or a mapping.
        event = cast("ScalarEvent | CollectionStartEvent", self.peek_event())
        start = cast(Mark, event.start_mark)
        notes: list[_Note] = [(start, _ALIAS_MSG)] if event.anchor is not None else []
        tag = event.tag
        rejected = tag not in (None, "!") and tag != _ALLOWED_TAGS.get(type(event))
        if rejected and tag is not None:
            shown = "!!" + tag[len(_STD):] if tag.startswith(_STD) else tag
            notes.append((start, f"the tag {shown} is not allowed in knowledge files; "
                                            "remove it and write the plain value (in quotes if needed)"))
        node = super().compose_node(parent, index)
        assert node is not None  # a node event always composes a node
        _note(node, notes, rejected)
        node.__dict__["forced_str"] = tag is not None  # '!' or '!!str' on a scalar means "this is text"
        if isinstance(node, ScalarNode) and not node.style:
            node.style = None  # libyaml says '' for a plain scalar, PyYAML None
        return node


class _Loader(_Noting, yaml.SafeLoader):
    """PyYAML's pure-Python parser with the noting composer."""


_FastLoader: Callable[[str], _Noting] | None
if getattr(yaml, "__with_libyaml__", False):
    class _CLoader(_Noting, yaml._yaml.CParser, yaml.composer.Composer,
                      yaml.resolver.Resolver):
        """libyaml's parser (C, about ten times faster on long lists of terms) feeding the
        same composer as :class:`_Loader`; used first, and any error is read again with
        :class:`_Loader` so that messages do not depend on libyaml being installed."""

        def __init__(self, text: str):
            yaml._yaml.CParser.__init__(self, text)
            yaml.composer.Composer.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    _FastLoader = _CLoader
else:  # pragma: no cover - PyYAML built without libyaml
    _FastLoader = None


class _Builder:
    """Turns composed nodes into plain Python data, positions and problems."""

    def __init__(self, file: str, problems: list[Problem]):
        self.file, self.problems = file, problems
        self.positions: Positions = {}

    def error(self, node: Node, path: FieldPath, message: str, mark: Mark | None = None) -> None:
        mark = mark or node.start_mark
        self.problems.append(Problem(self.file, mark.line + 1, mark.column + 1, field_path(path), message))

    def report_notes(self, node: Node, path: FieldPath) -> bool:
        """Report what the loader noted on ``node``; True when the node must be dropped."""
        notes: tuple[_Note, ...] | list[_Note] = getattr(node, "notes", ())
        for mark, message in notes:
            self.error(node, path, message, mark)
        return bool(getattr(node, "rejected", False))

    def build(self, node: Node, path: FieldPath, record: bool = True) -> object:
        """``record=False`` checks a subtree (for more problems) without keeping its positions."""
        if record:
            self.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if self.report_notes(node, path):
            return None
        if isinstance(node, SequenceNode):
            return [self.build(child, path + (i,), record) for i, child in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self.build_mapping(node, path, record)
        assert isinstance(node, ScalarNode)  # the composer makes scalars, sequences and mappings
        if node.style is not None or getattr(node, "forced_str", False):
            return node.value  # quoted, block (| >) or tagged as text: always text
        value = _plain_value(node.value)
        explanation = _trap(node.value) if isinstance(value, str) else None
        if explanation is not None:
            self.error(node, path, f'the value {node.value} must be in quotes: write "{node.value}". '
                                   + explanation)
            return node.value
        return value

    def build_mapping(self, node: MappingNode, path: FieldPath, record: bool) -> dict[str, object]:
        out: dict[str, object] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = self.key(key_node, path)
            if key is None or key in first_line:
                if key is not None:
                    self.error(key_node, path + (key,),
                               f'the key "{key}" appears twice in this entry (first on line '
                               f"{first_line[key]}); PyYAML would silently keep only the last one. "
                               "Remove or rename one.")
                self.build(value_node, path + (key or "?",), record=False)
                continue
            first_line[key] = key_node.start_mark.line + 1
            if record:
                self.positions[path + (key, "__key__")] = (key_node.start_mark.line + 1,
                                                           key_node.start_mark.column + 1)
            out[key] = self.build(value_node, path + (key,), record)
        return out

    def key(self, node: Node, path: FieldPath) -> str | None:
        """The key as text, reporting keys that are not plain text; None when unusable."""
        if self.report_notes(node, path + (node.value,) if isinstance(node, ScalarNode) else path):
            return None
        if not isinstance(node, ScalarNode):
            self.error(node, path, "a key must be a simple word or text, not a list or a group; "
                                   "check the line (a '?' or brackets before the colon?)")
            return None
        text: str = node.value
        if node.style is not None or getattr(node, "forced_str", False):
            return text
        if text == "":
            self.error(node, path, "a key is missing before the colon; write the field name before it")
            return None
        value = _plain_value(text)
        if isinstance(value, str):
            explanation = _trap(text)
        else:
            what = ("an empty value (null)" if value is None else f"the yes/no value {text.lower()}"
                    if isinstance(value, bool) else f"the number {text}")
            explanation = f"Without quotes YAML reads it as {what}, and keys must be text."
        if explanation is not None:
            self.error(node, path + (text,), f'the key {text} must be in quotes: write "{text}": '
                                             "instead. " + explanation)
        return text


def _syntax_problem(file: str, exc: yaml.MarkedYAMLError) -> Problem:
    """One plain-English problem for a PyYAML syntax error, at its problem mark."""
    said = exc.problem or exc.context or "unknown syntax error"
    hint = next((h for piece, h in _SYNTAX_HINTS if piece in said),
                "YAML could not read this line; check the indentation, colons and quotes")
    mark = exc.problem_mark or exc.context_mark
    detail = f"{exc.context}: {said}" if exc.context and exc.problem else said
    if exc.context_mark and mark and exc.context_mark.line != mark.line:
        detail += f", started on line {exc.context_mark.line + 1}"
    return Problem(file, mark.line + 1 if mark else None, mark.column + 1 if mark else None, None,
                   f"{hint} (YAML says: {detail})")


def _parse(text: str, file: str) -> tuple[list[Node], list[Problem], Problem | None]:
    """Compose every document; returns (root nodes, problems, syntax problem or None)."""
    if _FastLoader is not None:
        try:
            found = _compose(_FastLoader(text), file)
        except (yaml.YAMLError, RecursionError):
            found = None  # read again below, for the same messages as without libyaml
        if found is not None and found[2] is None:
            return found
    return _compose(_Loader(text), file)


def _compose(loader: _Noting, file: str) -> tuple[list[Node], list[Problem], Problem | None]:
    problems: list[Problem] = []
    roots: list[Node] = []
    try:
        loader.get_event()  # StreamStartEvent
        while not loader.check_event(StreamEndEvent):
            if len(roots) == 1 and loader.check_event(DocumentStartEvent):
                mark = cast(Mark, loader.peek_event().start_mark)
                problems.append(Problem(file, mark.line + 1, mark.column + 1, None,
                                        "only one YAML document per file: this '---' line starts a "
                                        "second one. Remove the '---' line (or move what follows "
                                        "into its own file)."))
            root = loader.compose_document()
            assert root is not None  # a document always has a root node (an empty one is a null)
            roots.append(root)
    except yaml.MarkedYAMLError as exc:
        return [], problems, _syntax_problem(file, exc)
    except (yaml.YAMLError, RecursionError) as exc:
        why = _TOO_DEEP if isinstance(exc, RecursionError) else str(exc)
        return [], problems, Problem(file, None, None, None, f"YAML could not read the file ({why})")
    finally:
        loader.dispose()
    return roots, problems, None


def _parse_despite_tabs(text: str, file: str) -> tuple[list[Node], list[Problem], Problem | None]:
    """Like :func:`_parse`, with leading tabs turned into spaces (the tabs are reported already).

    We cannot know the admin's tab width: the first width that parses wins, so the other
    problems of the file can still be shown.
    """
    first = None
    for width in (2, 4, 8):
        def expand(m: re.Match[str], w: int = width) -> str:
            return m.group(0).expandtabs(w)
        result = _parse(re.sub(r"(?m)^[ \t]+", expand, text), file)
        if result[2] is None:
            return result
        first = first or result
    assert first is not None  # the loop ran
    return first


def _check_characters(text: str, file: str, problems: list[Problem]) -> tuple[str, bool]:
    """Report control characters and tab indentation; returns (text to parse, has tabs)."""
    controls = list(_CONTROL.finditer(text))
    for m in controls[:MAX_REPEATS]:
        line, col = _line_col(text, m.start())
        problems.append(Problem(file, line, col, None, f"an invisible control character "
                                f"(U+{ord(m.group()):04X}) is here; delete it (retype the text "
                                "around it if needed)"))
    if controls:  # blank them out so PyYAML can still read the rest and find other problems
        text = _CONTROL.sub(" ", text)
    tab_lines = [(number, m.group().index("\t") + 1)
                 for number, line in enumerate(_LINE_BREAK.split(text), start=1)
                 if "\t" in (m := cast(re.Match[str], re.match(r"[ \t]*", line))).group()]
    for line, col in tab_lines[:MAX_REPEATS]:
        problems.append(Problem(file, line, col, None, "a tab is used for indentation; YAML allows "
                                                       "only spaces. Replace the tab with spaces."))
    if len(tab_lines) > MAX_REPEATS:
        problems.append(Problem(file, None, None, None, f"{len(tab_lines) - MAX_REPEATS} more lines "
                                "are indented with tabs; replace them all with spaces."))
    return text, bool(tab_lines)


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


def load_yaml_text(text: str, file: str) -> LoadedYaml:
    """Parse the YAML ``text`` of one knowledge file, strictly and safely.

    Args:
        text: the file content as a str.
        file: the file name to put in every :class:`Problem`.

    Returns:
        A :class:`LoadedYaml`. Problems (errors and warnings) are returned, never raised;
        ``data`` is None for an empty file, a syntax error, or a file too large to read.
    """
    problems: list[Problem] = []
    if len(text) > MAX_CHARS:
        return LoadedYaml(None, {}, [Problem(file, None, None, None,
                                             f"file too large ({len(text):,} characters; the limit is "
                                             f"{MAX_CHARS:,}). Split it into smaller files.")])
    if text.startswith("\ufeff"):
        problems.append(Problem(file, 1, 1, None, "the file starts with a byte-order mark (BOM); "
                                                  "save it as UTF-8 without BOM", "warning"))
        text = text[1:]
    if not text.strip():
        return LoadedYaml(None, {}, problems)

    text, has_tabs = _check_characters(text, file, problems)
    roots, found, syntax = _parse_despite_tabs(text, file) if has_tabs else _parse(text, file)
    problems += found
    if syntax is not None:
        return LoadedYaml(None, {}, _sorted(problems + [syntax]))

    builder = _Builder(file, problems)
    try:
        # Later documents are an error already; they are only checked for more problems.
        built = [builder.build(root, (), record=(i == 0)) for i, root in enumerate(roots)]
    except RecursionError:
        problems.append(Problem(file, None, None, None, f"YAML could not read the file ({_TOO_DEEP})"))
        return LoadedYaml(None, {}, _sorted(problems))
    return LoadedYaml(built[0] if built else None, builder.positions, _sorted(problems))


def cache_dir() -> str | None:
    """The folder of the parse cache, or None when there is none.

    ``FORUMBOT_CACHE_DIR`` names it ("" turns the cache off); by default it is
    ``$XDG_CACHE_HOME/forumbot/yaml`` (``~/.cache/forumbot/yaml``). It is created private
    (mode 700) and used only while it belongs to this user and nobody else can write it:
    a cached file is trusted as if it had been parsed.
    """
    configured = os.environ.get("FORUMBOT_CACHE_DIR")
    if configured == "":
        return None
    if configured is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        configured = os.path.join(base, "forumbot", "yaml")
    try:
        os.makedirs(configured, mode=0o700, exist_ok=True)
        info = os.stat(configured)
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        return None
    return configured


def _cache_path(raw: bytes) -> str | None:
    if len(raw) < CACHE_MIN_BYTES:
        return None
    folder = cache_dir()
    if folder is None:
        return None
    return os.path.join(folder, hashlib.sha256(_CACHE_FORMAT + raw).hexdigest() + ".marshal")


def _from_cache(cached: str) -> LoadedYaml | None:
    """A file's data and positions as read before; None when absent or unreadable."""
    try:
        with open(cached, "rb") as handle:
            # one read: marshal.load() on a file reads object by object, ten times slower
            data, positions = marshal.loads(handle.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return LoadedYaml(data, positions, [])


def _to_cache(cached: str, loaded: LoadedYaml) -> None:
    """Remember a file read without any problem (one with problems is read again, so its
    messages name the file as it is now); a cache that cannot be written is skipped."""
    if loaded.problems or loaded.data is None:
        return
    folder = os.path.dirname(cached)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                # data holds only what the builder makes: dicts, lists, str, int, float,
                # bool and None, all of which marshal writes
                handle.write(marshal.dumps(cast("tuple[dict[str, object], Positions]",
                                                (loaded.data, loaded.positions))))
            os.replace(tmp, cached)
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, ValueError):  # ValueError: a value marshal cannot write
        return


class NotPlainFile(OSError):
    """A knowledge file that is not a plain file, or a link leaving its folder; the
    message says so in words an admin understands."""


_KINDS = {stat.S_IFIFO: "a named pipe", stat.S_IFDIR: "a folder", stat.S_IFCHR: "a device",
          stat.S_IFBLK: "a device", stat.S_IFSOCK: "a socket"}


def read_plain_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """Return at most ``limit`` bytes of ``path``, which must be a plain file inside its
    folder: a symbolic link is followed only to a plain file in the same folder (or below).

    Nothing else is ever opened for reading in a way that can block: the kind is checked
    (lstat, then stat of a link's target) before opening, the open is non-blocking and
    does not follow a link, and the opened file is checked again (a named pipe swapped in
    meanwhile is refused, not read). A reload therefore cannot wait forever on a pipe.

    Raises:
        NotPlainFile: a named pipe, folder, device or socket, a link leaving the folder or
            a loop of links.
        OSError: the file cannot be read (missing, no permission).
    """
    given = Path(path)
    target = given
    info = os.lstat(given)
    if stat.S_ISLNK(info.st_mode):
        try:
            target = given.resolve()
        except RuntimeError:  # Python 3.11-3.12 raise this for a loop of links
            raise NotPlainFile("it is a link that leads back to itself (a loop of links)"
                               ) from None
        if not target.is_relative_to(given.parent.resolve()):
            raise NotPlainFile("it is a link to a file outside the knowledge folder: copy the "
                               "file into the folder instead")
        info = os.stat(target)
    if not stat.S_ISREG(info.st_mode):
        raise NotPlainFile(f"it is {_KINDS.get(stat.S_IFMT(info.st_mode), 'not a plain file')}, "
                           "not a plain text file: only plain .yaml files are read")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotPlainFile("it changed into something other than a plain file while "
                               "being read: only plain .yaml files are read")
        return handle.read(limit)


def load_yaml_file(path: str | os.PathLike[str]) -> LoadedYaml:
    """Read a knowledge file from disk (:func:`read_plain_file`: plain files only) and
    parse it with :func:`load_yaml_text`.

    The bytes must be UTF-8 (a UTF-8 byte-order mark only gives a warning). Unreadable
    files, other encodings and invalid bytes give an error Problem with ``data=None``.
    Returns a :class:`LoadedYaml`; nothing is raised for bad content or a missing file.
    A large file (:data:`CACHE_MIN_BYTES`) read before without a problem comes from the
    parse cache (:func:`cache_dir`), with the same data and positions.
    """
    file = str(path)

    def fail(message: str, line: int | None = None, column: int | None = None) -> LoadedYaml:
        return LoadedYaml(None, {}, [Problem(file, line, column, None, message)])

    try:
        raw = read_plain_file(path, MAX_BYTES + 1)
    except NotPlainFile as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"the file could not be opened ({exc.strerror or exc})")
    if len(raw) > MAX_BYTES:
        return fail(f"file too large (more than {MAX_BYTES:,} bytes). Split it into smaller files.")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return fail("the file is saved as UTF-16; save it as UTF-8 in your editor", 1, 1)
    if b"\x00" in raw:
        before = raw[:raw.index(b"\x00")].decode("utf-8", "replace")
        line, column = _line_col(before, len(before))
        return fail("the file contains NUL bytes: it is not a plain text file or not saved as UTF-8 "
                    "(UTF-16?); save it as UTF-8 in your editor", line, column)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[:exc.start].decode("utf-8")
        line, column = _line_col(before, len(before))
        if line == 1 and before.startswith("\ufeff"):
            column -= 1  # the editor does not show the BOM
        return fail(f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02X} at line {line}, "
                    f"column {column}); save it as UTF-8 in your editor", line, column)
    cached = _cache_path(raw)
    found = _from_cache(cached) if cached else None
    if found is not None:
        return found
    loaded = load_yaml_text(text, file)
    if cached:
        _to_cache(cached, loaded)
    return loaded
