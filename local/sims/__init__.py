"""Simulators of the third-party providers a buyer screens leads with, served over loopback HTTP.

One module per provider, each built on the shared base ``local.sims.http`` (routing, faults, scripted
facts, the request log, control endpoints, the standalone process).
"""
