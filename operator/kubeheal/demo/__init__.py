"""A simulated service whose metrics follow its pods, for the demo and end-to-end tests."""
