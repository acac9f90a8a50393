"""The built-in composer: grounded slots, distinct phrasings, deterministic given a seed."""

from __future__ import annotations

import pytest

from edgemark.content import CopyBrief, TemplateComposer, check
from edgemark.content._compose import TEMPLATES
from edgemark.errors import ConfigError

FACTS = {
    "sku": "sku-home-003",
    "name": "Brightnest sand ceramic mug",
    "brand": "Brightnest",
    "product_type": "ceramic mug",
    "price": "6.99",
    "currency": "GBP",
    "attributes": {"colour": "sand", "material": "porcelain"},
}
EVIDENCE = (
    "Brightnest sand ceramic mug (ceramic mug by Brightnest). colour: sand; "
    "material: porcelain. Price: 6.99 GBP. In stock.",
    "10% off",
)


def _brief(copy_type: str, seed: int = 0, n: int = 3) -> CopyBrief:
    return CopyBrief(
        copy_type, facts=FACTS, evidence=EVIDENCE, offer="10% off", max_chars=160, n=n, seed=seed
    )


@pytest.mark.parametrize("copy_type", ["headline", "offer_blurb", "subject_line"])
def test_variants_are_distinct_grounded_and_deterministic(copy_type: str) -> None:
    composer = TemplateComposer()
    drafts = composer.write(_brief(copy_type, seed=5))
    assert len(drafts) == 3
    assert len({d.text for d in drafts}) == 3 and len({d.template for d in drafts}) == 3
    assert drafts == composer.write(_brief(copy_type, seed=5))
    for d in drafts:
        assert check(d.text, surface="kiosk", evidence=EVIDENCE, known_names=["Brightnest"]).ok
        assert "{" not in d.text
    orders = {
        tuple(d.template for d in composer.write(_brief(copy_type, s, n=4))) for s in range(20)
    }
    assert len(orders) > 1  # the seed changes which phrasing the bandit sees first


def test_facts_already_in_the_name_are_not_repeated() -> None:
    drafts = TemplateComposer().write(_brief("headline", n=4))
    assert all("sand, sand" not in d.text and "mug, sand" not in d.text for d in drafts)
    assert any("porcelain" in d.text for d in drafts)


def test_templates_missing_a_fact_are_skipped() -> None:
    brief = CopyBrief("offer_blurb", facts=FACTS, evidence=EVIDENCE, offer="", n=4)
    assert TemplateComposer().write(brief) == []  # every blurb needs the offer
    assert len(TEMPLATES["product_answer"]) >= 3


def test_product_answers_quote_the_faq_without_its_title() -> None:
    brief = CopyBrief(
        "product_answer", answers=("Delivery: Delivery is free on orders over 50.",), n=3, seed=1
    )
    texts = [d.text for d in TemplateComposer().write(brief)]
    assert "Delivery is free on orders over 50." in texts
    assert all(not t.startswith("Delivery:") for t in texts)


def test_unknown_copy_type_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown"):
        TemplateComposer().write(CopyBrief("poem"))


def test_compose_requests_from_json_name_the_bad_field() -> None:
    from edgemark.content import compose_request_from_dict

    request = compose_request_from_dict(
        {"copy_type": "offer_blurb", "sku": "s", "offer_name": "10% off", "customer_names": ["Jo"]}
    )
    assert request.customer_names == ("Jo",) and request.n_variants == 3
    with pytest.raises(ConfigError, match="Unknown compose field"):
        compose_request_from_dict({"copy_type": "headline", "sku": "s", "prompt": "x"})
    with pytest.raises(ConfigError, match="'n_variants' has the wrong type"):
        compose_request_from_dict({"sku": "s", "n_variants": True})
    with pytest.raises(ConfigError, match="'customer_names'"):
        compose_request_from_dict({"sku": "s", "customer_names": [1]})
    with pytest.raises(ConfigError, match="JSON object"):
        compose_request_from_dict(["headline"])
    with pytest.raises(ConfigError, match="n_variants must be 1-8"):
        compose_request_from_dict({"sku": "s", "n_variants": 50})
