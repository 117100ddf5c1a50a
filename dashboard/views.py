"""GET /: the dashboard page; everything after the first paint goes through the JSON API."""
from django.views.generic import TemplateView


class DashboardView(TemplateView):
    """The page shell; dashboard.js logs in, heartbeats and polls the users list."""

    template_name = "dashboard/index.html"
