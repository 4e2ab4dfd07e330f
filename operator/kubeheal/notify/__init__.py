"""Telling humans where they work: approval requests and escalations sent to receivers.

:mod:`~kubeheal.notify.messages` turns a remediation into a :class:`Notification` and renders
it for each kind of receiver (a generic JSON webhook, a Slack-compatible incoming webhook);
it is pure. :mod:`~kubeheal.notify.delivery` sends them from a bounded queue in the
background, retrying with backoff, so that the loop never waits on a receiver.
"""
