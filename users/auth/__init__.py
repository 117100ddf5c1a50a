"""Login sessions: tokens issued, checked and revoked, and the presence each one opens or ends."""
