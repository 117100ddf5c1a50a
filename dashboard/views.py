"""GET /: the dashboard page; everything after the first paint goes through the JSON API."""

from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.views.generic import TemplateView


class DashboardView(TemplateView):
    """The page shell; dashboard.js logs in, heartbeats and follows the presence feed."""

    template_name = "dashboard/index.html"


def favicon(request):
    """/favicon.ico: the dashboard's icon, for the pages that name none (the admin, the API docs)."""
    return HttpResponsePermanentRedirect(static("dashboard/favicon.svg"))
