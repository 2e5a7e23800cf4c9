"""The writes of ``complaints``, by concept: ``complaints`` (the complaint and its regulatory
clock), ``remedies`` (waivers, early hold release, starting a closure), ``closures`` (closure
and reopen requests, alternatives, closure for cause), ``sweeps`` (the frequent sweep)."""
