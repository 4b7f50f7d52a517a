"""Evidence that holds up: the hash chain, the S3 archive, legal holds."""
