"""The vendor-facing HTTP API: a request body becomes a submission; answers and refusals become statuses."""
