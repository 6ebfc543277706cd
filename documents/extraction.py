"""What kind of file an upload is (read from its bytes, never its name) and the
text inside it, read within hard limits. Every refusal is an ExtractionError
whose reason is written for the person who uploaded the file and names the
limit it hit.

This module runs inside the bounded extraction process (documents/sandbox.py),
which adds the limits no Python code can enforce on itself (CPU seconds, memory,
wall clock). It imports nothing from Django and loads each reader's library only
when a file of that kind arrives, so that process starts in a fraction of a second."""

import codecs
import io
import logging
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from html.parser import HTMLParser
from pathlib import PurePath

log = logging.getLogger(__name__)


class Kind(StrEnum):
    """The same values as Document.Kind, without importing Django here."""

    PDF = "pdf"
    DOCX = "docx"
    TEXT = "text"
    HTML = "html"
    IMAGE = "image"


class Source(StrEnum):
    """Where a document's text came from: its own text layer, OCR, or both (some pages each)."""

    TEXT = "text"
    OCR = "ocr"
    MIXED = "mixed"


ENCRYPTED = "encrypted: remove the password and upload again"
SCANNED = "scanned image, no text to read"
EMPTY = "empty: the file has no text in it"
READABLE = "Quorum reads PDF, Word (.docx), plain text, Markdown, HTML and scans (PNG, JPEG, TIFF)"
NO_OCR = "scanned: this file needs OCR, and Tesseract is not installed on this server"

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one document may cost to read. The defaults fit real business
    documents with room to spare (a 2,000-page PDF, a Word file of 16 MB of XML);
    each one stops a known attack: pages that share one huge content stream, a
    zip that inflates a thousandfold, an image of a billion pixels."""

    pages: int = 2000
    chars: int = 5_000_000
    # Bytes of a DOCX as they inflate, counted while reading (declared sizes can lie).
    inflated_bytes: int = 160 * MB
    xml_bytes: int = 16 * MB
    zip_parts: int = 5000
    # Decompressed page content of a PDF; a stream shared by many pages is read once.
    pdf_content_bytes: int = 32 * MB
    # Pages (or images) read with OCR; 0 means "do not OCR here" (the upload request's quick attempt).
    ocr_pages: int = 50
    image_pixels: int = 80_000_000
    ocr_languages: str = "eng+deu"


class ExtractionError(Exception):
    """Why a file was refused, in words for the person who uploaded it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class UnsupportedFile(ExtractionError):
    def __init__(self, what: str):
        super().__init__(f"unsupported: this is {what}. {READABLE}.")
        self.what = what


class NeedsOCR(ExtractionError):
    """Raised when OCR is needed but not allowed by the limits (ocr_pages=0): the
    caller hands the file to the extraction job, which may OCR."""

    def __init__(self):
        super().__init__("scanned: the text must be read with OCR")


@dataclass(frozen=True)
class Extracted:
    kind: str
    text: str
    page_count: int | None = None
    source: str = Source.TEXT
    # The mean of Tesseract's word confidences (0-100), when any text came from OCR.
    ocr_confidence: float | None = None


