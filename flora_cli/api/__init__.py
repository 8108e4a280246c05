"""The API layer: wire models, errors, retry policy and the httpx client.

Import submodules directly; this package imports nothing so the CLI starts fast.
"""
