"""DynamoDB access. One table; this package alone knows its key layout and item shapes.

- ``keys``: the key layout (partition/sort keys, the vendor index).
- ``codec``: Python values <-> DynamoDB attribute values.
- ``leads``: leads, their history, raw exchanges and certificate claims (the service's writes).
- ``vendor_keys``: vendors' API keys (the authorizer's one read, the CLI's writes).

Import the module you need: the authorizer loads ``vendor_keys`` without the lead store.
"""
