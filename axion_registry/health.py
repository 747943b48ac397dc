from django.db import connection
from django.http import JsonResponse


def healthz(request):
    """The process is up and its database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
