"""Adapters to outside services (TrustedForm); each sends its key only to its own fixed host."""
