"""End-to-end, live-process and race suites."""
