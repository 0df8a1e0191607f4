"""Serving for zoo models: SavedModel export in TF Serving's layout, an embedded server, a gRPC client.

Not implemented yet: tracked by the serving issue (export, embedded server, client).
"""
