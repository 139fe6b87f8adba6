"""Reflex states: thin adapters that call the backend services in-process.

`state/<area>/<page>.py` holds the state of `pages/<area>/<page>.py`; states shared by every page
(the session, the table mixin) sit here at the root.
"""
