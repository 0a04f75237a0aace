"""`routec lsp` (the real binary) driven by pytest-lsp with the capabilities
of real editors, as pytest-lsp recorded them: VS Code 1.65, Neovim 0.6 to
0.11, Emacs 29 (eglot), and Emacs eglot without markdown-mode and
yasnippet (plain-text hovers, no snippets). Every answer is checked against
what that client declared (pytest-lsp's checks and conftest.py's, as
errors), over one scripted editing session per client and a completion
sweep over `examples/support.route`. A change that breaks one client fails
here.
"""

from __future__ import annotations

import asyncio
import json
import pathlib

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.capabilities import get_capability
import pytest_lsp.checks as checks
from pytest_lsp import ClientServerConfig, LanguageClient, LspSpecificationWarning, client_capabilities

from conftest import REPO, routec_binary

SMALL = (REPO / "crates/routec-lsp/tests/fixtures/small.route").read_text()
SUPPORT = (REPO / "examples/support.route").read_text()
# Bounds on waiting for the server (a hang fails instead of blocking CI).
WAIT = 60.0


def eglot_plain():
    """eglot 1.x on Emacs 29 without markdown-mode (hovers in plain text)
    and without yasnippet (no snippets): what eglot declares then."""
    caps = client_capabilities("emacs@v29.1")
    caps.text_document.hover.content_format = [types.MarkupKind.PlainText]
    caps.text_document.completion.completion_item.snippet_support = False
    return caps


CLIENTS = {
    "visual-studio-code@v1.65.2": lambda: client_capabilities("visual-studio-code@v1.65.2"),
    "neovim@v0.6.1": lambda: client_capabilities("neovim@v0.6.1"),
    "neovim@v0.7.0": lambda: client_capabilities("neovim@v0.7.0"),
    "neovim@v0.8.0": lambda: client_capabilities("neovim@v0.8.0"),
    "neovim@v0.9.1": lambda: client_capabilities("neovim@v0.9.1"),
    "neovim@v0.10.0": lambda: client_capabilities("neovim@v0.10.0"),
    "neovim@v0.11.0": lambda: client_capabilities("neovim@v0.11.0"),
    "emacs@v29.1": lambda: client_capabilities("emacs@v29.1"),
    "emacs@v29.1-plain": eglot_plain,
}


@pytest_lsp.fixture(
    params=list(CLIENTS),
    config=ClientServerConfig(server_command=[routec_binary(), "lsp"]),
)
async def client(request, lsp_client: LanguageClient):
    lsp_client.refreshes = 0

    @lsp_client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def _refresh(client: LanguageClient, params):
        client.refreshes += 1

    params = types.InitializeParams(capabilities=CLIENTS[request.param]())
    lsp_client.init_result = await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()
    # `shutdown` then `exit`: status 0.
    assert lsp_client._server.returncode == 0


def cap(client: LanguageClient, path: str, default=None):
    return get_capability(client.capabilities, path, default)


async def diagnostics(client: LanguageClient, uri: str, version: int, nonempty: bool | None = None):
    """The next diagnostics published for `version` of `uri` (non-empty, or
    empty, when asked)."""

    async def wait():
        while True:
            p = await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
            if p.uri != uri or p.version != version:
                continue
            if nonempty is None or bool(p.diagnostics) == nonempty:
                return p

    return await asyncio.wait_for(wait(), WAIT)


def offset(text: str, pos: types.Position) -> int:
    """Byte offset of an LSP position in an ASCII text (any encoding)."""
    lines = text.split("\n")
    return sum(len(l) + 1 for l in lines[: pos.line]) + pos.character


def apply(text: str, edits) -> str:
    spans = sorted(
        ((offset(text, e.range.start), offset(text, e.range.end), e.new_text) for e in edits),
        reverse=True,
    )
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


def position_of(text: str, needle: str, within: int = 0) -> types.Position:
    at = text.index(needle) + within
    line = text[:at].count("\n")
    return types.Position(line=line, character=at - (text.rfind("\n", 0, at) + 1))


