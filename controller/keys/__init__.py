"""Keys: one per person or tool, with a role and a policy (protos/keys.proto); pure parts here.

ids.py (secrets and ids), policy.py (validation and the policy's derived form), record.py (a key
as the controller holds it), periods.py (UTC budget periods), usage.py (per-key daily counters),
admission.py (the decisions on a request), book.py (every key in memory, watched); cli.py and
show.py are the command-line tool (`python -m controller.keys`).
"""
