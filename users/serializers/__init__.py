"""Serializers: request validation and response shapes for the users API."""
