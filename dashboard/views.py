"""GET /: the dashboard page; everything after the first paint goes through the JSON API."""

from django.views.generic import TemplateView


class DashboardView(TemplateView):
    """The page shell; dashboard.js logs in, heartbeats and follows the presence feed."""

    template_name = "dashboard/index.html"
