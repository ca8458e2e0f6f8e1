"""Compliance engine (合规判定, issue 9): rule packs that cite their clauses, findings, operator assessment,
credit files and blacklist, the city's supervision plan and the yearly manual spot test.

Rules live in ``compliance.packs`` (one module per area); ``compliance.rules`` defines what a rule is and
how its parameters come from settings; ``compliance.findings`` stores what rules find, idempotently;
``compliance.run`` runs the rules.
"""
