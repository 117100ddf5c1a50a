"""Services (writes) and selectors (shaped reads) for users and presence."""
