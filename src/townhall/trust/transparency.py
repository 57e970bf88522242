"""The transparency report (DSA Art. 15 and 24(1)): the period's figures as JSON, and the same figures
as a readable HTML page with charts in plain HTML and CSS (no scripts, no external resources).
Counts only: never names, handles, e-mails or addresses.
"""

from __future__ import annotations

import html
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from townhall.domain.appeals import Appeal, AppealOutcome
from townhall.domain.misuse import MisuseAction, StrikeKind
from townhall.domain.moderation import ActionKind, Automation, Basis, Decision, Ground
from townhall.domain.notices import Notice, NoticeState, SourceKind
from townhall.services.trust.ports import Dispute, MisuseMeasure, Order, Referral, Restriction
from townhall.trust.reasons import VISIBILITY

SCHEMA = "townhall.transparency.v1"


def median_hours(seconds: Iterable[float]) -> float | None:
    values = list(seconds)
    return round(statistics.median(values) / 3600, 3) if values else None


def _notices(notices: list[Notice], decided: Mapping[str, Decision]) -> list[dict[str, Any]]:
    out = []
    for category in sorted({n.category for n in notices}):
        mine = [n for n in notices if n.category == category]
        acted = [(n, decided.get(n.decision_id or "")) for n in mine if n.state is NoticeState.DECIDED]
        on = Counter(
            "no_action"
            if d is None or not d.restricts
            else f"action_on_{'law' if d.proposal.ground is Ground.ILLEGAL else 'terms'}"
            for _, d in acted
        )
        out.append(
            {
                "category": category,
                "received": len(mine),
                "from_trusted_flaggers": sum(1 for n in mine if n.source_kind is SourceKind.TRUSTED_FLAGGER),
                "action_on_law": on["action_on_law"],
                "action_on_terms": on["action_on_terms"],
                "no_action": on["no_action"],
                "not_processed_art23": sum(1 for n in mine if n.state is NoticeState.NOT_PROCESSED),
                "processed_by_automated_means": 0,
                "median_hours_to_action": median_hours(
                    (n.decided_at or n.received_at) - n.received_at for n, d in acted if d is not None and d.restricts
                ),
            }
        )
    return out


def _decisions(decisions: list[Decision]) -> dict[str, Any]:
    restricting = [d for d in decisions if d.restricts]
    own = Counter(
        (d.proposal.category, "automated" if d.proposal.automated_detection else "manual", _restriction(d))
        for d in restricting
        if d.basis in (Basis.OWN_INITIATIVE, Basis.MISUSE)
    )
    return {
        "total": len(decisions),
        "by_action": dict(Counter(d.action.value for d in decisions)),
        "by_ground": dict(Counter(d.proposal.ground.value for d in restricting if d.proposal.ground)),
        "by_basis": dict(Counter(d.basis.value for d in decisions)),
        "automated_decision": {
            a.value: sum(1 for d in decisions if d.proposal.automated_decision is a) for a in Automation
        },
        "automated_detection": sum(1 for d in decisions if d.proposal.automated_detection),
        "own_initiative": [
            {"category": c, "detection": det, "restriction": r, "count": n} for (c, det, r), n in sorted(own.items())
        ],
    }


def _restriction(d: Decision) -> str:
    if d.action is ActionKind.SUSPEND_ACCOUNT:
        return "DECISION_ACCOUNT_SUSPENDED"
    return VISIBILITY.get(d.action, d.action.value)


def _complaints(appeals: list[Appeal], decided: Mapping[str, Decision]) -> dict[str, Any]:
    closed = [a for a in appeals if a.decided_at is not None]
    basis = Counter(
        "decision_to_act" if (d := decided.get(a.decision_id)) is None or d.restricts else "decision_not_to_act"
        for a in appeals
    )
    return {
        "received": len(appeals),
        "by_basis": {"decision_to_act": basis["decision_to_act"], "decision_not_to_act": basis["decision_not_to_act"]},
        "upheld": sum(1 for a in closed if a.outcome is AppealOutcome.UPHELD),
        "reversed": sum(1 for a in closed if a.outcome is AppealOutcome.REVERSED),
        "open": len(appeals) - len(closed),
        "median_hours_to_decision": median_hours((a.decided_at or 0) - a.lodged_at for a in closed),
    }


def _misuse(measures: list[MisuseMeasure], action: MisuseAction) -> dict[str, int]:
    picked = Counter(m.kind for m in measures if m.action == action.value)
    return {
        "manifestly_illegal_content": picked[StrikeKind.MANIFESTLY_ILLEGAL_CONTENT.value],
        "manifestly_unfounded_notices": picked[StrikeKind.MANIFESTLY_UNFOUNDED_NOTICE.value],
        "manifestly_unfounded_complaints": picked[StrikeKind.MANIFESTLY_UNFOUNDED_COMPLAINT.value],
    }


