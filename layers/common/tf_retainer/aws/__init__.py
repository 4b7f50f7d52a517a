"""AWS adapters other than the table: the retry queue (SQS), the API key (Secrets Manager)."""
