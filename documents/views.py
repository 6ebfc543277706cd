from django.http import HttpResponse

from config.roles import ANALYST, role_required


@role_required(ANALYST)
def document_list(request):
    return HttpResponse("documents (to do)")


@role_required(ANALYST)
def upload(request):
    return HttpResponse("upload (to do)")


@role_required(ANALYST)
def detail(request, document_id):
    return HttpResponse("document (to do)")


@role_required(ANALYST)
def download(request, document_id):
    return HttpResponse("download (to do)")