def workspace_edits(edit: types.WorkspaceEdit, uri: str):
    if edit.changes:
        return edit.changes[uri]
    return [e for dc in edit.document_changes or [] for e in dc.edits]


class Doc:
    """One open document and its version."""

    def __init__(self, client: LanguageClient, uri: str, text: str):
        self.client, self.uri, self.text, self.version = client, uri, text, 1
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="route", version=1, text=text)
            )
        )

    def change(self, text: str):
        self.version += 1
        self.text = text
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    def id(self):
        return types.TextDocumentIdentifier(uri=self.uri)

    def at(self, needle: str, within: int = 0):
        return dict(text_document=self.id(), position=position_of(self.text, needle, within))


async def inlay_hints(doc: Doc):
    end = types.Position(line=doc.text.count("\n") + 1, character=0)
    hints = await doc.client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=doc.id(), range=types.Range(start=types.Position(line=0, character=0), end=end)
        )
    )
    return [h.label for h in hints or []]


async def until(condition):
    async def wait():
        while not condition():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(wait(), WAIT)


async def simulated(doc: Doc):
    """Waits for the figures of the current text (not earlier ones, which
    are marked `was`); returns the hints."""

    async def wait():
        while True:
            hints = await inlay_hints(doc)
            if hints and not any(h.startswith("was ") for h in hints):
                return hints
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(wait(), WAIT)


