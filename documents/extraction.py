"""What kind of file an upload is (read from its bytes, never its name) and the
text inside it. Every refusal is an ExtractionError whose reason is written for
the person who uploaded the file."""

import codecs
import io
import logging
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePath

import docx
import pypdf
from docx.text.paragraph import Paragraph
from pypdf.errors import DependencyError, FileNotDecryptedError

from .models import Document

log = logging.getLogger(__name__)

Kind = Document.Kind

ENCRYPTED = "encrypted: remove the password and upload again"
SCANNED = "scanned image, no text to read"
EMPTY = "empty: the file has no text in it"
READABLE = "Quorum reads PDF, Word (.docx), plain text, Markdown and HTML"

# A DOCX is a zip; one that inflates far beyond any real document is a zip bomb.
MAX_UNZIPPED_BYTES = 512 * 1024 * 1024

# Binary formats people upload by mistake, named so the refusal says what the file is.
MAGIC = [
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"\xcf\xfa\xed\xfe", "a macOS program"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"{\\rtf", "an RTF document (save it as .docx or PDF)"),
]
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Password-protected .docx files are OLE containers holding this stream (name in UTF-16).
OLE_ENCRYPTED = "EncryptedPackage".encode("utf-16-le")

# The WHATWG MIME sniffing rule for HTML: the first tag, after whitespace, is one of these.
HTML_START = re.compile(
    rb"<(!doctype html|html|head|body|script|iframe|h1|div|font|table|a|style|title|b|br|p|!--)[\s>]", re.IGNORECASE
)
# C0 control bytes other than tab, newlines, form feed and escape: rare in text, common in binaries.
CONTROL_BYTES = re.compile(rb"[\x01-\x08\x0e-\x1a\x1c-\x1f\x7f]")


class ExtractionError(Exception):
    """Why a file was refused, in words for the person who uploaded it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class UnsupportedFile(ExtractionError):
    def __init__(self, what: str):
        super().__init__(f"unsupported: this is {what}. {READABLE}.")
        self.what = what


@dataclass(frozen=True)
class Extracted:
    kind: Kind
    text: str
    page_count: int | None = None


def sniff(data: bytes) -> Kind:
    """The kind of document these bytes are, or an ExtractionError saying why
    Quorum cannot read them."""
    if not data.strip():
        raise ExtractionError(EMPTY)
    if _is_pdf(data):
        return Kind.PDF
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(data)
    if data.startswith(OLE):
        if OLE_ENCRYPTED in data:
            raise ExtractionError(ENCRYPTED)
        raise UnsupportedFile("an older Office file (.doc, .xls or .ppt); save it as .docx or PDF")
    if not _looks_like_text(data):
        what = next((what for magic, what in MAGIC if data.startswith(magic)), "binary data, not a document")
        raise UnsupportedFile(what)
    head = data.removeprefix(codecs.BOM_UTF8)[:1024].lstrip()
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        head = _decode(head).lstrip().encode("utf-8", "replace")
    if HTML_START.match(head) or (head[:5].lower() == b"<?xml" and b"<html" in head.lower()):
        return Kind.HTML
    return Kind.TEXT


def extract(data: bytes, filename: str) -> Extracted:
    """Read the text out of an uploaded file. The filename only improves the
    wording of a refusal: a .pdf that is really a zip is told so."""
    try:
        kind = sniff(data)
    except UnsupportedFile as error:
        suffix = PurePath(filename).suffix.lower()
        if suffix in {".pdf", ".docx", ".txt", ".md", ".markdown", ".html", ".htm"}:
            raise ExtractionError(
                f"unsupported: this is {error.what}, although its name ends in {suffix}. {READABLE}."
            ) from None
        raise
    text, page_count = READERS[kind](data)
    text = _tidy(text)
    if not text:
        raise ExtractionError(SCANNED if kind == Kind.PDF else EMPTY)
    return Extracted(kind, text, page_count)


def _is_pdf(data: bytes) -> bool:
    # Readers accept the header anywhere in the first KB; a text file that merely
    # mentions "%PDF-" near its start has no end-of-file marker, so it stays text.
    at = data.find(b"%PDF-", 0, 1024)
    return at == 0 or (at > 0 and b"%%EOF" in data[-2048:])


def _sniff_zip(data: bytes) -> Kind:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            unzipped = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, EOFError, ValueError):
        raise ExtractionError("corrupt: the file is a damaged Word document or ZIP archive") from None
    if "word/document.xml" not in names:
        if "xl/workbook.xml" in names:
            raise UnsupportedFile("an Excel workbook")
        if "ppt/presentation.xml" in names:
            raise UnsupportedFile("a PowerPoint presentation")
        raise UnsupportedFile("a ZIP archive")
    if unzipped > MAX_UNZIPPED_BYTES:
        raise UnsupportedFile("a Word document that unpacks to more than 512 MB")
    return Kind.DOCX


def _looks_like_text(data: bytes) -> bool:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        sample = _decode(data[:8192])
        controls = sum(unicodedata.category(char) == "Cc" and char not in "\t\n\r\f\x1b" for char in sample)
        return controls <= len(sample) // 100
    sample = data[:8192]
    return b"\x00" not in data and len(CONTROL_BYTES.findall(sample)) <= len(sample) // 100


def _decode(data: bytes) -> str:
    """Text in the encoding it most plausibly uses: a BOM's word first, then UTF-8,
    then Windows-1252 (what most non-UTF-8 office text is), then Latin-1, which
    accepts any bytes."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _tidy(text: str) -> str:
    # PostgreSQL text cannot hold NUL, and line endings should not depend on the uploader's OS.
    text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    return text.strip()