def _orders(orders: list[Order], kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[Order]] = {}
    for o in orders:
        if o.kind in kinds:
            groups.setdefault((o.member_state, o.category), []).append(o)
    return [
        {
            "member_state": state,
            "category": category,
            "count": len(rows),
            "median_hours_to_confirm": median_hours(r.receipt_confirmed_at - r.received_at for r in rows),
            "median_hours_to_effect": median_hours(
                r.effect_given_at - r.received_at for r in rows if r.effect_given_at is not None
            ),
            "effect_given": sum(1 for r in rows if r.outcome == "effect_given"),
        }
        for (state, category), rows in sorted(groups.items())
    ]


def _withholdings(restrictions: list[Restriction]) -> list[dict[str, Any]]:
    counts: Counter[tuple[str, str]] = Counter()
    for r in restrictions:
        if r.action == ActionKind.WITHHOLD.value:
            for country in r.countries:
                counts[(country, r.label or "local_law")] += 1
    countries = sorted({c for c, _ in counts})
    return [
        {"country": c, "legal_demand": counts[(c, "legal_demand")], "local_law": counts[(c, "local_law")]}
        for c in countries
    ]


def _disputes(disputes: list[Dispute]) -> dict[str, Any]:
    closed = [d for d in disputes if d.closed_at is not None]
    durations = [d.closed_at - d.opened_at for d in disputes if d.closed_at is not None]
    outcomes = Counter(d.outcome for d in closed)
    return {
        "submitted": len(disputes),
        "outcomes": {k: outcomes[k] for k in ("for_recipient", "for_provider", "settled", "withdrawn")},
        "median_days_to_complete": None
        if not closed
        else round(statistics.median(durations) / 86400, 3),
        "share_implemented": None if not closed else round(sum(1 for d in closed if d.implemented) / len(closed), 3),
    }


def figures(
    platform: str,
    period: tuple[str, str],
    notices: list[Notice],
    decisions: list[Decision],
    linked: Mapping[str, Decision],
    appeals: list[Appeal],
    measures: list[MisuseMeasure],
    orders: list[Order],
    restrictions: list[Restriction],
    disputes: list[Dispute],
    referrals: list[Referral],
) -> dict[str, Any]:
    """The report. `linked` holds every decision a notice or appeal of the period points at."""
    decided = {**linked, **{d.id: d for d in decisions}}
    from_notice = [
        (n.decided_at or 0) - n.received_at for n in notices if n.state is NoticeState.DECIDED and n.decided_at
    ]
    return {
        "schema": SCHEMA,
        "platform": platform,
        "period": {"from": period[0], "to": period[1]},
        "notices_art16": _notices(notices, decided),
        "notices_by_source": dict(Counter(n.source_kind.value for n in notices)),
        "median_hours_notice_to_decision": median_hours(from_notice),
        "decisions": _decisions(decisions),
        "complaints_art20": _complaints(appeals, decided),
        "suspensions_art23": _misuse(measures, MisuseAction.SUSPEND),
        "warnings_art23": _misuse(measures, MisuseAction.WARN),
        "orders_art9": _orders(orders, ("act_against_content",)),
        "orders_art10": _orders(orders, ("provide_information", "other_request")),
        "withholdings": _withholdings(restrictions),
        "out_of_court_art21": _disputes(disputes),
        "referrals_art18": {
            "sent": len(referrals),
            "by_member_state": dict(Counter(c for r in referrals for c in r.member_states)),
        },
    }


# --- the readable page ---------------------------------------------------------------------------
_WORDS = {"tc": "terms and conditions", "art": "Art.", "eea": "EEA"}
_LABELS = {
    "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE": "Not specified in the notice",
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC": "Other violation of the terms and conditions",
    "STATEMENT_CATEGORY_SELF_HARM": "Self-harm",
    "trusted_flagger": "Trusted flaggers (Art. 22)",
    "for_recipient": "Decided for the recipient",
    "for_provider": "Decided for the platform",
    "fully": "Fully automated",
    "partially": "Partly automated",
    "not": "Not automated (a person decided)",
}


def label(code: str) -> str:
    """A person's words for a DSA code or an enum value (the code itself is shown beside it)."""
    if code in _LABELS:
        return _LABELS[code]
    words = code.removeprefix("STATEMENT_CATEGORY_").removeprefix("DECISION_").lower().split("_")
    text = " ".join(_WORDS.get(w, w) for w in words if w)
    return text[:1].upper() + text[1:] if text else code


def bar_chart(title: str, data: Mapping[str, float]) -> str:
    """A horizontal bar chart in plain HTML and CSS: each row is the label in words (the DSA code beside it,
    never cut off: labels wrap), a bar and the number, so screen readers read the figures as text."""
    esc = html.escape
    rows = [(str(k), float(v)) for k, v in data.items()]
    if not rows:
        none = '<p class="muted">None in this period.</p>'
        return f'<figure class="chart"><figcaption>{esc(title)}</figcaption>{none}</figure>'
    top = max(v for _, v in rows) or 1.0
    items = "".join(
        f'<li><span class="label">{esc(label(k))}'
        + (f" <code>{esc(k)}</code>" if label(k).lower() != k.replace("_", " ").lower() else "")
        + f'</span><span class="bar" aria-hidden="true"><span style="width:{100 * v / top:.1f}%"></span></span>'
        f'<span class="num">{v:g}</span></li>'
        for k, v in rows
    )
    return f'<figure class="chart"><figcaption>{esc(title)}</figcaption><ul class="bars">{items}</ul></figure>'


