"""tagfeed: a service for short tagged messages.

Importing the package connects to nothing and reads no settings; the app is built by
``tagfeed.api.app.create_app(settings)``.
"""

__version__ = "0.1.0"
