"""kopf handlers that wire the loop together; the only place kopf is imported."""
