"""Alerts: the model (DESIGN §7), the dispatcher and the sinks."""