async def test_a_scripted_session_honors_the_clients_capabilities(client: LanguageClient, tmp_path: pathlib.Path):
    encodings = cap(client, "general.position_encodings", None) or ["utf-16"]
    announced = client.init_result.capabilities.position_encoding or "utf-16"
    assert announced in encodings

    # Open a policy with a misspelt model: a located error.
    path = tmp_path / "policy.route"
    broken = SMALL.replace("otherwise => fast", "otherwise => fsat")
    path.write_text(broken)
    doc = Doc(client, path.as_uri(), broken)
    published = await diagnostics(client, doc.uri, 1, nonempty=True)
    [d] = published.diagnostics
    assert d.code == "E0102" and d.message.startswith("unknown model `fsat`")
    assert d.range.start == position_of(broken, "fsat")
    if not cap(client, "text_document.publish_diagnostics.related_information", False):
        assert d.related_information is None

    # The quick fix, applied, clears it.
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=doc.id(), range=d.range, context=types.CodeActionContext(diagnostics=[d])
        )
    )
    fix = next(a for a in actions if isinstance(a, types.CodeAction) and a.is_preferred)
    assert "fast" in fix.title
    doc.change(apply(doc.text, workspace_edits(fix.edit, doc.uri)))
    assert doc.text == SMALL
    assert not (await diagnostics(client, doc.uri, 2)).diagnostics

    # Hover, in the client's preferred format (conftest checks the kind).
    hover = await client.text_document_hover_async(types.HoverParams(**doc.at("baseline fast", 10)))
    assert "model fast" in hover.contents.value
    assert ("```" in hover.contents.value) == (hover.contents.kind == types.MarkupKind.Markdown)

    # Completion: snippets only for clients with snippet support (pytest-lsp
    # checks the format, conftest the kinds).
    empty_line = position_of(doc.text, "\nslice coders", 0)
    items = await client.text_document_completion_async(
        types.CompletionParams(text_document=doc.id(), position=types.Position(line=empty_line.line, character=0))
    )
    items = items.items if isinstance(items, types.CompletionList) else items
    model = next(i for i in items if i.label == "model" and i.kind == types.CompletionItemKind.Snippet)
    if cap(client, "text_document.completion.completion_item.snippet_support", False):
        assert model.insert_text_format == types.InsertTextFormat.Snippet
    else:
        assert model.text_edit.new_text == "model name {\n  provider openai\n\n}"

    # Definition and references of `fast`.
    where = await client.text_document_definition_async(types.DefinitionParams(**doc.at("otherwise => fast", 13)))
    assert where.range.start.line == position_of(doc.text, "model fast").line
    refs = await client.text_document_references_async(
        types.ReferenceParams(
            **doc.at("otherwise => fast", 13), context=types.ReferenceContext(include_declaration=True)
        )
    )
    assert len(refs) == 3

    # Rename, checked first by clients that prepare renames.
    if cap(client, "text_document.rename.prepare_support", False):
        prepared = await client.text_document_prepare_rename_async(
            types.PrepareRenameParams(**doc.at("otherwise => fast", 13))
        )
        assert prepared.placeholder == "fast"
    edit = await client.text_document_rename_async(
        types.RenameParams(**doc.at("otherwise => fast", 13), new_name="quick")
    )
    renamed = apply(doc.text, workspace_edits(edit, doc.uri))
    assert "fast" not in renamed.replace("A fast, cheap", "")
    doc.change(renamed)
    assert not (await diagnostics(client, doc.uri, doc.version)).diagnostics

    # Formatting: small edits, only whitespace, giving the formatted text.
    messy = doc.text.replace('  owner "tests"', '      owner    "tests"')
    doc.change(messy)
    edits = await client.text_document_formatting_async(
        types.DocumentFormattingParams(
            text_document=doc.id(), options=types.FormattingOptions(tab_size=2, insert_spaces=True)
        )
    )
    assert len(edits) == 2
    assert all(e.new_text.strip() == "" and e.range.start.line == e.range.end.line for e in edits)
    doc.change(apply(messy, edits))
    assert doc.text == renamed

    # Symbols (conftest checks nesting and kinds against the client's).
    symbols = await client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=doc.id()))
    assert any(s.name == "quick" for s in symbols)
    found = await client.workspace_symbol_async(types.WorkspaceSymbolParams(query="quick"))
    assert [s.name for s in found] == ["quick"]

    # Semantic tokens, for clients that ask for them.
    if cap(client, "text_document.semantic_tokens", None) is not None:
        tokens = await client.text_document_semantic_tokens_full_async(
            types.SemanticTokensParams(text_document=doc.id())
        )
        assert tokens.data and len(tokens.data) % 5 == 0

    # Inlay hints and code lenses, for clients that ask for them.
    if cap(client, "text_document.inlay_hint", None) is not None:
        hints = await simulated(doc)
        assert len(hints) == 4 and any("p95" in h for h in hints), hints
        # Asked to refresh when figures landed, if it takes refreshes
        # (conftest fails a refresh sent to a client without them).
        if cap(client, "workspace.inlay_hint.refresh_support", False):
            await until(lambda: client.refreshes > 0)
        else:
            assert client.refreshes == 0
        # An error in the first rule: the others keep their last figures.
        doc.change(doc.text.replace("when task == code => smart", "when task == code => smrt"))
        await diagnostics(client, doc.uri, doc.version, nonempty=True)
        kept = await inlay_hints(doc)
        assert len(kept) == 3 and all(h.startswith("was ") for h in kept), kept
    if cap(client, "text_document.code_lens", None) is not None:
        lenses = await client.text_document_code_lens_async(types.CodeLensParams(text_document=doc.id()))
        assert [l.command.command for l in lenses] == ["routec.simulate", "routec.runTests"]


async def test_completion_everywhere_in_support_route(client: LanguageClient, tmp_path: pathlib.Path):
    """Completion at the start and the end of every line of the normative
    example: every item checked against the client's capabilities."""
    path = tmp_path / "support.route"
    path.write_text(SUPPORT)
    doc = Doc(client, path.as_uri(), SUPPORT)
    snippets = 0
    for n, line in enumerate(SUPPORT.split("\n")):
        for character in sorted({len(line) - len(line.lstrip()), len(line)}):
            result = await client.text_document_completion_async(
                types.CompletionParams(text_document=doc.id(), position=types.Position(line=n, character=character))
            )
            items = (result.items if isinstance(result, types.CompletionList) else result) or []
            for item in items:
                if item.kind == types.CompletionItemKind.Snippet:
                    snippets += 1
                    assert "$" not in item.text_edit.new_text or item.insert_text_format == types.InsertTextFormat.Snippet
    assert snippets > 100


