"""Simulators of the third-party providers a buyer screens leads with, served over loopback HTTP.

One module per provider, each built on the shared base ``local.sims.http`` (routing, faults, scripted
facts, the request log, control endpoints, the standalone process); what each was built against and what
is a guess: docs/providers.md; their documented shapes: tests/contract/<provider>.json.

* ``dncscrub``: DNC.com (Contact Center Compliance): DNC scrub (national, state, internal), litigators,
  reassigned numbers (FCC RND Basic, Enhanced RND).
* ``blacklist_alliance``: Blacklist Alliance's litigator lookup (Litigation Firewall).
* ``twilio_lookup``: Twilio Lookup v2: validation, line type, line status, reassigned number.
* ``jornaya``: Jornaya TCPA Guardian: the LeadiD token's audit.

Run one: ``python -m local.sims.<provider> --port N --api-key K``.
"""
