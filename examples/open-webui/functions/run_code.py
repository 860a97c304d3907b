"""
title: Run code
author: libsandbox authors
version: 0.1.0
license: Apache-2.0
description: A "Run code" button that runs a message's code block in a gVisor sandbox with hard limits.
"""

# An Open WebUI *function* (Action): the user clicks "Run code" under an
# assistant message. The companion *tool* (tools/run_code.py) lets the model
# call the sandbox on its own instead.
#
# Outside Open WebUI:
#   echo 'echo hello > hello.txt' | python3 run_code.py --language=bash
#   python3 run_code.py --self_test

import json
import mimetypes
import os
import re
import stat
import sys
import typing

import libsandbox.openwebui as openwebui

# Re-exported (`X as X`): callers and tests use these names from this file.
from libsandbox.openwebui import ValveError as ValveError
from libsandbox.openwebui import effective_valves as effective_valves
from libsandbox.openwebui import run_arguments as run_arguments
from libsandbox.openwebui import sandbox_run as sandbox_run
from libsandbox.openwebui import storage_dir as storage_dir


# Valves, storage, running and events are shared with the tool file
# (libsandbox.openwebui); only where generated files are kept is this file's own.
class Valves(openwebui.Valves):
    WEB_ACCESSIBLE_DIRECTORY_PATH: str = openwebui.storage_path_valve("$DATA_DIR/cache/functions/run_code")
    WEB_ACCESSIBLE_DIRECTORY_URL: str = openwebui.storage_url_valve("/cache/functions/run_code")


# Rendering of generated files in chat.
MAX_INLINE_TEXT_LINES = 128
MAX_INLINE_TEXT_BYTES = 65535
# The chat shows at most this much of the output (the JSON reply has it all).
_MAX_SHOWN_OUTPUT_CHARS = 65535

# Types Python's built-in table lacks; never read from the host, so rendering
# does not depend on which mime.types file the server has.
_EXTRA_MIME_TYPES = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/opus",
    ".m4a": "audio/mp4",
    ".mkv": "video/x-matroska",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".log": "text/plain",
    ".yaml": "text/yaml",
    ".yml": "text/yaml",
    ".toml": "text/plain",
    ".ini": "text/plain",
    ".cfg": "text/plain",
    ".rst": "text/plain",
}
_MIME_TABLE = mimetypes.MimeTypes()
# Text in all but name: inlined like text/*.
_TEXT_APPLICATION_TYPES = frozenset(
    {"application/json", "application/x-sh", "application/javascript", "application/x-yaml"}
)
# Served from Open WebUI's own origin, these could run script in the user's
# session when opened, so they are listed without a link.
_ACTIVE_CONTENT_TYPES = frozenset(
    {"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", "text/xsl"}
)
_ACTIVE_CONTENT_EXTENSIONS = frozenset(
    {".htm", ".html", ".shtml", ".xht", ".xhtml", ".svg", ".svgz", ".xml", ".xsl", ".xslt", ".mht", ".mhtml"}
)
# Real raster images (by signature, not by name) are shown in the chat.
_IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")
_PYTHON_TAGS = frozenset({"python", "python3", "py"})
_BASH_TAGS = frozenset({"bash", "sh", "shell"})


def mime_type(path: str) -> str:
    """The MIME type by file name; no extension means binary."""
    extension = os.path.splitext(path)[1].lower()
    if not extension:
        return "application/octet-stream"
    if extension in _EXTRA_MIME_TYPES:
        return _EXTRA_MIME_TYPES[extension]
    guessed, _ = _MIME_TABLE.guess_type("file" + extension, strict=False)
    return guessed or "application/octet-stream"


def _is_active_content(path: str, mime: str) -> bool:
    # Also ask the host's own table: the web server picks the served type by it.
    served, _ = mimetypes.guess_type(path, strict=False)
    return (
        os.path.splitext(path)[1].lower() in _ACTIVE_CONTENT_EXTENSIONS
        or mime in _ACTIVE_CONTENT_TYPES
        or served in _ACTIVE_CONTENT_TYPES
    )


def _is_text(mime: str) -> bool:
    return mime.startswith("text/") or mime in _TEXT_APPLICATION_TYPES


