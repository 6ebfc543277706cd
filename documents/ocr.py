"""Reading scans with Tesseract: images (PNG, JPEG, TIFF) and the pages of a PDF
that have no text layer, rendered with PDFium. Runs only inside the bounded
extraction process (its CPU, memory and wall-clock limits also hold Tesseract,
which inherits them), and never imports Django."""

import io
import shutil
from statistics import fmean

from .extraction import NO_OCR, SCANNED, ExtractionError, Limits, NeedsOCR

# Tesseract reads best at about 300 dpi; PDF pages are measured in points (1/72 inch).
DPI = 300
# Below this mean word confidence a page may be turned: ask Tesseract which way is up.
UPRIGHT_CONFIDENCE = 80
ORIENTATION_TAG = 0x0112


def available() -> bool:
    return shutil.which("tesseract") is not None


def read_image(data: bytes, limits: Limits) -> tuple[str, int, float | None]:
    """The text of a scanned image (every frame of a multi-page TIFF), its page
    count and mean word confidence."""
    from PIL import Image, UnidentifiedImageError

    if limits.ocr_pages <= 0:
        raise NeedsOCR()
    if not available():
        raise ExtractionError(NO_OCR)
    # Pillow refuses decompression bombs itself past twice this; we refuse at it, by name.
    Image.MAX_IMAGE_PIXELS = None
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        frames = getattr(image, "n_frames", 1)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ExtractionError(f"corrupt: the image is damaged and cannot be read ({type(error).__name__})") from None
    if width * height > limits.image_pixels:
        raise ExtractionError(
            f"too large an image: {width:,} × {height:,} pixels; "
            f"the limit is {limits.image_pixels // 1_000_000} megapixels"
        )
    if frames > limits.ocr_pages:
        raise ExtractionError(f"too many scanned pages: {frames:,}; the limit for OCR is {limits.ocr_pages:,}")
    texts, confidences = [], []
    try:
        for index in range(frames):
            image.seek(index)
            text, words = _ocr(_on_white(_upright(image)), limits)
            texts.append(text)
            confidences += words
    except (OSError, ValueError) as error:
        raise ExtractionError(f"corrupt: the image is damaged and cannot be read ({type(error).__name__})") from None
    return "\n\n".join(text for text in texts if text), frames, _mean(confidences)


def read_pdf_pages(data: bytes, numbers: list[int], limits: Limits) -> tuple[dict[int, str], float | None]:
    """OCR of the given pages (1-based) of a PDF, those that draw anything: a scan,
    but also text drawn as outlines or in a font with no text mapping, which have
    no text layer either and would otherwise be left out unseen. Blank pages are
    skipped. Returns {page: text} for pages where text was found."""
    import pypdfium2

    pdf = pypdfium2.PdfDocument(data)
    try:
        drawn = [n for n in numbers if _draws_anything(pdf[n - 1])]
        if not drawn:
            return {}, None
        if limits.ocr_pages <= 0:
            raise NeedsOCR()
        if not available():
            raise ExtractionError(f"{SCANNED}: {NO_OCR}")
        if len(drawn) > limits.ocr_pages:
            raise ExtractionError(f"too many scanned pages: {len(drawn):,}; the limit for OCR is {limits.ocr_pages:,}")
        texts, confidences = {}, []
        for number in drawn:
            page = pdf[number - 1]
            width, height = page.get_size()
            scale = DPI / 72
            # A page the size of a wall is rendered smaller rather than with a billion pixels.
            if width * height * scale * scale > limits.image_pixels:
                scale = (limits.image_pixels / (width * height)) ** 0.5
            image = page.render(scale=scale, grayscale=True).to_pil()
            text, words = _ocr(image, limits)
            if text:
                texts[number] = text
                confidences += words
        return texts, _mean(confidences)
    finally:
        pdf.close()


def _on_white(image):
    """The image in grayscale as it shows on screen: transparent parts white, not
    the black that dropping the alpha channel leaves (which hides black text)."""
    from PIL import Image

    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, "white")
        image = Image.alpha_composite(background, rgba)
    return image.convert("L")


def _upright(image):
    """A photo stored sideways with an EXIF orientation tag, turned as viewers show it."""
    from PIL import ImageOps

    return ImageOps.exif_transpose(image) if image.getexif().get(ORIENTATION_TAG, 1) != 1 else image


def _draws_anything(page) -> bool:
    return next(iter(page.get_objects(max_depth=1)), None) is not None


def _ocr(image, limits: Limits) -> tuple[str, list[float]]:
    """Tesseract's words regrouped into its lines and paragraphs, and each word's
    confidence. A page scanned sideways or upside down reads as confident-looking
    garbage; when the confidence is low, Tesseract's orientation detection says
    how the page is turned and the page is read again upright, if that reads better."""
    import pytesseract

    text, confidences = _words(image, limits)
    if (_mean(confidences) or 0) >= UPRIGHT_CONFIDENCE:
        return text, confidences
    try:
        turn = pytesseract.image_to_osd(image, output_type=pytesseract.Output.DICT)["rotate"]
    except pytesseract.TesseractError:
        return text, confidences  # too little text to tell, or no orientation data installed
    if turn % 360 == 0:
        return text, confidences
    # Tesseract gives the clockwise turn that makes the page upright; Pillow turns counter-clockwise.
    turned_text, turned = _words(image.rotate(-turn, expand=True), limits)
    if (_mean(turned) or 0) > (_mean(confidences) or 0):
        return turned_text, turned
    return text, confidences


def _words(image, limits: Limits) -> tuple[str, list[float]]:
    import pytesseract

    data = pytesseract.image_to_data(image, lang=limits.ocr_languages, output_type=pytesseract.Output.DICT)
    paragraphs: dict[tuple, dict[int, list[str]]] = {}
    confidences = []
    for index, word in enumerate(data["text"]):
        confidence = float(data["conf"][index])
        if confidence < 0 or not word.strip():
            continue
        paragraph = (data["block_num"][index], data["par_num"][index])
        paragraphs.setdefault(paragraph, {}).setdefault(data["line_num"][index], []).append(word)
        confidences.append(confidence)
    text = "\n\n".join("\n".join(" ".join(words) for words in lines.values()) for lines in paragraphs.values())
    return text, confidences


def _mean(values: list[float]) -> float | None:
    return round(fmean(values), 1) if values else None
