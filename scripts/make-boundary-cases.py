#!/usr/bin/env python3
"""Writes the project's own policy cases (boundaries and every rule) next to the samples.

Each case is a small change to the sample `admissible-stored-data` case; its expected
decision is written here by hand, from POLICY.md, never from custodia's output.
Run from the repository root: python3 scripts/make-boundary-cases.py
"""
import copy
import json
import os

HERE = "crates/cli/tests/cases/policy"
BASE = json.load(open(os.path.join(HERE, "admissible-stored-data.case.json")))
ALWAYS = [{"code": "use_limitation"}, {"code": "onward_transfer_consent"}]


def case(name, outcome, grounds=(), conditions=None, as_of=None, request=None, drop=(), states=None, instruments="keep"):
    c = copy.deepcopy(BASE)
    if as_of:
        c["as_of"] = as_of
    if instruments != "keep":
        if instruments is None:
            c.pop("instruments", None)
        else:
            c["instruments"] = instruments
    for k, v in (request or {}).items():
        if isinstance(v, dict) and isinstance(c["request"].get(k), dict) and not v.get("__replace__"):
            c["request"][k].update(v)
        else:
            v = {kk: vv for kk, vv in v.items() if kk != "__replace__"} if isinstance(v, dict) else v
            c["request"][k] = v
    for path in drop:
        obj = c["request"]
        *parents, last = path.split(".")
        for p in parents:
            obj = obj[p]
        obj.pop(last, None)
    for code, patch in (states or {}).items():
        if patch is None:
            c["states"].pop(code, None)
            continue
        prof = c["states"].setdefault(code, {})
        for k, v in patch.items():
            if isinstance(v, dict) and isinstance(prof.get(k), dict):
                prof[k].update(v)
            else:
                prof[k] = v
    if conditions is None:
        conditions = ALWAYS if outcome in ("admissible", "review") else []
    expected = {"outcome": outcome, "grounds": list(grounds), "conditions": list(conditions)}
    with open(os.path.join(HERE, f"{name}.case.json"), "w") as f:
        json.dump(c, f, indent=2)
        f.write("\n")
    with open(os.path.join(HERE, f"{name}.expected.json"), "w") as f:
        json.dump(expected, f, indent=2)
        f.write("\n")


G = lambda code, **kw: {"code": code, **kw}

