"""The User model (table `users`) with its stored presence fields."""
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    class OnlineStatus(models.TextChoices):
        ONLINE = "online", "Online"
        OFFLINE = "offline", "Offline"

    online_status = models.CharField(
        max_length=7, choices=OnlineStatus.choices, default=OnlineStatus.OFFLINE
    )
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "users"
        indexes = [
            # Serves the sweep: only online rows are indexed, so its cost follows the
            # number of online users, not the size of the table.
            models.Index(
                fields=["last_seen"],
                name="users_online_last_seen_idx",
                condition=models.Q(online_status="online"),
            ),
        ]

    def __str__(self) -> str:
        return self.username
