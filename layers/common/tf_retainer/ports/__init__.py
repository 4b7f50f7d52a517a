"""The ports: what the use cases need of the outside world, as Protocols, and the values that cross them.

Adapters implement them: ``store/`` (DynamoDB), ``providers/`` (TrustedForm, the screening providers),
``aws/`` (SQS, Secrets Manager, EventBridge, KMS). ``tf_retainer.wiring`` builds the real ones in one place;
tests pass fakes, which type-check against these Protocols. Nothing here does I/O.

- ``leads``: the lead store, by job (LeadWriter, LeadReader, LeadIndex);
- ``services``: TrustedForm (CertificateApi), the retry queue, the API key, the rules, the event bus;
- ``screening``: the screening providers (one port, an adapter each), their keys, the per-number results,
  the sealed phone number;
- ``evidence``: legal holds and the archive's marks on a lead's items;
- ``vendors``: vendors' keys and callback targets.
"""