def _fenced(text: str, info: str = "") -> str:
    """A fenced code block that `text` cannot close early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def _safe_name(path: str) -> str:
    # File names come from hostile code: no control characters in the chat.
    return "".join("\ufffd" if ord(c) < 32 or ord(c) == 127 else c for c in path)


def _code_span(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _link_text(text: str) -> str:
    return re.sub(r"([\\`*\[\]<>|~])", r"\\\1", text)


def _human_size(size: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size > 1 << shift:
            return f"{size >> shift} {unit}"
    return f"{size} bytes"


def _read_head(host_path: str, limit: int) -> bytes | None:
    """Up to `limit` + 1 bytes of a kept regular file, never following a
    symlink; None when it cannot be read."""
    try:
        fd = os.open(host_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _line_count(text: str) -> int:
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def render_file(path: str, size: int, host_path: str, url: str | None) -> str:
    """The chat markdown for one generated file (see SEED rendering rules):
    small text inlined, markdown quoted, everything else an icon and a link."""
    name = _safe_name(path)
    if size == 0:
        return f"\u2049 {_code_span(name)} (empty)"
    mime = mime_type(path)
    if _is_active_content(path, mime):
        url = None
    link = f"[{_link_text(name)}]({url})" if url else _code_span(name)
    if _is_text(mime) and size <= MAX_INLINE_TEXT_BYTES:
        head = _read_head(host_path, MAX_INLINE_TEXT_BYTES)
        text = None
        if head is not None and len(head) <= MAX_INLINE_TEXT_BYTES:
            try:
                text = head.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is not None and _line_count(text) <= MAX_INLINE_TEXT_LINES:
            text = text.removesuffix("\n")
            if mime == "text/markdown":
                quoted = "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))
                return f"\U0001f4c3 {link}:\n{quoted}"
            if "```" not in text:
                return f"\U0001f4c4 {link}:\n{_fenced(text)}"
    if mime.startswith("image/"):
        icon = "\U0001f5bc"
        head = _read_head(host_path, 16) or b""
        if url and head.startswith(_IMAGE_SIGNATURES):
            return f"{icon} {link} ({_human_size(size)}):  \n![{_link_text(name)}]({url})"
    elif mime.startswith("audio/"):
        icon = "\U0001f3b5"
    elif mime.startswith("video/"):
        icon = "\U0001f3ac"
    elif _is_text(mime):
        icon = "\U0001f4c4"
    else:
        icon = "\U0001f4be"
    return f"{icon} {link} ({_human_size(size)})"


def code_blocks(text: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a markdown message as (info tag, code)."""
    blocks = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        opening = re.match(r" {0,3}(`{3,})([^`]*)$", lines[i])
        if opening is None:
            i += 1
            continue
        fence, info = opening.group(1), opening.group(2).strip().lower()
        closing = re.compile(r" {0,3}" + fence + r"`*\s*$")
        j = i + 1
        while j < len(lines) and closing.match(lines[j]) is None:
            j += 1
        if j == len(lines):
            break  # An unclosed block is not code we were shown whole.
        blocks.append((info.split()[0] if info else "", "\n".join(lines[i + 1 : j])))
        i = j + 1
    return blocks


def _guess_language(code: str) -> str | None:
    first_line = code.strip().split("\n")[0]
    if first_line.startswith("#!"):
        if first_line.endswith(("python", "python3")):
            return "python"
        if first_line.endswith("sh"):
            return "bash"
    if any(hint in code for hint in ("import ", "print(", "print ")):
        return "python"
    if any(hint in code for hint in ("echo ", "if [", "; do", "esac\n")):
        return "bash"
    return None


def pick_code_block(text: str) -> tuple[str, str] | None:
    """(language, code) to run from an assistant message, as the plugin we
    replace chose it: the last bash/sh/shell block wins, else the last
    Python block, else a guess from the last block."""
    blocks = code_blocks(text)
    if not blocks:
        return None
    for tag, code in reversed(blocks):
        if tag in _BASH_TAGS:
            return "bash", code
    for tag, code in reversed(blocks):
        if tag in _PYTHON_TAGS:
            return "python", code
    language = _guess_language(blocks[-1][1])
    return (language, blocks[-1][1]) if language else None


