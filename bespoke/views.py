from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from generation.selectors import render_jobs_for_user


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    jobs = render_jobs_for_user(user=request.user)[:20] if request.user.is_authenticated else []
    return render(request, "portal/home.html", {"jobs": jobs})


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
