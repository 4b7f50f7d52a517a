"""Telling the systems that act on a lead: outcome events on the bus, signed vendor callbacks."""