async def read_message(stream: asyncio.StreamReader) -> dict | None:
    header = await stream.readuntil(b"\r\n\r\n") if not stream.at_eof() else b""
    if not header:
        return None
    length = int(header.split(b":")[1])
    return json.loads(await stream.readexactly(length))


async def raw_session(frames: list[bytes], shutdown: bool = True) -> tuple[int, list[dict]]:
    """Runs `routec lsp`: `initialize`, and once it is answered, `frames`
    written as they are to its standard input, then (with `shutdown`)
    `shutdown` and once it is answered `exit`, or else `exit` alone.
    Returns its exit status and every message it wrote."""
    proc = await asyncio.create_subprocess_exec(
        routec_binary(), "lsp",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )

    async def run():
        proc.stdin.write(INITIALIZE)
        messages = [await read_message(proc.stdout)]
        proc.stdin.write(b"".join(frames))
        if shutdown:
            proc.stdin.write(SHUTDOWN)
            while messages[-1].get("id") != 2 or "method" in messages[-1]:
                messages.append(await read_message(proc.stdout))
        proc.stdin.write(EXIT)
        proc.stdin.close()
        while True:
            try:
                m = await read_message(proc.stdout)
            except asyncio.IncompleteReadError:
                m = None
            if m is None:
                break
            messages.append(m)
        return await proc.wait(), messages

    return await asyncio.wait_for(run(), WAIT)


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


INITIALIZE = frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})
INITIALIZED = frame({"jsonrpc": "2.0", "method": "initialized", "params": {}})
SHUTDOWN = frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
EXIT = frame({"jsonrpc": "2.0", "method": "exit"})


async def test_exit_status_is_0_after_shutdown_and_1_without():
    status, _ = await raw_session([INITIALIZED])
    assert status == 0
    status, _ = await raw_session([INITIALIZED], shutdown=False)
    assert status == 1


async def test_unreadable_messages_get_parse_errors_and_later_frames_are_read():
    status, messages = await raw_session([
        INITIALIZED,
        b"Content-Length: 9\r\n\r\nnot json!",
        # No Content-Length: its body must not be taken for a header, nor
        # served (it would shut the server down).
        b'Content-Type: application/vscode-jsonrpc\r\n\r\n{"jsonrpc":"2.0","id":7,"method":"shutdown"}',
    ])
    assert status == 0
    errors = [m for m in messages if "error" in m]
    assert [(m["id"], m["error"]["code"]) for m in errors] == [(None, -32700), (None, -32700)]
    assert {m.get("id") for m in messages if "result" in m} == {1, 2}


def test_the_specification_checks_are_errors():
    """The checks this suite relies on fail a test (pytest.ini), for the
    mistakes of issue 15: a snippet or a markdown hover for a client that
    did not declare them."""
    snippet = types.CompletionItem(
        label="model", insert_text="model ${1:name}", insert_text_format=types.InsertTextFormat.Snippet
    )
    markdown = types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value="**x**"))
    vscode = client_capabilities("visual-studio-code@v1.65.2")
    checks.check_result_against_client_capabilities(vscode, types.TEXT_DOCUMENT_COMPLETION, [snippet])
    checks.check_result_against_client_capabilities(vscode, types.TEXT_DOCUMENT_HOVER, markdown)
    with pytest.raises(LspSpecificationWarning, match="snippets"):
        checks.check_result_against_client_capabilities(
            client_capabilities("neovim@v0.7.0"), types.TEXT_DOCUMENT_COMPLETION, [snippet]
        )
    with pytest.raises(LspSpecificationWarning, match="prefers 'plaintext'"):
        checks.check_result_against_client_capabilities(eglot_plain(), types.TEXT_DOCUMENT_HOVER, markdown)
