"""The dataset browser: one static, self-contained HTML file written into an
exported dataset folder. It shows every image pair with its instruction,
category, split, filter reason and CoT label, filters by split and category,
and counts what is shown. Images are referenced relatively, so the folder can
be copied or served as is; no server and no network are needed."""

from __future__ import annotations

import html
import json
from pathlib import Path

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2433}
header{background:#1d2433;color:#fff;padding:12px 20px}
header h1{font-size:20px;margin:0 0 4px}
.counts{font-size:13px;opacity:.85}
.controls{padding:10px 20px;background:#fff;border-bottom:1px solid #d8dbe2;display:flex;gap:16px;align-items:center}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:14px;padding:16px 20px}
.sample{background:#fff;border:1px solid #d8dbe2;border-radius:6px;padding:10px}
.pair{display:flex;gap:6px}
.pair img{width:50%;aspect-ratio:1;object-fit:cover;border-radius:4px;background:#e9ecf1}
.tags{margin:6px 0;font-size:12px}
.tag{display:inline-block;padding:1px 6px;border-radius:8px;background:#e7ecf7;margin-right:4px}
.split-train{background:#dff3e4}.split-easy{background:#fdf1d6}.split-hard{background:#f9dcdc}
.instruction{font-weight:600;margin:4px 0}
details{font-size:12px;margin-top:4px}
.muted{color:#6b7385;font-size:12px}
"""

_SCRIPT = """
const samples = JSON.parse(document.getElementById('samples-data').textContent);
const splitSel = document.getElementById('split');
const catSel = document.getElementById('category');
function apply() {
  let shown = 0;
  for (const card of document.querySelectorAll('.sample')) {
    const ok = (!splitSel.value || card.dataset.split === splitSel.value) &&
               (!catSel.value || card.dataset.category === catSel.value);
    card.style.display = ok ? '' : 'none';
    if (ok) shown += 1;
  }
  document.getElementById('shown').textContent = shown + ' of ' + samples.length + ' shown';
}
splitSel.addEventListener('change', apply);
catSel.addEventListener('change', apply);
apply();
"""


def _sample_html(row: dict) -> str:
    e = html.escape
    reason = f"<details><summary>filter reason</summary>{e(row.get('filter_reason', ''))}</details>" \
        if row.get("filter_reason") else ""
    cot = f"<details><summary>CoT label</summary>{e(row.get('cot_label', ''))}</details>" \
        if row.get("cot_label") else ""
    return (
        f'<article class="sample" data-id="{e(row["id"])}" data-split="{e(row["split"])}" '
        f'data-category="{e(row["category"])}">'
        f'<div class="pair"><img src="{e(row["image_path1"])}" alt="image 1 of {e(row["id"])}">'
        f'<img src="{e(row["image_path2"])}" alt="image 2 of {e(row["id"])}"></div>'
        f'<div class="tags"><span class="tag split-{e(row["split"])}">{e(row["split"])}</span>'
        f'<span class="tag">{e(row["category"])}</span><span class="tag">{e(row["sub_category"])}</span></div>'
        f'<div class="instruction">{e(row["instruction"])}</div>'
        f'<div class="muted">{e(row["id"])}</div>{reason}{cot}</article>')


def render_browser(rows: list[dict], card: dict) -> str:
    e = html.escape
    splits = sorted({r["split"] for r in rows})
    categories = sorted({r["category"] for r in rows})
    per_split = ", ".join(f"{s}: {sum(1 for r in rows if r['split'] == s)}" for s in splits)
    options = lambda values: "".join(f'<option value="{e(v)}">{e(v)}</option>' for v in values)  # noqa: E731
    data = json.dumps([{"id": r["id"], "split": r["split"], "category": r["category"]}
                       for r in rows]).replace("</", "<\\/")
    title = f"{card.get('name', 'MIS dataset')} {card.get('version', '')}".strip()
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{e(title)}</h1><div class=\"counts\" id=\"counts\">{len(rows)} samples "
        f"({e(per_split)})</div></header>"
        f"<div class=\"controls\"><label>split <select id=\"split\"><option value=\"\">all</option>"
        f"{options(splits)}</select></label><label>category <select id=\"category\">"
        f"<option value=\"\">all</option>{options(categories)}</select></label>"
        f"<span id=\"shown\" class=\"muted\"></span></div>"
        f"<main id=\"samples\">{''.join(_sample_html(r) for r in rows)}</main>"
        f"<script type=\"application/json\" id=\"samples-data\">{data}</script>"
        f"<script>{_SCRIPT}</script></body></html>")


def write_browser(dataset_root: Path, output: Path | None = None) -> Path:
    """Write browser.html for an exported dataset folder; return its path."""
    root = Path(dataset_root)
    rows = [json.loads(line) for line in (root / "samples.jsonl").read_text().splitlines() if line.strip()]
    card_path = root / "card.json"
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    target = output or root / "browser.html"
    if target.parent.resolve() != root.resolve():
        # Image paths are relative to the dataset root: rebase them for another folder.
        import os
        prefix = os.path.relpath(root.resolve(), target.parent.resolve())
        rows = [{**r, "image_path1": f"{prefix}/{r['image_path1']}",
                 "image_path2": f"{prefix}/{r['image_path2']}"} for r in rows]
    target.write_text(render_browser(rows, card))
    return target
