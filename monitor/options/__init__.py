"""Options positioning: the pure computation behind the ``options_summary`` event (DESIGN §3).

:mod:`monitor.options.smile` reads one expiry's smile (Black-76 deltas, 25Δ
wings, ATM at the forward); :mod:`monitor.options.summary` turns a whole chain
into constant-maturity tenors, the put/call open-interest ratio and the largest
put open interest by strike. Nothing here knows a venue.
"""
