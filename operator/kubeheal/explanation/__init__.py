"""``kubeheal explain``: why kubeheal did or did not act on one workload. Pure.

- :mod:`~kubeheal.explanation.assemble`: the explanation as a JSON document, from what the
  operator knows (runbooks, stream states, Remediations, guardrail history, policy previews);
- :mod:`~kubeheal.explanation.render`: that document as text for the terminal.
"""
