"""The presence dashboard served at /: a Django template and a small static ES module."""
