"""Application placeholder: see the project issues (Tajbakhsh et al. 2016)."""