# Binary formats people upload by mistake, named so the refusal says what the file is.
MAGIC = [
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"\xcf\xfa\xed\xfe", "a macOS program"),
    (b"GIF8", "a GIF image"),
    (b"BM", "a BMP image (save it as PNG or JPEG)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"{\\rtf", "an RTF document (save it as .docx or PDF)"),
]
# Scans Quorum reads with OCR.
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Password-protected .docx files are OLE containers holding this stream (name in UTF-16).
OLE_ENCRYPTED = "EncryptedPackage".encode("utf-16-le")

# The WHATWG MIME sniffing rule for HTML: the first tag, after whitespace, is one of these.
HTML_START = re.compile(
    rb"<(!doctype html|html|head|body|script|iframe|h1|div|font|table|a|style|title|b|br|p|!--)[\s>]", re.IGNORECASE
)
# C0 control bytes other than tab, newlines, form feed and escape: rare in text, common in binaries.
CONTROL_BYTES = re.compile(rb"[\x01-\x08\x0e-\x1a\x1c-\x1f\x7f]")
# Word never writes a DTD; one in a DOCX part is there to expand entities (a "billion laughs").
DTD = re.compile(
    b"|".join(
        re.escape(word.encode(encoding))
        for word in ("<!DOCTYPE", "<!ENTITY")
        for encoding in ("ascii", "utf-16-le", "utf-16-be")
    ),
    re.IGNORECASE,
)


def sniff(data: bytes) -> Kind:
    """The kind of document these bytes are, or an ExtractionError saying why
    Quorum cannot read them."""
    if not data.strip():
        raise ExtractionError(EMPTY)
    if _is_pdf(data):
        return Kind.PDF
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(data)
    if data.startswith(IMAGE_MAGIC):
        return Kind.IMAGE
    if data.startswith(OLE):
        if OLE_ENCRYPTED in data:
            raise ExtractionError(ENCRYPTED)
        raise UnsupportedFile("an older Office file (.doc, .xls or .ppt); save it as .docx or PDF")
    if not _looks_like_text(data):
        raise UnsupportedFile(_what_binary(data))
    head = data.removeprefix(codecs.BOM_UTF8)[:1024].lstrip()
    if _wide_encoding(data):
        head = _decode(data[:4096]).lstrip().encode("utf-8", "replace")
    if HTML_START.match(head) or (head[:5].lower() == b"<?xml" and b"<html" in head.lower()):
        return Kind.HTML
    if head.lower().startswith((b"<svg", b"<?xml", b"<!doctype svg", b"<!--")) and b"<svg" in head.lower():
        # Read as text, its scripts and hidden elements would reach the agents, which
        # the HTML reader exists to prevent; and a drawing is rarely a document.
        raise UnsupportedFile("an SVG drawing (save it as PDF or PNG)")
    return Kind.TEXT


def extract(data: bytes, filename: str, limits: Limits | None = None) -> Extracted:
    """Read the text out of an uploaded file within the limits. The filename
    only improves the wording of a refusal: a .pdf that is really a zip is told so."""
    limits = limits or Limits()
    try:
        kind = sniff(data)
    except UnsupportedFile as error:
        suffix = PurePath(filename).suffix.lower()
        if suffix in {".pdf", ".docx", ".txt", ".md", ".markdown", ".html", ".htm", ".png", ".jpg", ".tif"}:
            raise ExtractionError(
                f"unsupported: this is {error.what}, although its name ends in {suffix}. {READABLE}."
            ) from None
        raise
    extracted = READERS[kind](data, limits)
    text = _tidy(extracted.text)
    if not text:
        raise ExtractionError(SCANNED if kind in (Kind.PDF, Kind.IMAGE) else EMPTY)
    if len(text) > limits.chars:
        raise ExtractionError(f"too long: {len(text):,} characters of text; the limit is {limits.chars:,}")
    return Extracted(kind, text, extracted.page_count, extracted.source, extracted.ocr_confidence)


def _is_pdf(data: bytes) -> bool:
    # Readers accept the header anywhere in the first KB; a text file that merely
    # mentions "%PDF-" near its start has no end-of-file marker, so it stays text.
    at = data.find(b"%PDF-", 0, 1024)
    return at == 0 or (at > 0 and b"%%EOF" in data[-2048:])


def _sniff_zip(data: bytes) -> Kind:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, EOFError, ValueError):
        raise ExtractionError("corrupt: the file is a damaged Word document or ZIP archive") from None
    if "word/document.xml" not in names:
        if "xl/workbook.xml" in names:
            raise UnsupportedFile("an Excel workbook")
        if "ppt/presentation.xml" in names:
            raise UnsupportedFile("a PowerPoint presentation")
        raise UnsupportedFile("a ZIP archive")
    return Kind.DOCX


