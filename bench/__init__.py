"""The tagfeed benchmark: ``python -m bench.run`` (or ``make bench``). See docs/performance.md."""
