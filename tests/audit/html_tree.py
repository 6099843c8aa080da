"""A small element tree of an HTML page, built with the standard library's ``html.parser``, for assertions on the
audit page's structure (elements, attributes, text) rather than on its spelling.

Text and attribute values are unescaped (``&lt;`` reads ``<``), so a test compares them with the raw strings it put
in. The parser is strict about nesting: an end tag that closes no open element, or an element left open, fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                  "wbr"})
"""HTML elements without an end tag."""


@dataclass
class Node:
    """One element: its tag, attributes, and children (elements and text, in document order)."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    @property
    def elements(self) -> list[Node]:
        """The child elements."""
        return [c for c in self.children if isinstance(c, Node)]

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        """All the text inside, concatenated."""
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    @property
    def title(self) -> str:
        """Text of the SVG ``<title>`` child (its tooltip), or ''."""
        return next((c.text for c in self.elements if c.tag == "title"), "")

    def iter(self, tag: str | None = None) -> Iterator[Node]:
        """This element and every element inside it, in document order (only those named ``tag`` when given)."""
        if tag is None or self.tag == tag:
            yield self
        for child in self.elements:
            yield from child.iter(tag)

    def find(self, tag: str) -> Node:
        """The first element named ``tag`` inside (or this one); AssertionError if none."""
        found = next(self.iter(tag), None)
        assert found is not None, f"no <{tag}> in <{self.tag}>"
        return found


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.stack = [self.root]
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        assert len(self.stack) > 1 and self.stack[-1].tag == tag, (
            f"</{tag}> closes <{self.stack[-1].tag}>: the page is not well nested")
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(page: str) -> tuple[str, Node]:
    """(the doctype declaration, the document's root node) of ``page``."""
    builder = _Builder()
    builder.feed(page)
    builder.close()
    assert builder.stack == [builder.root], f"unclosed elements: {[n.tag for n in builder.stack[1:]]}"
    return builder.doctype, builder.root


def section(body: Node, heading: str) -> list[Node]:
    """The elements of ``body`` after the ``<h2>`` whose text contains ``heading``, up to the next ``<h2>``."""
    out: list[Node] = []
    inside = False
    for node in body.elements:
        if node.tag == "h2":
            if inside:
                break
            inside = heading in node.text
        elif inside:
            out.append(node)
    assert inside, f"no section {heading!r}"
    return out
