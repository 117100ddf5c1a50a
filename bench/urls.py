"""The app's routes plus the benchmark's baselines under /bench/."""

from django.urls import path

from bench.baselines import BaselineAllUsersView, PingView, StatementsView
from offchat_backend.urls import urlpatterns as app_urlpatterns

urlpatterns = [
    path("bench/ping/", PingView.as_view()),
    path("bench/all-users/", BaselineAllUsersView.as_view()),
    path("bench/statements/", StatementsView.as_view()),
    *app_urlpatterns,
]
