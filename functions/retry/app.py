"""Stub: replaced by the real handler."""


def lambda_handler(event, context):
    raise NotImplementedError
