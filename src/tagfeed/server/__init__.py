"""The server process around the web app: the HTTP protocol bounds, the interpreter's
tuning for serving, and the log writer."""
