"""Routes of the users API, mounted at /api/users/."""

from django.urls import path
from rest_framework.routers import SimpleRouter
from rest_framework_simplejwt.views import TokenRefreshView

from users.views import LoginView, LogoutAllView, LogoutView
from users.views.my_presence_view import MyPresenceView
from users.views.presence_feed_view import PresenceFeedView
from users.views.simple_users_view import AllUsersView
from users.views.user_management_views import AdminUserViewSet, HeartbeatView, MeView

router = SimpleRouter()
router.register("admin/users", AdminUserViewSet, basename="admin-users")

urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("logout-all/", LogoutAllView.as_view(), name="logout-all"),
    path("token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    path("heartbeat/", HeartbeatView.as_view(), name="heartbeat"),
    path("me/", MeView.as_view(), name="me"),
    path("me/presence/", MyPresenceView.as_view(), name="my-presence"),
    path("presence/", PresenceFeedView.as_view(), name="presence-feed"),
    path("all-users/", AllUsersView.as_view(), name="all-users"),
    *router.urls,
]
