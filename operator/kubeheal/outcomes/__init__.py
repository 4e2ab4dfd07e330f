"""Outcomes as data: what became of each incident, folded into statistics that last, and
the figures that ``kubeheal report``, the operator's metrics and the dashboard show.

Pure: Remediations and statistics in, statistics and figures out; the controller reads and
writes them (:mod:`kubeheal.controller.outcomes`), the CLI reads them (:mod:`kubeheal.report`).
"""
