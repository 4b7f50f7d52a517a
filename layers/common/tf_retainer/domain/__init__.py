"""The service's vocabulary: leads, answers, reasons, exchanges, contact fingerprints. No I/O."""
