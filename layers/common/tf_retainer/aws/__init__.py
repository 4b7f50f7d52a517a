"""AWS adapters other than the table: the API key from Secrets Manager."""
