"""What every function has: settings from the environment, the clock, logging/metrics/tracing."""
