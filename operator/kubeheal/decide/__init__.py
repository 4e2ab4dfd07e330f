"""Candidate actions and their explainable risk. Pure."""
