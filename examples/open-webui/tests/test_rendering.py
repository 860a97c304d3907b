"""How the function renders generated files in chat (the rendering rules of
the self-test catalogue), and that hostile names or content cannot break
out of the markdown."""

from __future__ import annotations

import os
import pathlib
import types

import pytest

URL = "http://myhost/URL/ROOT/u_x/exec1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def render(module: types.ModuleType, tmp_path: pathlib.Path, name: str, content: bytes) -> str:
    host = tmp_path / "kept" / name
    host.parent.mkdir(parents=True, exist_ok=True)
    host.write_bytes(content)
    markdown: str = module.render_file(name, len(content), str(host), f"{URL}/{name}")
    return markdown


def test_small_text_is_inlined_with_a_link(function_module: types.ModuleType, tmp_path: pathlib.Path) -> None:
    md = render(function_module, tmp_path, "foo/bar/dmesg.txt", b"Booting gVisor\nline two\n")
    assert (
        md == f"\U0001f4c4 [foo/bar/dmesg.txt]({URL}/foo/bar/dmesg.txt):\n```\nBooting gVisor\nline two\n```"
    )


@pytest.mark.parametrize(
    ("lines", "inlined"), [(127, True), (128, True), (129, False)], ids=["127", "128", "129"]
)
def test_line_limit(
    function_module: types.ModuleType, tmp_path: pathlib.Path, lines: int, inlined: bool
) -> None:
    for name in ("lines.txt", "lines.md"):
        md = render(function_module, tmp_path, name, b"boop\n" * lines)
        assert ("boop" in md) is inlined, name


@pytest.mark.parametrize(("size", "inlined"), [(65534, True), (65535, True), (65536, False)])
def test_byte_limit(
    function_module: types.ModuleType, tmp_path: pathlib.Path, size: int, inlined: bool
) -> None:
    md = render(function_module, tmp_path, "bytes.txt", (b"boop " * 20000)[:size])
    assert ("boop" in md) is inlined
    if not inlined:
        assert md == f"\U0001f4c4 [bytes.txt]({URL}/bytes.txt) (64 KiB)"


def test_triple_backticks_are_not_inlined(function_module: types.ModuleType, tmp_path: pathlib.Path) -> None:
    md = render(function_module, tmp_path, "no_inline.txt", b"This file cannot ``` be inlined\n")
    assert md.startswith("\U0001f4c4 [no_inline.txt](")
    assert "This file cannot" not in md and "```" not in md


def test_empty_file(function_module: types.ModuleType, tmp_path: pathlib.Path) -> None:
    assert render(function_module, tmp_path, "empty.txt", b"") == "\u2049 `empty.txt` (empty)"


def test_markdown_is_quoted(function_module: types.ModuleType, tmp_path: pathlib.Path) -> None:
    md = render(function_module, tmp_path, "markdown.md", b"# Example markdown file\nThis is markdown!\n")
    assert (
        md == f"\U0001f4c3 [markdown.md]({URL}/markdown.md):\n> # Example markdown file\n> This is markdown!"
    )


@pytest.mark.parametrize(
    ("name", "icon"),
    [
        ("picture.png", "\U0001f5bc"),
        ("song.flac", "\U0001f3b5"),
        ("movie.mkv", "\U0001f3ac"),
        ("random_data", "\U0001f4be"),
        ("random_data.bin", "\U0001f4be"),
        ("archive.tar.gz", "\U0001f4be"),
    ],
)
def test_other_types_get_an_icon_and_are_not_inlined(
    function_module: types.ModuleType, tmp_path: pathlib.Path, name: str, icon: str
) -> None:
    md = render(function_module, tmp_path, name, b"Might be anything\n")
    assert md.startswith(icon + " [")
    assert "Might be" not in md
    assert md.endswith("(18 bytes)")


def test_real_images_are_shown(function_module: types.ModuleType, tmp_path: pathlib.Path) -> None:
    md = render(function_module, tmp_path, "plot.png", PNG)
    assert md.startswith("\U0001f5bc [plot.png](")
    assert f"![plot.png]({URL}/plot.png)" in md


def test_invalid_utf8_text_is_not_inlined(function_module: types.ModuleType, tmp_path: pathlib.Path) -> None:
    md = render(function_module, tmp_path, "latin1.txt", "caf\xe9\n".encode("latin-1"))
    assert md == f"\U0001f4c4 [latin1.txt]({URL}/latin1.txt) (5 bytes)"


@pytest.mark.parametrize("name", ["page.html", "drawing.svg", "feed.xml", "page.xhtml"])
def test_active_content_is_never_linked(
    function_module: types.ModuleType, tmp_path: pathlib.Path, name: str
) -> None:
    # Served from Open WebUI's own origin it could run script in the user's session.
    md = render(function_module, tmp_path, name, b"<script>alert(1)</script>\n")
    assert "](" not in md and URL not in md
    assert f"`{name}`" in md


def test_hostile_names_cannot_break_the_markdown(
    function_module: types.ModuleType, tmp_path: pathlib.Path
) -> None:
    name = "a](javascript:alert(1))\n# b`c.txt"
    md: str = function_module.render_file(name, 3, str(tmp_path / "missing"), "/files/x")
    first_line, _, rest = md.partition("\n")
    assert rest == ""  # no newline smuggled in
    assert "\\]" in first_line and "\\`" in first_line
    assert first_line.endswith("](/files/x) (3 bytes)")


def test_symlinked_kept_file_is_not_read(function_module: types.ModuleType, tmp_path: pathlib.Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret\n")
    link = tmp_path / "kept.txt"
    os.symlink(secret, link)
    md = function_module.render_file("kept.txt", 12, str(link), "/files/kept.txt")
    assert "host secret" not in md


def test_output_cannot_close_its_fence(function_module: types.ModuleType) -> None:
    text = function_module._chat_message("bash", "OK", "a\n```\n# injected heading\n````", [], "")
    fence = "`````"
    assert f"{fence}Output\na\n```\n# injected heading\n````\n{fence}" in text