# Entry into force (UNCC 65: E = 2026-09-01 stated; a later depositor from deposit + 30).
case("x-boundary-day-of-entry-into-force", "admissible", as_of="2026-09-01")
case("x-boundary-day-before-entry-into-force", "refused", [G("not_party", state="AA"), G("not_party", state="BB")], as_of="2026-08-31")
case("x-boundary-late-depositor-30th-day", "admissible", as_of="2026-11-19", request={"requested_state": "EE"})
case("x-boundary-late-depositor-29th-day", "refused", [G("not_party", state="EE")], as_of="2026-11-18", request={"requested_state": "EE"})
case("x-uncc-not-in-force-without-forty-deposits", "refused", [G("not_party", state="AA"), G("not_party", state="BB")], instruments=None)
forty_states = {}
for i in range(38):
    code = chr(70 + i // 26) + chr(65 + i % 26)  # FA, FB, ... (38 more States)
    forty_states[code] = {"deposits": {"uncc": "2025-06-%02d" % (1 + i % 28)}}
# 38 deposits in June 2025, then CC 2025-12-01 (39th), AA 2026-01-15 (40th), BB, EE:
# E = 2026-01-15 + 90 days = 2026-04-15, and AA and BB (deposit + 30 earlier) are bound from E.
case("x-uncc-entry-into-force-computed-from-fortieth-deposit", "admissible", as_of="2026-04-15", instruments={}, states=forty_states)
case("x-uncc-computed-day-before", "refused", [G("not_party", state="AA"), G("not_party", state="BB")], as_of="2026-04-14", instruments={}, states=forty_states)

# Budapest (ETS 185 art. 36-37): first day of the month after three months from deposit.
case("x-budapest-bound-first-of-month", "admissible", as_of="2026-12-01", request={"instrument": "budapest", "requested_state": "EE"})
case("x-budapest-not-yet-bound", "refused", [G("not_party", state="EE")], as_of="2026-11-30", request={"instrument": "budapest", "requested_state": "EE"})
case("x-budapest-no-deposit", "refused", [G("not_party", state="CC")], request={"instrument": "budapest", "requesting_state": "CC"})
p2 = {"instrument": "budapest_p2", "measure": "subscriber_direct", "data": {"categories": ["subscriber"]}}
case("x-p2-requires-budapest", "refused", [G("not_party", state="CC")], request={**p2, "requesting_state": "CC"}, states={"CC": {"deposits": {"uncc": "2025-12-01", "budapest_p2": "2024-01-10"}}})
p2_states = {c: {"deposits": {"budapest": "2010-01-01", "budapest_p2": d}} for c, d in [("FA", "2023-01-10"), ("FB", "2023-02-10"), ("FC", "2023-03-10")]}
# Listed budapest_p2 deposits: BB 2024-11-05, AA 2025-06-10, EE 2026-08-14, FA, FB, FC: the fifth earliest is AA's 2025-06-10 -> in force 2025-10-01.
case("x-p2-entry-into-force-computed-fifth-deposit", "admissible", as_of="2025-10-01", request=p2, instruments={}, states=p2_states)
case("x-p2-computed-day-before", "refused", [G("not_party", state="AA"), G("not_party", state="BB")], as_of="2025-09-30", request=p2, instruments={}, states=p2_states)

# Measures.
case("x-subscriber-direct-under-uncc-asks-traffic", "refused", [G("measure_unavailable"), G("category_not_allowed")], request={"measure": "subscriber_direct"})
case("x-p2-does-not-provide-stored-data", "refused", [G("measure_unavailable")], request={"instrument": "budapest_p2"})
case("x-realtime-declined-by-profile", "refused", [G("measure_unavailable")], request={"measure": "realtime_traffic", "duration_days": 10}, states={"BB": {"measures": {"realtime_traffic": False}}})
case("x-realtime-traffic-admissible", "admissible", request={"measure": "realtime_traffic", "duration_days": 30})
case("x-boundary-duration-over-maximum", "consult", [G("duration_too_long")], request={"measure": "realtime_traffic", "duration_days": 31})
case("x-interception-long-and-declined", "refused", [G("measure_unavailable"), G("duration_too_long"), G("interception")], request={"measure": "interception", "duration_days": 90}, states={"BB": {"measures": {"interception": False}}})
case("x-realtime-missing-duration-and-authorization", "incomplete", [G("missing", field="duration_days"), G("missing", field="judicial_authorization")], request={"measure": "realtime_traffic"}, drop=["judicial_authorization"])

# Scope (UNCC 2(h), 35(1)): four years is a serious crime.
case("x-boundary-penalty-exactly-four-years", "admissible", request={"offence": {"conduct": ["theft"], "max_penalty_years": 4}})
case("x-boundary-penalty-just-under-four-years", "refused", [G("out_of_scope")], request={"offence": {"conduct": ["theft"], "max_penalty_years": 3.99}})
case("x-out-of-scope-not-checked-under-budapest", "admissible", request={"instrument": "budapest", "offence": {"conduct": ["theft"], "max_penalty_years": 1}})
case("x-out-of-scope-needs-penalty", "incomplete", [G("missing", field="offence.max_penalty_years")], request={"offence": {"conduct": ["theft"]}}, drop=["offence.max_penalty_years"])

# Dual criminality (UNCC 35(2), 42(3)-(4)).
case("x-dual-criminality-except-convention-offences", "admissible", request={"offence": {"conduct": ["grooming"]}}, states={"BB": {"criminalized_conduct": ["theft"], "safeguards": {"dual_criminality": "required_except_convention_offences"}}})
case("x-dual-criminality-required-convention-offence-not-criminalized", "refused", [G("no_dual_criminality")], request={"offence": {"conduct": ["grooming"]}}, states={"BB": {"criminalized_conduct": ["theft"]}})
case("x-dual-criminality-not-required", "admissible", request={"offence": {"conduct": ["defamation"], "max_penalty_years": 5}}, states={"BB": {"safeguards": {"dual_criminality": "not_required"}}})
case("x-budapest-copyright-is-convention-offence", "admissible", request={"instrument": "budapest", "offence": {"conduct": ["copyright_infringement"]}}, states={"BB": {"criminalized_conduct": [], "safeguards": {"dual_criminality": "required_except_convention_offences"}}})
pres = {"measure": "preservation", "necessity": "Logs are kept 30 days.", "intends_mla": True}
case("x-preservation-no-dual-criminality-needed", "admissible", request={**pres, "offence": {"conduct": ["defamation"], "max_penalty_years": 5}}, conditions=ALWAYS + [{"code": "preserve_until", "until": "2027-02-21"}])
case("x-preservation-reservation-refuses", "refused", [G("no_dual_criminality")], request={**pres, "offence": {"conduct": ["defamation"], "max_penalty_years": 5}}, states={"BB": {"reservations": ["preservation_dual_criminality"]}})
case("x-preservation-reservation-met-by-convention-offence", "admissible", request={**pres, "offence": {"conduct": ["grooming"]}}, states={"BB": {"reservations": ["preservation_dual_criminality"], "criminalized_conduct": ["theft"]}}, conditions=ALWAYS + [{"code": "preserve_until", "until": "2027-02-21"}])
case("x-boundary-preservation-floor-60-days", "admissible", request=pres, states={"BB": {"safeguards": {"preservation_days": 60}}}, conditions=ALWAYS + [{"code": "preserve_until", "until": "2027-01-22"}])
case("x-preservation-missing-everything", "incomplete", [G("missing", field="necessity"), G("missing", field="intends_mla"), G("missing", field="data.custodian")], request={"measure": "preservation", "intends_mla": False, "necessity": "   "}, drop=["data.custodian"])

# Protected conduct, security work, undermining security.
case("x-protected-conduct-review-when-not-refused", "review", [G("protected_conduct")], request={"offence": {"conduct": ["journalism", "computer_fraud"]}}, states={"BB": {"safeguards": {"refuse_protected_conduct": False}}})
case("x-security-undermining-review-when-not-refused", "review", [G("security_undermining")], request={"technical_assistance": {"undermine_security": True}}, states={"BB": {"safeguards": {"refuse_security_undermining": False}}})
case("x-security-undermining-false-is-fine", "admissible", request={"technical_assistance": {"undermine_security": False}})
case("x-authorized-testing-alone", "refused", [G("authorized_testing"), G("no_dual_criminality"), G("out_of_scope")], request={"offence": {"conduct": ["authorized_security_testing"], "max_penalty_years": 2}})

# Confidentiality (UNCC 40(20)): exactly at the maximum is accepted.
case("x-boundary-confidentiality-exactly-maximum", "admissible", request={"confidentiality": {"days": 180}}, conditions=ALWAYS + [{"code": "confidential_until", "until": "2027-05-22"}])
case("x-boundary-confidentiality-one-day-over", "consult", [G("confidentiality_too_long")], request={"confidentiality": {"days": 181}})
case("x-confidentiality-zero-maximum", "consult", [G("confidentiality_too_long")], request={"confidentiality": {"days": 1}}, states={"BB": {"safeguards": {"max_confidentiality_days": 0}}})

# Subjects, death penalty.
case("x-sensitive-subject-review-off", "admissible", request={"subject": {"roles": ["lawyer"]}}, states={"BB": {"safeguards": {"review_sensitive_subjects": False}}})
case("x-subject-other-is-not-sensitive", "admissible", request={"subject": {"roles": ["other"]}})
case("x-death-penalty-assurance-not-required", "admissible", request={"offence": {"death_penalty": True}}, states={"BB": {"safeguards": {"require_death_penalty_assurance": False}}})

# Missing fields (UNCC 40(15)).
case("x-emergency-without-justification", "incomplete", [G("missing", field="emergency.justification")], request={"emergency": {}})
case("x-emergency-with-justification", "admissible", request={"emergency": {"justification": "A child is in immediate danger."}})
case("x-bare-request", "incomplete",
     [G("missing", field=f) for f in ["requesting_authority", "offence.description", "offence.conduct", "offence.max_penalty_years", "facts", "data.categories", "data.identifiers", "relationship", "data.from", "data.to"]],
     drop=["requesting_authority", "offence", "facts", "data", "relationship", "judicial_authorization"])
case("x-blank-strings-and-empty-arrays", "incomplete",
     [G("missing", field=f) for f in ["facts", "relationship", "data.identifiers", "offence.conduct"]],
     request={"facts": " \t\n", "relationship": "", "data": {"identifiers": []}, "offence": {"conduct": []}})
case("x-non-empty-array-of-blank-strings-counts", "admissible", request={"data": {"identifiers": [""]}})
case("x-content-needs-authorization-once", "incomplete", [G("missing", field="judicial_authorization"), G("interception")], request={"measure": "interception", "duration_days": 5, "data": {"categories": ["content"]}}, drop=["judicial_authorization"])
case("x-authorization-categories-from-profile", "admissible", request={"data": {"categories": ["traffic"]}}, drop=["judicial_authorization"], states={"BB": {"safeguards": {"judicial_authorization": ["content"]}}})
case("x-subscriber-needs-authorization-when-profile-says", "incomplete", [G("missing", field="judicial_authorization")], request={"data": {"categories": ["subscriber"]}}, drop=["judicial_authorization"], states={"BB": {"safeguards": {"judicial_authorization": ["subscriber"]}}})

# Several levels at once: the most severe wins, every ground is listed, no conditions.
case("x-everything-at-once", "refused",
     [G("not_party", state="DD"), G("protected_conduct"), G("no_dual_criminality"), G("missing", field="facts"), G("confidentiality_too_long"), G("sensitive_subject")],
     request={"requested_state": "DD", "offence": {"conduct": ["political_expression"]}, "facts": "", "confidentiality": {"indefinite": True}, "subject": {"roles": ["journalist", "parliamentarian"]}})
case("x-consult-and-review", "consult", [G("death_penalty_assurance"), G("security_research")], request={"offence": {"conduct": ["security_research", "illegal_access"], "death_penalty": True}})
print("written")
