"""Tests of the presence services, called directly."""
