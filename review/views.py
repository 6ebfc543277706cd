from django.http import HttpResponse

from config.roles import ANALYST, role_required


@role_required(ANALYST)
def inbox(request):
    return HttpResponse("inbox (to do)")


@role_required(ANALYST)
def item(request, item_id):
    return HttpResponse("item (to do)")
