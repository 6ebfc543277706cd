"""The offline stand-in: hand-written rules that play Quorum's agents, not a model.

It exists so Quorum runs, demos and tests with no API key and no network. It
reads the structured inputs a step was given (rules cannot read prose) and
answers with what the agent's schema asks for, the same way every time; pages
label its output as a stand-in's. The rules are plain keyword and pattern
matching: clauses.py (contract wording, in three tiers of certainty), fields.py
(amounts, dates, parties, IBANs), layout.py (document type, language, pages),
specialists.py (the Supervisor's and the Chain's agents); provider.py is the
provider that plays advocate and judge with them and dispatches the other roles.
"""

from .provider import OfflineProvider

__all__ = ["OfflineProvider"]
