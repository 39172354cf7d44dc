"""``make bench``: the gateway beside a bare byte relay, both in front of one fast fake upstream.

``python -m bench.run`` orchestrates everything (see ``bench/run.py`` and docs/benchmarks.md).
"""
