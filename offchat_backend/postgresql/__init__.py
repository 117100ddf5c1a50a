"""The PostgreSQL backend of this project (ENGINE "offchat_backend.postgresql"): Django's, with deadlines and a breaker."""