def _read_pdf(data: bytes) -> tuple[str, int]:
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError(ENCRYPTED)
        pages = reader.pages
        count = len(pages)
    except (FileNotDecryptedError, DependencyError):
        # DependencyError: AES needs the optional cryptography package; we cannot open it either way.
        raise ExtractionError(ENCRYPTED) from None
    except ExtractionError:
        raise
    except Exception as error:
        # pypdf signals damage with many exception types; any of them means the same to the uploader.
        log.info("unreadable PDF: %r", error)
        raise ExtractionError("corrupt: the PDF is damaged or incomplete and cannot be read") from None
    texts = []
    for number, page in enumerate(pages, start=1):
        try:
            texts.append(page.extract_text() or "")
        except Exception as error:
            log.info("unreadable PDF page %d: %r", number, error)
            raise ExtractionError(f"corrupt: page {number} of the PDF cannot be read") from None
    return "\n\n".join(text.strip() for text in texts), count


def _read_docx(data: bytes) -> tuple[str, None]:
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = [_docx_block_text(block) for block in document.iter_inner_content()]
    except Exception as error:
        # python-docx raises KeyError, lxml and zip errors for a broken package.
        log.info("unreadable DOCX: %r", error)
        raise ExtractionError("corrupt: the Word document is damaged and cannot be read") from None
    return "\n\n".join(block for block in blocks if block.strip()), None


def _docx_block_text(block) -> str:
    if isinstance(block, Paragraph):
        return block.text
    rows = []
    for row in block.rows:
        cells = []
        for cell in row.cells:
            # A merged cell is returned once per grid column it spans.
            if not cells or cell._tc is not cells[-1]._tc:
                cells.append(cell)
        rows.append(" | ".join(cell.text.strip() for cell in cells))
    return "\n".join(rows)


def _read_text(data: bytes) -> tuple[str, None]:
    return _decode(data), None


def _read_html(data: bytes) -> tuple[str, None]:
    parser = _VisibleText()
    parser.feed(_decode(data))
    parser.close()
    return parser.text(), None


class _VisibleText(HTMLParser):
    """Collects the text a browser would show: no scripts, styles, templates, or
    elements hidden from view (a favourite hiding place for prompt injections)."""

    INVISIBLE = {"head", "script", "style", "template", "noscript", "iframe", "object", "svg", "canvas"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
    BLOCK = {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "figure",
        "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p",
        "pre", "section", "table", "tr", "ul",
    }  # fmt: skip
    CELL = {"td", "th"}
    HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        # While skipping, the tag that started it and how deeply it is nested in itself.
        self.skipping: str | None = None
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        if self.skipping == "head" and tag == "body":
            # </head> is optional: the body starting ends the head.
            self.skipping = None
        if self.skipping:
            self.depth += tag == self.skipping
            return
        if tag not in self.VOID and (tag in self.INVISIBLE or self._hidden(dict(attrs))):
            self.skipping, self.depth = tag, 1
            return
        if tag in self.BLOCK:
            self.parts.append("\n")
        elif tag in self.CELL:
            self.parts.append(" | ")

    def handle_startendtag(self, tag, attrs):
        if not self.skipping and tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if self.skipping:
            self.depth -= tag == self.skipping
            if self.depth == 0:
                self.skipping = None
            return
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)

    def _hidden(self, attrs: dict) -> bool:
        return (
            "hidden" in attrs
            or attrs.get("aria-hidden") == "true"
            or bool(self.HIDDEN_STYLE.search(attrs.get("style") or ""))
        )

    def text(self) -> str:
        lines = (" ".join(line.split()).strip(" |") for line in "".join(self.parts).split("\n"))
        # Keep paragraph breaks, but never more than one blank line in a row.
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


READERS = {Kind.PDF: _read_pdf, Kind.DOCX: _read_docx, Kind.TEXT: _read_text, Kind.HTML: _read_html}
