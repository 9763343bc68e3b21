"""Building blocks of the peex benchmark (bench/run.py): test trees, a private proftpd,
a simulated-latency link, measured tool runs, verification and the Markdown report."""
