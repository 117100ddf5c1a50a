"""The JSON error body every failure answers with (users/api_errors.py)."""

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Every error body (users/api_errors.py): a message, a machine-readable code, and per-field errors for bad input."""

    detail = serializers.CharField(help_text="A human-readable message.")
    code = serializers.CharField(help_text="A machine-readable code, e.g. not_authenticated, token_not_valid, invalid.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Only for invalid input: field name to its messages.",
    )
