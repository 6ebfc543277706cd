"""Hostile files, generated when needed (no binary blobs in the repository):
each one is built the way real attacks on document readers are, small on the
wire and expensive to read. Used by tests/test_hostile_files.py and bench/upload.py.
Builders stream what they write, so making a file costs its compressed size."""

import io
import zipfile
import zlib

# The parts every DOCX needs besides word/document.xml.
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    "</Types>"
)
RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="word/document.xml"/></Relationships>'
)
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
DOCUMENT_START = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{W}"><w:body>'
DOCUMENT_END = "</w:body></w:document>"


def _docx(write_document) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", RELS)
        with archive.open("word/document.xml", "w", force_zip64=True) as document:
            write_document(document)
    return out.getvalue()


def word_document(body: str) -> bytes:
    """A DOCX whose body is this WordprocessingML (prefix w:), for real documents
    python-docx's own API cannot build: content controls, tracked changes."""
    return _docx(lambda document: document.write((DOCUMENT_START + body + DOCUMENT_END).encode()))


def inflating_docx(megabytes: int = 48) -> bytes:
    """A Word file of ~50 KB whose document.xml inflates to `megabytes` MB: one
    paragraph after another, as a real (if absurd) document would have."""
    paragraph = b"<w:p><w:r><w:t>" + b"A" * 4000 + b"</w:t></w:r></w:p>"
    block = paragraph * (1024 * 1024 // len(paragraph) + 1)

    def write(document):
        document.write(DOCUMENT_START.encode())
        for _ in range(megabytes):
            document.write(block)
        document.write(DOCUMENT_END.encode())

    return _docx(write)


def entity_expansion_docx(levels: int = 9) -> bytes:
    """A "billion laughs" inside word/document.xml: ten entities each made of ten
    of the one before, so a parser that expands them builds 10**levels copies."""
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, levels + 1)]
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f"<!DOCTYPE w:document [{''.join(entities)}]>"
        f'<w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>&lol{levels};</w:t></w:r></w:p>{DOCUMENT_END}'
    )
    return _docx(lambda document: document.write(xml.encode()))


def shared_stream_pdf(pages: int = 40, stream_bytes: int = 1024 * 1024) -> bytes:
    """A few KB of PDF whose `pages` pages all show one content stream that
    inflates to `stream_bytes`: a reader that parses it per page does the work
    `pages` times."""
    line = b"BT /F1 9 Tf 20 800 Td (Shared content stream text, read once or forty times.) Tj ET\n"
    content = line * (stream_bytes // len(line))
    compressed = zlib.compress(content, 9)
    font, stream, first_page = 3, 4, 5
    kids = " ".join(f"{first_page + n} 0 R" for n in range(pages))
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: f"<< /Type /Pages /Count {pages} /Kids [{kids}] >>".encode(),
        font: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        stream: f"<< /Length {len(compressed)} /Filter /FlateDecode >>\nstream\n".encode()
        + compressed
        + b"\nendstream",
    }
    for n in range(pages):
        objects[first_page + n] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {stream} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>"
        ).encode()
    return pdf_from_objects(objects)


def pdf_from_objects(objects: dict[int, bytes]) -> bytes:
    """A PDF made of these numbered objects (1 the catalog), with a correct cross-reference table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = out.tell()
        out.write(f"{number} 0 obj\n".encode() + objects[number] + b"\nendobj\n")
    xref = out.tell()
    size = max(objects) + 1
    out.write(f"xref\n0 {size}\n0000000000 65535 f \n".encode())
    for number in range(1, size):
        out.write(f"{offsets[number]:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def nested_html(levels: int = 200_000) -> bytes:
    """200,000 nested elements around one sentence: a recursive reader overflows its stack."""
    return b"<!doctype html><html><body>" + b"<div>" * levels + b"Deeply nested text." + b"</div>" * levels


def nul_bytes(size: int = 64 * 1024) -> bytes:
    return b"\x00" * size


# A name that climbs out of the upload folder and carries a bell and a terminal escape.
TRAVERSAL_NAME = "../../../etc/cron.d/evil\x07\x1b[31m.txt"

# name -> (file name, builder); the suite the tests and the benchmark send through the upload view.
SUITE = {
    "inflating docx": ("report.docx", inflating_docx),
    "entity expansion docx": ("laughs.docx", entity_expansion_docx),
    "shared-stream pdf": ("forty-pages.pdf", shared_stream_pdf),
    "nested html": ("deep.html", nested_html),
    "nul bytes named .pdf": ("invoice.pdf", nul_bytes),
    "zero bytes": ("empty.pdf", lambda: b""),
    "traversal name": (TRAVERSAL_NAME, lambda: b"Minutes of the meeting: the supplier shall deliver."),
}
