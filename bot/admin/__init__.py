"""The operator's command line (peerhaven admin)."""
