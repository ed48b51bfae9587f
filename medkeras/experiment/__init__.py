"""The experiment engine: training runs, frozen-prefix caching, sweeps and reports."""
