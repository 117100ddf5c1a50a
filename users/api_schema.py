"""The OpenAPI schema's rules: every operation lists the JSON errors it can answer with, and JWT auth is described."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAdminUser

from users.serializers.auth import SessionTokenRefreshSerializer
from users.serializers.errors import ErrorSerializer

BODY_METHODS = ("POST", "PUT", "PATCH")
ERROR_DESCRIPTIONS = {
    "400": "Invalid input (code `invalid` or `parse_error`; `errors` maps fields to messages).",
    "401": "No token (`not_authenticated`), or a bad, expired or revoked one (`token_not_valid`, `token_revoked`).",
    "403": "The caller is not staff (`permission_denied`).",
    "404": "No such object (`not_found`).",
    "415": "The body is not `application/json` (`unsupported_media_type`).",
    "405": "A method the path does not take (`method_not_allowed`); the Allow header names the ones it does.",
    "413": "The body is over DATA_UPLOAD_MAX_MEMORY_SIZE (`request_too_large`).",
    "429": "Too many requests (`throttled`); see the Retry-After header.",
    "503": "The database is unavailable, or a row stayed locked past the lock timeout (`service_unavailable`); "
    "retry after the Retry-After header's seconds.",
}


def error_response(description: str) -> OpenApiResponse:
    """An error answer with the common JSON error body."""
    return OpenApiResponse(ErrorSerializer, description=description)


class PresenceAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, adding the error answers each view can give from its permissions and method."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self._error_codes():
            responses.setdefault(code, self._get_response_for_code(error_response(ERROR_DESCRIPTIONS[code]), code))
        return dict(sorted(responses.items()))

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        # The users table allows a blank email, and "" is no valid `format: email`. drf-spectacular
        # says so for writable fields (allow_blank); read-only ones lose that flag in DRF, so say it here.
        if isinstance(field, serializers.EmailField) and field.read_only and schema.get("format") == "email":
            del schema["format"]
            schema["description"] = "An email address, or empty when the account has none."

    def get_override_parameters(self):
        """The response headers every client meets: Retry-After on 429/503, Cache-Control on answers; ETag on all-users."""
        parameters = list(super().get_override_parameters())
        parameters.append(
            OpenApiParameter("Retry-After", int, OpenApiParameter.HEADER, response=[429, 503], description="Seconds.")
        )
        if self.method == "GET":
            parameters.append(
                OpenApiParameter(
                    "Cache-Control",
                    str,
                    OpenApiParameter.HEADER,
                    response=[200],
                    description="Per-caller answers: `private, no-store` (with no-cache, must-revalidate).",
                )
            )
        return parameters

    def _error_codes(self) -> list[str]:
        permissions = self.view.get_permissions()
        codes = ["405", "503"]
        if self.method in BODY_METHODS and self.get_request_serializer() is not None:
            codes += ["400", "413", "415"]
        if any(not isinstance(permission, AllowAny) for permission in permissions):
            codes.append("401")
        if any(isinstance(permission, IsAdminUser) for permission in permissions):
            codes.append("403")
        if "{" in self.path:
            codes.append("404")
        if self.view.get_throttles():
            codes.append("429")
        return codes


class RevocableJWTScheme(SimpleJWTScheme):
    """Bearer JWT, as simplejwt's; the revocation check changes no part of the header."""

    target_class = "users.auth.authentication.RevocableJWTAuthentication"
    name = "jwtAuth"


class TokenRefreshViewSchema(OpenApiViewExtension):
    """simplejwt's refresh view: document its 401 for bad, expired, blacklisted or revoked refresh tokens."""

    target_class = "rest_framework_simplejwt.views.TokenRefreshView"

    def view_replacement(self):
        @extend_schema(
            summary="Exchange a refresh token for a new access and refresh token (rotation)",
            responses={
                200: SessionTokenRefreshSerializer,
                401: error_response("The refresh token is bad, expired, blacklisted or revoked."),
            },
        )
        class Fixed(self.target_class):
            pass

        return Fixed
