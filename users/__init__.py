"""The users app: the User model, presence services, and the REST API."""
