"""HTTP tests of the views, one file per view module."""
