"""The rule packs (规则包): one module per area, each with a ``RULES`` tuple; :data:`RULES` holds them all.

| pack | module | what it judges |
|---|---|---|
| rates | ``packs.rates`` | effective transmission rates (SX-30.6/30.7, CS-4.3.2.1) |
| faults | ``packs.faults`` | fault clocks, unmarked faults, outages, restarts (SX-18.3, SX-18.4, SX-30.5, SX-30.8) |
| duties | ``packs.duties`` | periodic O&M duties: inspection, comparison, standard gases, self-inspection reports, registration (SX-18.6/18.7, SX-19, SX-20.3/20.5, SX-32) |
| filings | ``packs.filings`` | change and re-filing deadlines (SX-11, SX-14, SX-15) |
| service | ``packs.service`` | certification KPIs of an operator (CS-4.2.3, CS-4.3.2, CS-4.3.3, CS-4.5) |
| video | ``packs.video`` | the video archive and sample labels (WZ-A1-5, WZ-A1-13, WZ-A2-5, WZ-A2-8) |
| fraud | ``packs.fraud`` | fraud indicators the data supports (SX-29) |
| response | ``packs.response`` | marks entered in time, alarms acknowledged in time (SX-18.5, SX-20.9/20.10) |
"""

from __future__ import annotations

from envwatch.compliance.packs import duties, faults, filings, fraud, rates, response, service, video
from envwatch.compliance.rules import RuleSet, build_rule_set

RULES: RuleSet = build_rule_set(
    (
        ("rates", rates.RULES),
        ("faults", faults.RULES),
        ("duties", duties.RULES),
        ("filings", filings.RULES),
        ("service", service.RULES),
        ("video", video.RULES),
        ("fraud", fraud.RULES),
        ("response", response.RULES),
    )
)
