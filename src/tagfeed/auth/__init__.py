"""Who calls: the gateway's ``X-User-ID`` or a verified JWT, and the roles they hold.

Knows HTTP requests (it reads headers) but not HTTP responses: refusals are raised as
``tagfeed.auth.errors`` exceptions, which the API's problem table turns into 401/403.
"""
