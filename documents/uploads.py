"""The upload size limits, enforced while the request body streams in: a file
past QUORUM_MAX_UPLOAD_BYTES is skipped at that byte (the rest of it is read
and dropped, never stored), and a request past QUORUM_MAX_UPLOAD_REQUEST_BYTES
is cut off. The upload page and the API report both (refused_while_streaming)."""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopUpload
from django.template.defaultfilters import filesizeformat

from .ingest import UploadResult, display_name


def _size(size: int) -> str:
    return filesizeformat(size).replace("\xa0", " ")


class SizeLimitedUploadHandler(FileUploadHandler):
    """First in FILE_UPLOAD_HANDLERS: counts each file's bytes and the request's."""

    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0
        self.total = 0
        self.files = 0
        if request is not None:
            # (file name, reason) for each file that was cut off.
            request.upload_refusals = []

    def new_file(self, field_name, file_name, *args, **kwargs) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        self.received = 0
        self.files += 1
        cap = settings.QUORUM_MAX_FILES_PER_UPLOAD
        if self.files > cap:
            self._refuse(f"too many files: at most {cap} can be sent at once; none of these was read. Send fewer.")
            # The rest of the body is read and dropped, so the browser gets this answer.
            raise StopUpload(connection_reset=False)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        self.total += len(raw_data)
        if self.total > settings.QUORUM_MAX_UPLOAD_REQUEST_BYTES:
            self._refuse(
                f"too large: this upload is over {_size(settings.QUORUM_MAX_UPLOAD_REQUEST_BYTES)} in all "
                "(the limit); send fewer files at a time"
            )
            raise StopUpload(connection_reset=True)
        limit = settings.QUORUM_MAX_UPLOAD_BYTES
        if self.received > limit:
            self._refuse(f"too large: the file is over the limit of {_size(limit)}")
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handlers store the file

    def _refuse(self, reason: str) -> None:
        if self.request is not None:
            self.request.upload_refusals.append((display_name(self.file_name or ""), reason))


def refused_while_streaming(request) -> tuple[list[UploadResult], bool]:
    """The files cut off while the body streamed in, as refused results for the
    answer, and whether there were too many files (then none of them is read)."""
    refusals = getattr(request, "upload_refusals", [])
    too_many = any(reason.startswith("too many files") for _, reason in refusals)
    return [UploadResult(name=name, reason=reason) for name, reason in refusals], too_many
