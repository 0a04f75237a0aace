"""Shared set-up of the pytest-lsp suite: where `routec` is, the clients
whose capabilities are replayed, and specification checks beyond
pytest-lsp's own (which cover completion snippets, commit characters and
documentation formats).

Each check below compares an answer of the server with the capabilities the
client declared at `initialize`, and fails the test (pytest.ini turns
`LspSpecificationWarning` into an error) when the server sent something the
client did not declare it can take.
"""

from __future__ import annotations

import os
import pathlib

import pytest_lsp.checks as checks
from lsprotocol import types
from pygls.capabilities import get_capability

REPO = pathlib.Path(__file__).resolve().parents[2]


def routec_binary() -> str:
    """The `routec` binary under test: $ROUTEC_BIN, else the debug build
    (`cargo build -p routec` makes it)."""
    explicit = os.environ.get("ROUTEC_BIN")
    if explicit:
        return explicit
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    binary = target / "debug" / "routec"
    if not binary.exists():
        raise RuntimeError(
            f"{binary} does not exist: run `cargo build -p routec` first "
            "(scripts/test does), or set ROUTEC_BIN"
        )
    return str(binary)


# LSP 1.0's kinds: what a client without a value set knows.
FIRST_COMPLETION_KINDS = set(range(1, 19))
FIRST_SYMBOL_KINDS = set(range(1, 19))


def _value_set(capabilities, path: str, default: set[int]) -> set[int]:
    values = get_capability(capabilities, path, None)
    if values is None:
        return default
    return {int(v) for v in values}


def _completion_items(capabilities, result):
    if result is None:
        return
    items = result.items if isinstance(result, types.CompletionList) else result
    kinds = _value_set(
        capabilities,
        "text_document.completion.completion_item_kind.value_set",
        FIRST_COMPLETION_KINDS,
    )
    for item in items:
        if item.kind is not None:
            assert int(item.kind) in kinds, (
                f"completion kind {int(item.kind)} of `{item.label}` is not in the client's "
                f"value set"
            )


# pytest-lsp already checks completion results; run ours after its own.
_pytest_lsp_completion = checks.RESULT_CHECKS.pop(types.TEXT_DOCUMENT_COMPLETION)


@checks.check_result_for(method=types.TEXT_DOCUMENT_COMPLETION)
def completion(capabilities, result):
    _pytest_lsp_completion(capabilities, result)
    _completion_items(capabilities, result)


@checks.check_result_for(method=types.TEXT_DOCUMENT_HOVER)
def hover(capabilities, result):
    """Markdown only for a client that prefers it to plain text."""
    if result is None:
        return
    contents = result.contents
    assert isinstance(contents, types.MarkupContent), "hover contents are not MarkupContent"
    formats = get_capability(capabilities, "text_document.hover.content_format", None) or []
    preferred = next(
        (f for f in formats if f in (types.MarkupKind.Markdown, types.MarkupKind.PlainText)),
        types.MarkupKind.PlainText,
    )
    assert contents.kind == preferred, (
        f"hover in {contents.kind.value!r}, but the client prefers {preferred.value!r}"
    )


def _symbol_kinds(symbols, kinds: set[int]):
    for s in symbols:
        assert int(s.kind) in kinds, f"symbol kind {int(s.kind)} of `{s.name}` is not in the client's value set"
        _symbol_kinds(getattr(s, "children", None) or [], kinds)


@checks.check_result_for(method=types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbols(capabilities, result):
    """Nested symbols only for a client with hierarchical support; kinds in
    its value set."""
    if not result:
        return
    hierarchical = get_capability(
        capabilities, "text_document.document_symbol.hierarchical_document_symbol_support", False
    )
    nested = isinstance(result[0], types.DocumentSymbol)
    assert nested == bool(hierarchical), (
        f"{'nested' if nested else 'flat'} symbols for a client with "
        f"hierarchicalDocumentSymbolSupport={hierarchical}"
    )
    kinds = _value_set(
        capabilities, "text_document.document_symbol.symbol_kind.value_set", FIRST_SYMBOL_KINDS
    )
    _symbol_kinds(result, kinds)


@checks.check_result_for(method=types.WORKSPACE_SYMBOL)
def workspace_symbols(capabilities, result):
    if not result:
        return
    kinds = _value_set(capabilities, "workspace.symbol.symbol_kind.value_set", FIRST_SYMBOL_KINDS)
    _symbol_kinds(result, kinds)


@checks.check_result_for(method=types.TEXT_DOCUMENT_CODE_ACTION)
def code_actions(capabilities, result):
    """Code action literals only for a client that takes them."""
    if not result:
        return
    literals = get_capability(
        capabilities, "text_document.code_action.code_action_literal_support", None
    )
    for action in result:
        if isinstance(action, types.CodeAction):
            assert literals is not None, "a CodeAction literal for a client without codeActionLiteralSupport"


@checks.check_params_of(method=types.WORKSPACE_INLAY_HINT_REFRESH)
def inlay_hint_refresh(capabilities, params):
    assert get_capability(capabilities, "workspace.inlay_hint.refresh_support", False), (
        "workspace/inlayHint/refresh sent to a client without refreshSupport"
    )