def _chat_message(language: str, status: str, output: str, files: list[str], message: str) -> str:
    title = language.title()
    shown = output
    if len(shown) > _MAX_SHOWN_OUTPUT_CHARS:
        shown = shown[:_MAX_SHOWN_OUTPUT_CHARS] + "\n[...]"
    files_md = "".join(f"\n* {md}" for md in files)
    if status == "OK":
        if shown and files:
            fenced = _fenced(shown, "Output")
            return f"\n\n---\nI executed this {title} code and got:\n{fenced}\n**Files**:{files_md}"
        if shown:
            return f"\n\n---\nI executed this {title} code and got:\n{_fenced(shown, 'Output')}"
        if files:
            return f"\n\n---\nI executed this {title} code and it generated these files:{files_md}"
        return f"\n\n---\nI executed this {title} code and it ran successfully with no output."
    text = f"\n\n---\nI executed this {title} code but it did not succeed ({status}): {message}"
    if shown:
        text += f"\n{_fenced(shown, 'Output')}"
    return text


class Action(openwebui.Plugin[Valves]):
    Valves = Valves

    async def action(
        self,
        body: dict[str, typing.Any],
        __user__: dict[str, typing.Any] | None = None,
        __event_emitter__: openwebui.EventEmitter = None,
        __id__: str | None = None,
        __chat_id__: str | None = None,
        __metadata__: dict[str, typing.Any] | None = None,
        __files__: list[typing.Any] | None = None,
        __request__: typing.Any = None,
    ) -> str:
        debug = bool(self.valves.DEBUG)

        async def refuse(message: str, status: str = "INVALID_INPUT") -> str:
            await openwebui.Events(__event_emitter__, debug).status(message, done=True, error=True)
            return json.dumps({"status": status, "output": message, "message": message})

        messages = body.get("messages") if isinstance(body, dict) else None
        if not messages:
            return await refuse("No messages in the conversation.")
        last = messages[-1]
        if not isinstance(last, dict) or last.get("role") != "assistant":
            return await refuse("The last message is not from the AI model.")
        content = last.get("content")
        if not isinstance(content, str) or not code_blocks(content):
            return await refuse("The last message has no code block.")
        picked = pick_code_block(content)
        if picked is None:
            return await refuse("The last message has no Python or Bash code block.")
        language, code = picked
        code = code.strip()
        run = openwebui.CodeRun(f"{language.title()} code block", language, code, __event_emitter__, debug)
        # The chat's attached files: wherever this Open WebUI version puts them.
        attachments = openwebui.attachment_sources(
            __files__,
            body.get("files"),
            __metadata__.get("files") if isinstance(__metadata__, dict) else None,
            [m.get("files") for m in messages if isinstance(m, dict)],
        )
        chat_id = openwebui.chat_id(__chat_id__, __metadata__, body)
        # Open WebUI gives an action no __metadata__: its body names the chat and message.
        metadata = (
            __metadata__
            if isinstance(__metadata__, dict)
            else {"chat_id": chat_id, "message_id": body.get("id")}
        )
        outcome = await run.execute(self.valves, __user__, chat_id, attachments, __request__, metadata)

        rendered = sorted(
            (f["path"], render_file(f["path"], f["size"], host, f["url"]))
            for f, host in zip(outcome.files, outcome.host_files, strict=True)
        )
        reply: dict[str, typing.Any] = {"status": outcome.status, "output": outcome.output}
        if outcome.status == "OK":
            reply["generated_files"] = dict(rendered)
        reply.update(openwebui.reply_fields(outcome))
        chat = _chat_message(
            language, outcome.status, outcome.output, [md for _, md in rendered], outcome.message
        )
        chat += "".join(f"\n\n_{note}_" for note in outcome.notes)
        await run.finish(outcome, chat)
        return json.dumps(reply, ensure_ascii=False)


async def _run_once(
    language: str, code: str, user: dict[str, typing.Any] | None, emitter: openwebui.EventEmitter
) -> str:
    # A fence longer than any backtick run, so the code comes back whole.
    body = {"messages": [{"role": "assistant", "content": _fenced(code, language) + "\n"}]}
    return await Action().action(body, __user__=user, __event_emitter__=emitter)


def main(argv: list[str] | None = None) -> int:
    """Outside Open WebUI: one run with the code on stdin, or --self_test."""
    return openwebui.main(argv, "function", __file__, Valves, _run_once)


if __name__ == "__main__":
    sys.exit(main())
