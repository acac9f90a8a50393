"""CLI verbs of the content plane: ``edgemark content sample | pack build | compose | eval |
variants``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgemark.cli._output import console, handled_errors, print_json

content_app = typer.Typer(
    help="Grounded marketing copy from a local content pack (retrieval, composer, guardrails).",
    no_args_is_help=True,
)
pack_app = typer.Typer(help="Build content packs (catalog + docs -> index).", no_args_is_help=True)

_PACK = Annotated[Path, typer.Argument(help="Content pack directory (from 'content pack build').")]


@content_app.command("sample")
def sample_command(
    out: Annotated[Path, typer.Option("--out", help="Directory for catalog.jsonl and docs/.")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated catalog.")] = 7,
) -> None:
    """Write a simulated catalog (catalog.jsonl) and FAQ, tone and banned-claims docs."""
    with handled_errors():
        from edgemark.sim import generate_catalog, write_catalog, write_docs

        items = generate_catalog(seed)
        write_catalog(items, out / "catalog.jsonl")
        write_docs(out / "docs")
    console.print(
        f"Wrote {len(items)} products to {out / 'catalog.jsonl'} and docs to {out / 'docs'}"
    )


@pack_app.command("build")
def pack_build_command(
    catalog: Annotated[Path, typer.Option("--catalog", help="Product catalog, JSONL.")],
    docs: Annotated[
        Path, typer.Option("--docs", help="Docs directory: *.md, tone.md, banned.txt.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Pack directory to write (replaced).")],
    embedder: Annotated[
        str, typer.Option("--embedder", help="auto (INT8 if it agrees >= 0.99), int8 or fp32.")
    ] = "auto",
    ttl_days: Annotated[
        float, typer.Option("--ttl-days", help="Days until product passages expire (0: never).")
    ] = 30.0,
    version: Annotated[str, typer.Option("--version", help="Version label of the pack.")] = "1",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the build report as JSON.")
    ] = False,
) -> None:
    """Chunk, embed (all-MiniLM-L6-v2) and index a catalog and docs into a content pack."""
    with handled_errors():
        from edgemark.content import build_pack

        report = build_pack(
            catalog, docs, out, embedder=embedder, ttl_days=ttl_days or None, version=version
        )
    if as_json:
        print_json(report.to_dict())
        return
    console.print(
        f"Pack {out}: {report.passages} passages ({report.products} products), embedder "
        f"{report.embedder} (INT8 cosine min {report.int8_cosine_min:.4f}), {report.seconds:.1f} s"
    )


@content_app.command("compose")
def compose_command(
    pack: _PACK,
    query: Annotated[str, typer.Option("--query", help="What to write about.")] = "",
    sku: Annotated[str, typer.Option("--sku", help="Product to write about.")] = "",
    copy_type: Annotated[
        str, typer.Option("--type", help="headline, offer_blurb, product_answer or subject_line.")
    ] = "headline",
    offer: Annotated[str, typer.Option("--offer", help="Offer text, e.g. '10% off'.")] = "",
    surface: Annotated[
        str, typer.Option("--surface", help="screen, app, kiosk, sms, ...")
    ] = "screen",
    variants: Annotated[int, typer.Option("--variants", help="Variants wanted (1-8).")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the phrasing order.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Compose guarded copy variants from a content pack."""
    with handled_errors():
        from edgemark.content import ComposeRequest, ContentEngine

        request = ComposeRequest(
            copy_type,
            query=query,
            sku=sku or None,
            offer_name=offer,
            surface=surface,
            n_variants=variants,
            seed=seed,
            in_stock=None,
        )
        engine = ContentEngine.open(pack)
        copy = engine.compose(request)
        engine.close()
    if as_json:
        print_json(copy.to_dict())
        return
    for v in copy.variants:
        console.print(f"[bold]{v.id}[/]  {v.text}", highlight=False)
    console.print(f"passages: {', '.join(copy.passages)}; blocked: {copy.blocked or 'none'}")


@content_app.command("eval")
def eval_command(
    pack: _PACK,
    catalog: Annotated[
        Path, typer.Option("--catalog", help="The simulator catalog the pack was built from.")
    ],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the labelled query set.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Recall@5, MRR, grounding rate, guardrail rates and ROUGE-L of a content pack."""
    with handled_errors():
        from edgemark.content import evaluate

        figures = evaluate(pack, catalog, seed=seed)
    if as_json:
        print_json(figures)
        return
    for key in ("recall_at_5", "mrr", "grounding_rate", "rouge_l", "safe_default_rate"):
        console.print(f"{key:<18} {figures[key]:.4f}")
    for reason, rate in figures["guardrail_rates"].items():
        console.print(f"  blocked {reason:<11} {rate:.4f}")


@content_app.command("variants")
def variants_command(
    state: Annotated[Path, typer.Option("--state", help="The edge node's state directory.")],
    out: Annotated[Path, typer.Option("--out", help="CSV of resolved variant choices.")],
    policy_out: Annotated[
        Path | None,
        typer.Option(
            "--policy-out",
            help="Also write the logging policy's probability of every phrasing (a target CSV).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the row count as JSON.")] = False,
) -> None:
    """Export a node's copy-variant log for 'edgemark measure ope' (action, reward, propensity)."""
    with handled_errors():
        from edgemark.edge import export_variant_log

        rows = export_variant_log(state, out, policy_out=policy_out)
    if as_json:
        print_json({"rows": rows, "out": str(out)})
        return
    console.print(
        f"Wrote {rows} variant choices to {out}; evaluate with: edgemark measure ope "
        f"--logs {out} --action action --reward reward --propensity propensity --target ..."
    )


def register(app: typer.Typer) -> None:
    """Add the ``content`` verbs to ``app``."""
    content_app.add_typer(pack_app, name="pack")
    app.add_typer(content_app, name="content")
