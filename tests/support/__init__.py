"""Helpers shared by the test suites (fakes, clients of the local stack)."""
