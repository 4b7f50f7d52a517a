"""Pure decisions: what TrustedForm's answer means, the buyer's rules, what to ask. No I/O."""
