"""Venue adapters: one module per venue, a shared connection loop, instruments."""
