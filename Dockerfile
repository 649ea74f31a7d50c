# tagfeed: a small runtime image, run as a non-root user, `tagfeed serve` as the entry point.
# Build: make image (or: docker build -t tagfeed .). Settings are TAGFEED_* variables
# (src/tagfeed/config.py); deploy/compose.yaml sets those of the cluster.
#
# Where no registry is reachable, deploy/scripts/base.sh builds python:3.11-slim-bookworm
# from Debian's python3.11 (/usr/bin/python3 instead of /usr/local): only `python3 -m venv`
# is used here, which works on both.

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/tagfeed
# Dependencies first, from pyproject.toml alone: the layer survives source edits.
COPY pyproject.toml README.md /src/
RUN mkdir -p /src/src/tagfeed && touch /src/src/tagfeed/__init__.py \
 && /opt/tagfeed/bin/pip install --quiet /src \
 && /opt/tagfeed/bin/pip uninstall --quiet -y tagfeed \
 && rm -rf /src/src /src/build
COPY src /src/src
RUN /opt/tagfeed/bin/pip install --quiet --no-deps /src \
 && /opt/tagfeed/bin/python -c 'import tagfeed.api.app' \
 && find /opt/tagfeed -name '__pycache__' -prune -exec rm -rf {} + \
 && /opt/tagfeed/bin/python -m compileall -q /opt/tagfeed/lib

FROM python:3.11-slim-bookworm
COPY --from=build /opt/tagfeed /opt/tagfeed
RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin tagfeed
ENV PATH=/opt/tagfeed/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    TAGFEED_HOST=0.0.0.0 \
    TAGFEED_PORT=8080 \
    TAGFEED_DATABASE_URL=sqlite:////var/lib/tagfeed/tagfeed.db
# The SQLite default needs a writable place; a PostgreSQL deployment never touches it.
RUN install -d -o tagfeed -g tagfeed /var/lib/tagfeed
USER tagfeed
WORKDIR /var/lib/tagfeed
EXPOSE 8080
# Ready = the database answers (503 otherwise); the standard library fetches it, no curl.
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import os,urllib.request as u; u.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('TAGFEED_PORT', '8080'), timeout=2)"]
ENTRYPOINT ["tagfeed"]
CMD ["serve"]