_STYLE = """
:root{--bg:#f6f5f2;--card:#fff;--ink:#1d1d1f;--muted:#5f6368;--accent:#1a5fd0;--line:#dcdad5;--radius:12px;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg);line-height:1.45}
@media (prefers-color-scheme:dark){:root{--bg:#151517;--card:#1f1f23;--ink:#ececef;--muted:#a3a3ab;--line:#34343a;
--accent:#7aa7ff}}
*{box-sizing:border-box}body{margin:0}a{color:var(--accent)}
.bar-top{display:flex;justify-content:space-between;align-items:center;padding:.75rem 1rem;
border-bottom:1px solid var(--line);background:var(--card)}
.brand{font-weight:700;text-decoration:none;color:var(--ink);font-size:1.15rem}
main{max-width:1100px;margin:0 auto;padding:1rem;display:grid;gap:1rem}
h1{font-size:1.6rem;margin:.2rem 0 .2rem}.muted{color:var(--muted)}
.card{background:var(--card);border:1px solid var(--line);border-radius:var(--radius);padding:1rem}
.charts{display:grid;gap:1rem}@media (min-width:800px){.charts{grid-template-columns:1fr 1fr}}
figure.chart{margin:0;background:var(--card);border:1px solid var(--line);border-radius:var(--radius);padding:1rem}
figcaption{font-weight:700;margin-bottom:.6rem}
ul.bars{list-style:none;margin:0;padding:0;display:grid;gap:.55rem}
ul.bars li{display:grid;grid-template-columns:minmax(0,1fr) auto;gap:.15rem .6rem;align-items:center}
ul.bars .label{grid-column:1/-1;overflow-wrap:anywhere}
ul.bars code{font-size:.75rem;color:var(--muted);overflow-wrap:anywhere}
ul.bars .bar{height:.9rem;background:var(--bg);border-radius:999px;overflow:hidden}
ul.bars .bar span{display:block;height:100%;min-width:2px;background:var(--accent);border-radius:999px}
ul.bars .num{font-variant-numeric:tabular-nums;font-weight:600;min-width:2.5rem;text-align:right}
table{border-collapse:collapse}td,th{padding:.3rem .6rem;text-align:left;border-bottom:1px solid var(--line)}
"""


def page(report: Mapping[str, Any]) -> str:
    esc = html.escape
    d = report["decisions"]
    c = report["complaints_art20"]
    charts = [
        bar_chart(
            "Notices by category (Art. 15(1)(b))", {n["category"]: n["received"] for n in report["notices_art16"]}
        ),
        bar_chart("Notices by source", report["notices_by_source"]),
        bar_chart("Decisions by type", d["by_action"]),
        bar_chart("Decisions by ground", d["by_ground"]),
        bar_chart("Automated versus human decisions", d["automated_decision"]),
        bar_chart("Appeals and outcomes (Art. 20)", {k: c[k] for k in ("received", "upheld", "reversed", "open")}),
        bar_chart("Suspensions for misuse (Art. 23)", report["suspensions_art23"]),
        bar_chart("Out-of-court dispute outcomes (Art. 21)", report["out_of_court_art21"]["outcomes"]),
        bar_chart(
            "Orders from authorities by Member State (Art. 9, 10)",
            {o["member_state"]: o["count"] for o in report["orders_art9"] + report["orders_art10"]},
        ),
        bar_chart(
            "Withholdings by country",
            {w["country"]: w["legal_demand"] + w["local_law"] for w in report["withholdings"]},
        ),
    ]
    medians = [
        ("Median hours from notice to decision", report["median_hours_notice_to_decision"]),
        ("Median hours to decide an appeal", c["median_hours_to_decision"]),
        *(
            (f"Median hours to give effect to orders from {o['member_state']}", o["median_hours_to_effect"])
            for o in report["orders_art9"] + report["orders_art10"]
        ),
    ]
    facts = "".join(f"<tr><th scope=row>{esc(k)}</th><td>{'n/a' if v is None else v}</td></tr>" for k, v in medians)
    period = report["period"]
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>Transparency report {esc(period['from'])} to {esc(period['to'])} · townhall</title>"
        f"<style>{_STYLE}</style>"
        '<header class="bar-top"><a class="brand" href="/">townhall</a><a href="/api/transparency">JSON</a></header>'
        "<main>"
        f"<div><h1>Transparency report</h1><p class=muted>{esc(report['platform'])} · period "
        f"{esc(period['from'])} to {esc(period['to'])} · Digital Services Act, Articles 15 and 24. "
        "The same figures are published as JSON. Counts only: no names, handles or addresses.</p></div>"
        f'<section class="card"><table><caption class="muted">Times</caption>{facts}</table></section>'
        f'<div class="charts">{"".join(charts)}</div>'
        "</main></html>"
    )
