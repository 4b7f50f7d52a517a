"""TrustedForm: certificate URLs parsed strictly, the Certificate API v4 client."""