def _what_binary(data: bytes) -> str:
    """What a binary file is, for its refusal: phones save photos as HEIC, browsers as WebP."""
    if data[4:8] == b"ftyp":
        if data[8:12] in (b"heic", b"heix", b"heif", b"mif1", b"msf1", b"avif"):
            return "a HEIC or AVIF photo (export it as JPEG or PDF)"
        return "a video"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "a WebP image (save it as PNG or JPEG)"
    return next((what for magic, what in MAGIC if data.startswith(magic)), "binary data, not a document")


def _looks_like_text(data: bytes) -> bool:
    if _wide_encoding(data):
        sample = _decode(data[:8192])
        controls = sum(unicodedata.category(char) == "Cc" and char not in "\t\n\r\f\x1b" for char in sample)
        return controls <= len(sample) // 100
    sample = data[:8192]
    # A stray NUL (an export's padding, a bad copy) is dropped from the text; many mean a
    # binary file, and so does any in a file under 1,000 bytes (a program's header: "MZ\x90\x00").
    nuls_allowed = len(data) // 1000
    return data.count(b"\x00") <= nuls_allowed and len(CONTROL_BYTES.findall(sample)) <= len(sample) // 100


def _wide_encoding(data: bytes) -> str | None:
    """The encoding of text written two or four bytes a character (what Windows
    calls "Unicode"), from its BOM or, without one, from the zero bytes of its
    ASCII characters falling all on odd or all on even positions; None for text
    written a byte at a time."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = data[:8192]
    even, odd = sample[0::2], sample[1::2]
    if len(odd) >= 4:
        if odd.count(0) > len(odd) * 0.4 and even.count(0) < len(even) * 0.05:
            return "utf-16-le"
        if even.count(0) > len(even) * 0.4 and odd.count(0) < len(odd) * 0.05:
            return "utf-16-be"
    return None


def _decode(data: bytes) -> str:
    """Text in the encoding it most plausibly uses: a wide encoding's (UTF-16 or
    UTF-32) first, then UTF-8, then Windows-1252 (what most non-UTF-8 office
    text is), then Latin-1, which accepts any bytes."""
    if encoding := _wide_encoding(data):
        return data.decode(encoding, errors="replace")
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


def _read_pdf(data: bytes, limits: Limits) -> Extracted:
    import pypdf
    from pypdf.errors import DependencyError, FileNotDecryptedError

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
    if count > limits.pages:
        raise ExtractionError(f"too many pages: {count:,}; the limit is {limits.pages:,}")
    texts: list[str] = []
    # pypdf parses a page's content stream again for every page that shows it: a
    # small file whose 40 pages share one 1 MB stream took a minute. A stream (with
    # the same resources) is read once, and every distinct stream counts against
    # the document's budget of decompressed content.
    read: dict[tuple, str] = {}
    budget = limits.pdf_content_bytes
    for number, page in enumerate(pages, start=1):
        key = _shared_key(page)
        if key is not None and key in read:
            texts.append(read[key])
            continue
        try:
            contents = page.get_contents()
            budget -= len(contents.get_data()) if contents is not None else 0
            if budget < 0:
                raise ExtractionError(
                    f"too complex: the PDF's page content unpacks to more than "
                    f"{limits.pdf_content_bytes // MB} MB (the limit), by page {number}"
                )
            text = (page.extract_text() or "").strip()
        except ExtractionError:
            raise
        except Exception as error:
            log.info("unreadable PDF page %d: %r", number, error)
            raise ExtractionError(f"corrupt: page {number} of the PDF cannot be read") from None
        if key is not None:
            read[key] = text
        texts.append(text)
        if sum(map(len, texts)) > limits.chars:
            raise ExtractionError(
                f"too long: more than {limits.chars:,} characters of text (the limit) by page {number}"
            )
    texts.append(_form_text(reader))
    scanned = [number for number, text in enumerate(texts[:count], start=1) if not text]
    if not scanned:
        return Extracted(Kind.PDF, "\n\n".join(texts), count)
    # Pages without a text layer are read with OCR; pages with one never are.
    from . import ocr

    read_pages, confidence = ocr.read_pdf_pages(data, scanned, limits)
    for number, text in read_pages.items():
        texts[number - 1] = text
    if not read_pages:
        return Extracted(Kind.PDF, "\n\n".join(texts), count)
    source = Source.OCR if len(read_pages) == count else Source.MIXED
    return Extracted(Kind.PDF, "\n\n".join(text for text in texts if text), count, source, confidence)


def _form_text(reader) -> str:
    """What was typed into the PDF's form fields, "name: value" a line. No page's
    text layer holds it (a viewer draws it from the form), yet it is often what
    matters most: the party, the amount, the date."""
    try:
        fields = reader.get_form_text_fields()
    except Exception as error:
        log.info("unreadable PDF form: %r", error)
        raise ExtractionError("corrupt: the PDF's form fields cannot be read") from None
    return "\n".join(f"{name}: {value}" for name, value in fields.items() if isinstance(value, str) and value.strip())


def _shared_key(page) -> tuple | None:
    """What makes two pages read the same: the same content stream objects and
    the same resources. None when the contents are not shared objects."""
    from pypdf.generic import ArrayObject, IndirectObject

    raw = page.get("/Contents")
    if isinstance(raw, IndirectObject):
        contents = ((raw.idnum, raw.generation),)
    elif isinstance(raw, ArrayObject) and all(isinstance(item, IndirectObject) for item in raw):
        contents = tuple((item.idnum, item.generation) for item in raw)
    else:
        return None
    resources = page.get("/Resources")
    if isinstance(resources, IndirectObject):
        return contents, (resources.idnum, resources.generation)
    if resources is None:
        # Inherited from the page tree, which pages of one file share.
        return contents, None
    # Resources written into each page: not worth comparing; the content budget still counts every page.
    return None


def _read_docx(data: bytes, limits: Limits) -> Extracted:
    _check_docx_parts(data, limits)
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
        around = _docx_around(document)
        blocks = around["header"] + _docx_blocks(document.element.body) + around["note"] + around["footer"]
    except Exception as error:
        # python-docx raises KeyError, lxml and zip errors for a broken package.
        log.info("unreadable DOCX: %r", error)
        raise ExtractionError("corrupt: the Word document is damaged and cannot be read") from None
    return Extracted(Kind.DOCX, "\n\n".join(block for block in blocks if block.strip()))


def _check_docx_parts(data: bytes, limits: Limits) -> None:
    """Inflate every part of the package once, counting the bytes as they come
    out (a ZIP's declared sizes can lie), and refuse DTDs. python-docx then reads
    parts whose real sizes are known to be within the limits."""
    total = xml = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
            if len(parts) > limits.zip_parts:
                raise ExtractionError(
                    f"too many parts: the Word document holds {len(parts):,} files; the limit is {limits.zip_parts:,}"
                )
            for info in parts:
                is_xml = info.filename.lower().endswith((".xml", ".rels"))
                tail = b""
                with archive.open(info) as part:
                    while chunk := part.read(256 * 1024):
                        total += len(chunk)
                        if total > limits.inflated_bytes:
                            raise ExtractionError(
                                f"too large when unpacked: the Word document inflates past "
                                f"{limits.inflated_bytes // MB} MB (the limit)"
                            )
                        if not is_xml:
                            continue
                        xml += len(chunk)
                        if xml > limits.xml_bytes:
                            raise ExtractionError(
                                f"too large when unpacked: the Word document's text (XML) inflates past "
                                f"{limits.xml_bytes // MB} MB (the limit)"
                            )
                        if DTD.search(tail + chunk):
                            raise ExtractionError(
                                "unsafe: the Word document declares XML entities (a DTD), which Word never "
                                "writes and which can expand without bound"
                            )
                        tail = chunk[-32:]
    except ExtractionError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, OSError) as error:
        log.info("unreadable DOCX package: %r", error)
        raise ExtractionError("corrupt: the Word document is damaged and cannot be read") from None


# WordprocessingML, read from the XML itself: python-docx's paragraphs and tables
# leave out text in content controls (w:sdt, what contract templates are made of),
# tracked insertions (w:ins) and nested tables, and a review of part of a document
# must never pass for a review of all of it.
WORD = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# Containers whose children are blocks or runs in reading order.
WORD_CONTAINERS = {f"{WORD}{tag}" for tag in ("sdt", "sdtContent", "customXml", "ins", "moveTo", "smartTag")}
# Markup Compatibility: a text box is written twice (DrawingML and a VML fallback); read it once.
MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"


def _docx_blocks(container) -> list[str]:
    """The text of each paragraph and table under container, in document order."""
    blocks = []
    for child in container:
        if child.tag == f"{WORD}p":
            boxes: list[str] = []
            blocks.append(_docx_paragraph(child, boxes))
            blocks += boxes
        elif child.tag == f"{WORD}tbl":
            blocks.append(_docx_table(child))
        elif child.tag in WORD_CONTAINERS:
            blocks += _docx_blocks(child)
    return blocks


def _docx_around(document) -> dict[str, list[str]]:
    """The blocks of the parts around the body: headers (the parties, "confidential"),
    footnotes and endnotes (qualifications of a clause), footers; each distinct
    block once, though every section repeats its header."""
    from docx.oxml import parse_xml

    around: dict[str, list[str]] = {"header": [], "note": [], "footer": []}
    seen: set[str] = set()
    for part in document.part.package.iter_parts():
        kind = part.content_type.rsplit(".", 1)[-1].removesuffix("+xml")
        if kind not in ("header", "footer", "footnotes", "endnotes"):
            continue
        root = parse_xml(part.blob)
        # A notes part starts with the separator lines Word draws above the notes: no text to read.
        containers = [root] if kind in ("header", "footer") else [n for n in root if not n.get(f"{WORD}type")]
        blocks = around["note" if kind.endswith("notes") else kind]
        for container in containers:
            for block in _docx_blocks(container):
                if block.strip() and block not in seen:
                    seen.add(block)
                    blocks.append(block)
    return around


def _docx_paragraph(paragraph, boxes: list[str]) -> str:
    """A paragraph's text; the paragraphs of text boxes anchored in it go to boxes."""
    parts = []
    for node in paragraph.iter():
        if node.tag == MC_FALLBACK or node.tag in (f"{WORD}del", f"{WORD}moveFrom"):
            continue
        if any(ancestor.tag in (MC_FALLBACK, f"{WORD}txbxContent") for ancestor in node.iterancestors()):
            continue
        if node.tag == f"{WORD}txbxContent":
            boxes += _docx_blocks(node)
        elif node.tag == f"{WORD}t":
            parts.append(node.text or "")
        elif node.tag == f"{WORD}tab":
            parts.append("\t")
        elif node.tag in (f"{WORD}br", f"{WORD}cr"):
            parts.append("\n")
    return "".join(parts)


def _docx_table(table) -> str:
    rows = []
    for row in table.iter(f"{WORD}tr"):
        if _docx_owner_table(row) is not table:
            continue  # a row of a nested table: read inside its cell
        cells = [child for child in row.iter(f"{WORD}tc") if _docx_owner_table(child) is table]
        rows.append(" | ".join(" ".join(_docx_blocks(cell)).strip() for cell in cells))
    return "\n".join(rows)


def _docx_owner_table(node):
    return next(ancestor for ancestor in node.iterancestors() if ancestor.tag == f"{WORD}tbl")


def _read_text(data: bytes, limits: Limits) -> Extracted:
    return Extracted(Kind.TEXT, _decode(data))


def _read_html(data: bytes, limits: Limits) -> Extracted:
    parser = _VisibleText()
    parser.feed(_decode(data))
    parser.close()
    return Extracted(Kind.HTML, parser.text())


def _read_image(data: bytes, limits: Limits) -> Extracted:
    from . import ocr

    text, pages, confidence = ocr.read_image(data, limits)
    return Extracted(Kind.IMAGE, text, pages, Source.OCR, confidence)


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


READERS = {
    Kind.PDF: _read_pdf,
    Kind.DOCX: _read_docx,
    Kind.TEXT: _read_text,
    Kind.HTML: _read_html,
    Kind.IMAGE: _read_image,
}
