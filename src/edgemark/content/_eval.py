"""Content evals: retrieval Recall@5 and MRR on labelled queries from the simulator's
catalog, grounding rate, guardrail trigger rates by reason (and their detection of known
bad texts), and ROUGE-L of headlines against reference copy.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

from edgemark.content._engine import ComposeRequest, ContentEngine
from edgemark.content._guardrails import REASONS, check
from edgemark.content._index import Filters
from edgemark.content._pack import read_catalog
from edgemark.sim import CatalogItem, LabelledQuery, labelled_queries, reference_copy

# Texts a careless writer (or an LLM) might produce, with the reason each must trigger.
PROBES: tuple[tuple[str, str], ...] = (
    ("Questions? Write to anna.berg@example.com", "pii_email"),
    ("Call Anna on +44 20 7946 0958 for the deal", "pii_phone"),
    ("Pay with card 4111 1111 1111 1111 at the till", "pii_card"),
    ("Transfer to GB82 WEST 1234 5698 7654 32", "pii_iban"),
    ("Hello Berg, your favourites are back", "pii_name"),
    ("This face cream cures dry skin", "banned"),
    ("A miracle in every cup", "banned"),
    ("Now only 1.99 GBP", "ungrounded"),
    ("Save 70% today only", "ungrounded"),
    (
        "A long headline that keeps going and going, well past what any in-store screen can "
        "show on one line, so the guardrail has to stop it before it is shown",
        "too_long",
    ),
)
COMPOSE_TYPES = ("headline", "offer_blurb", "subject_line")
_SURFACE = {"headline": "screen", "offer_blurb": "app", "subject_line": "email_subject"}


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 (beta 1) over lower-cased word tokens: longest common subsequence.

    >>> round(rouge_l("the cat sat on the mat", "the cat lay on the mat"), 4)
    0.8333
    """
    a, b = candidate.lower().split(), reference.lower().split()
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


def retrieval_metrics(
    engine: ContentEngine, queries: Sequence[LabelledQuery], *, now: float | None = None
) -> dict[str, Any]:
    """Recall@5 (share of the relevant passages, up to 5, found in the top 5) and MRR@10."""
    recall, rr = [], []
    for q in queries:
        ids = [h.passage.id for h in engine.retrieve(q.query, k=10, filters=Filters(), now=now)]
        relevant = set(q.relevant)
        recall.append(len(relevant & set(ids[:5])) / min(len(relevant), 5))
        rank = next((i for i, pid in enumerate(ids, start=1) if pid in relevant), 0)
        rr.append(1.0 / rank if rank else 0.0)
    return {
        "recall_at_5": sum(recall) / len(recall),
        "mrr": sum(rr) / len(rr),
        "queries": len(queries),
    }


def catalog_items(rows: Sequence[dict[str, Any]]) -> list[CatalogItem]:
    """Catalog rows (as ``read_catalog`` returns them) as simulator items."""
    return [
        CatalogItem(
            sku=str(r["sku"]),
            name=str(r["name"]),
            category=str(r["category"]),
            product_type=str(r.get("product_type", "")),
            brand=str(r.get("brand", "")),
            price=float(r["price"]),
            currency=str(r["currency"]),
            in_stock=bool(r.get("in_stock", True)),
            locale=str(r.get("locale", "")),
            attributes={str(k): str(v) for k, v in dict(r.get("attributes") or {}).items()},
        )
        for r in rows
    ]


def evaluate(
    pack_dir: str | os.PathLike[str],
    catalog: str | os.PathLike[str],
    *,
    seed: int = 7,
    now: float | None = None,
) -> dict[str, Any]:
    """Every content figure for a pack built from ``catalog`` (a simulator catalog)."""
    engine = ContentEngine.open(pack_dir)
    try:
        items = catalog_items(read_catalog(catalog))
        queries = labelled_queries(items, seed)
        out = retrieval_metrics(engine, queries, now=now)
        out.update(_composition(engine, items, queries, now))
    finally:
        engine.close()
    out["probe_detection"] = probe_detection(engine.banned)
    return out


def _composition(
    engine: ContentEngine,
    items: list[CatalogItem],
    queries: Sequence[LabelledQuery],
    now: float | None,
) -> dict[str, Any]:
    drafts, blocked, rouge = 0, Counter[str](), []
    for k, item in enumerate(items):
        for copy_type in COMPOSE_TYPES:
            request = ComposeRequest(
                copy_type,
                sku=item.sku,
                offer_name="10% off",
                surface=_SURFACE[copy_type],
                in_stock=None,
                seed=k,
            )
            copy = engine.compose(request, now=now)
            drafts += copy.drafts
            blocked.update(copy.blocked)
            if copy_type == "headline":
                rouge.append(max(rouge_l(v.text, reference_copy(item)) for v in copy.variants))
    for q in (q for q in queries if q.kind == "faq"):
        copy = engine.compose(
            ComposeRequest("product_answer", query=q.query, surface="kiosk"), now=now
        )
        drafts += copy.drafts
        blocked.update(copy.blocked)
    rates = {r: blocked.get(r, 0) / max(drafts, 1) for r in REASONS}
    return {
        "grounding_rate": 1.0 - blocked.get("ungrounded", 0) / max(drafts, 1),
        "drafts": drafts,
        "guardrail_rates": rates,
        "safe_default_rate": blocked.get("safe_default", 0)
        / max(len(items) * len(COMPOSE_TYPES), 1),
        "rouge_l": sum(rouge) / max(len(rouge), 1),
    }


def probe_detection(banned: Sequence[str]) -> dict[str, float]:
    """Per reason, the share of known bad texts (``PROBES``) that the guardrails catch."""
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    evidence = ("Price: 2.99 GBP.",)
    for text, reason in PROBES:
        verdict = check(
            text, surface="screen", evidence=evidence, banned=banned, names=("Anna", "Berg")
        )
        totals[reason] += 1
        hits[reason] += reason in verdict.reasons
    return {r: hits[r] / totals[r] for r in sorted(totals)}
