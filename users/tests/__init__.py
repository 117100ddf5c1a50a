"""Tests of the users app, mirroring its modules."""
