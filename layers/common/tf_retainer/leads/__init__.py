"""A lead's life, one use case a module: intake, attempt, retry, sweep, lookup, the call gate."""
