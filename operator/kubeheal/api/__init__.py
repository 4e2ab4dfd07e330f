"""The kubeheal API: pydantic models of the custom resources, and CRD generation from them."""
