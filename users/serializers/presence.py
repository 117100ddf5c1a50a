"""Presence requests and answers: the heartbeat, the caller's own presence, the all-users list and the feed."""

import re

from rest_framework import serializers

from users.presence.rules import ACTIVE, SESSION_STATES, STATUSES
from users.presence.scope import InvalidWatch, watch_list
from users.presence.sequence import CURSOR_PATTERN, Cursor, InvalidCursor


class PresenceSettingsSerializer(serializers.Serializer):
    """The intervals a client uses; nothing in a client is hard-coded."""

    heartbeat_seconds = serializers.IntegerField(help_text="Send POST /api/users/heartbeat/ this often.")
    refresh_seconds = serializers.IntegerField(
        help_text="Without the socket, poll the feed (GET /api/users/presence/?since=<cursor>) this often."
    )
    timeout_seconds = serializers.IntegerField(help_text="Silence after which a user reads as offline.")
    idle_seconds = serializers.IntegerField(
        help_text="Without keyboard or pointer input for this long, send heartbeats with state `idle`."
    )
    websocket = serializers.CharField(
        help_text="The presence socket's path on this host (ws:// or wss://): pushes instead of polls, no heartbeats."
    )
    watch_max = serializers.IntegerField(
        help_text="The most user ids a watch list may name (the socket's `watch`, the feed's `users`)."
    )


class HeartbeatSerializer(serializers.Serializer):
    """An optional `state`: `active` (the default) while the user is at the device, `idle` after PRESENCE_IDLE_SECONDS without input."""

    state = serializers.ChoiceField(choices=SESSION_STATES, required=False, default=ACTIVE)


class HeartbeatResponseSerializer(serializers.Serializer):
    online_status = serializers.ChoiceField(choices=STATUSES)
    last_seen = serializers.DateTimeField()


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean only: DRF's BooleanField also takes 0, 1, "yes", "on" and the like, which the schema rules out."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class NoBlankQuerySerializer(serializers.Serializer):
    """Query parameters given empty (`?since=`) are an error, not the same as leaving them out."""

    def validate(self, attrs):
        blank = [name for name in self.fields if self.initial_data.get(name, None) == ""]
        if blank:
            raise serializers.ValidationError(
                {name: [serializers.ErrorDetail("This field may not be blank.", code="blank")] for name in blank}
            )
        return attrs


class PresenceVisibilitySerializer(serializers.Serializer):
    """PATCH body of the caller's presence: `invisible` hides their status from everyone but staff."""

    invisible = StrictBooleanField(required=True)


class PresenceSessionEntrySerializer(serializers.Serializer):
    device_id = serializers.CharField(help_text="The label the device sent at login (may be empty).")
    state = serializers.ChoiceField(choices=SESSION_STATES)
    started_at = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    current = serializers.BooleanField(help_text="This is the session of the token making the request.")


class OwnPresenceSerializer(serializers.Serializer):
    """GET/PATCH /api/users/me/presence/: the caller's real status, invisible flag and open sessions."""

    online_status = serializers.ChoiceField(choices=STATUSES)
    invisible = serializers.BooleanField()
    sessions = PresenceSessionEntrySerializer(many=True)


class AllUsersQuerySerializer(NoBlankQuerySerializer):
    """Query parameters of the all-users list."""

    status = serializers.ChoiceField(choices=STATUSES, required=False)


class AllUsersEntrySerializer(serializers.Serializer):
    """One entry of the all-users list; the last three fields only for staff callers."""

    id = serializers.IntegerField()
    username = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    online_status = serializers.ChoiceField(
        choices=STATUSES,
        help_text="The status the caller may see: `online` (a device in use), `away` (devices connected but idle), "
        "`offline`. An invisible user reads `offline` to everyone but staff.",
    )
    last_seen = serializers.DateTimeField(
        allow_null=True,
        help_text="Last heartbeat or activity; for an invisible user (non-staff callers), when they went invisible.",
    )
    email = serializers.EmailField(required=False, allow_blank=True, help_text="Staff callers only.")
    is_staff = serializers.BooleanField(required=False, help_text="Staff callers only.")
    is_active = serializers.BooleanField(required=False, help_text="Staff callers only.")
    invisible = serializers.BooleanField(
        required=False,
        help_text="Staff callers only: the user hides their presence from others (staff see the real status).",
    )


class WatchListField(serializers.CharField):
    """A watch list in a query: comma-separated user ids, each named once, at most PRESENCE_WATCH_MAX."""

    def to_internal_value(self, data) -> frozenset[int]:
        text = super().to_internal_value(data)
        if not re.fullmatch(r"\d{1,19}(,\d{1,19})*", text):
            raise serializers.ValidationError("Comma-separated user ids, such as 1,2,3.", code="invalid")
        try:
            return watch_list([int(part) for part in text.split(",")])
        except InvalidWatch as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from None


class PresenceFeedQuerySerializer(NoBlankQuerySerializer):
    """Query of the presence feed: `since`, a cursor from an earlier answer; without it, everyone; `users` to scope it."""

    since = serializers.RegexField(CURSOR_PATTERN, required=False, max_length=2048)
    users = WatchListField(
        required=False,
        trim_whitespace=False,
        help_text="Only these users (comma-separated ids, each once, at most PRESENCE_WATCH_MAX, 1000 by default); "
        "ids that name no user are left out. Without it, everyone.",
    )

    def validate_since(self, value: str) -> Cursor:
        try:
            return Cursor.parse(value)
        except InvalidCursor:
            raise serializers.ValidationError("Not a presence cursor from this server.", code="invalid") from None


class PresenceFeedSerializer(serializers.Serializer):
    """GET /api/users/presence/: changes since a cursor (or everyone, without one) and the cursor to ask with next."""

    cursor = serializers.CharField(help_text="Opaque; pass as `since` on the next call.")
    full = serializers.BooleanField(
        help_text="True when `users` is all of the scope (no `since` given): replace what you hold of it."
    )
    users = AllUsersEntrySerializer(
        many=True, help_text="Entries in the all-users shape; apply them over what you hold."
    )
