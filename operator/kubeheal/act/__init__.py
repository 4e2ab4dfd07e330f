"""Remediation actions executed through the Kubernetes API, with intent records."""
