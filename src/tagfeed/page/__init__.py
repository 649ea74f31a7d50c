"""The web page at ``/``: plain HTML, CSS and JavaScript modules shipped in the package
(no CDN, no build step), served by tagfeed itself. See docs/page.md."""

from tagfeed.page.routes import page_routes

__all__ = ["page_routes"]
