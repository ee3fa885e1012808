"""The verbs of the domain, ``verb_noun(actor, ...)``: each checks permission,
validates, writes and commits once. Web views, the CLI and tests call these
same functions; the actor is passed explicitly (``None`` for the system)."""
