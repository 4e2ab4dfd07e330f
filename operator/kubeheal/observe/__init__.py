"""Readers of the world: the Prometheus HTTP API and the Kubernetes API."""
