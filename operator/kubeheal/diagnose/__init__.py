"""Probable causes of an incident, ranked with evidence. Pure."""
