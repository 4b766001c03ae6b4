"""The dataset browser: one static, self-contained HTML file written into an
exported dataset folder. It shows every image pair with its instruction,
category, split, filter reason, CoT label and review verdict, filters by
text, split, category and sub-category (also from the page's query string,
`browser.html?q=knife&sub=...`, so a filtered view can be linked), counts what
is shown, and lists the samples reviewers rejected with their reasons. Images are referenced relatively, so the folder can
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
.verdict-accepted{background:#cdeed6}
#rejected{padding:0 20px 20px}#rejected li{margin:6px 0}
.controls input{width:220px}
"""

_SCRIPT = """
const samples = JSON.parse(document.getElementById('samples-data').textContent);
const controls = {q: 'q', split: 'split', category: 'category', sub: 'sub'};
const params = new URLSearchParams(location.search);
for (const [param, id] of Object.entries(controls)) {
  if (params.has(param)) document.getElementById(id).value = params.get(param);
}
function matches(item) {
  const q = document.getElementById('q').value.trim().toLowerCase();
  const want = (id, value) => !document.getElementById(id).value || value === document.getElementById(id).value;
  return (!q || item.dataset.text.includes(q)) && want('split', item.dataset.split) &&
         want('category', item.dataset.category) && want('sub', item.dataset.sub);
}
function apply() {
  let shown = 0;
  for (const item of document.querySelectorAll('.sample, .rejected-item')) {
    const ok = matches(item);
    item.style.display = ok ? '' : 'none';
    if (ok && item.classList.contains('sample')) shown += 1;
  }
  document.getElementById('shown').textContent = shown + ' of ' + samples.length + ' shown';
}
for (const id of Object.values(controls)) {
  document.getElementById(id).addEventListener('input', apply);
}
apply();
"""


def _filter_attrs(row: dict) -> str:
    """The data attributes the page's filters read."""
    e = html.escape
    text = " ".join(str(row.get(k, "")) for k in ("id", "instruction", "category", "sub_category",
                                                  "harmful_query", "note")).lower()
    return (f'data-id="{e(row["id"])}" data-split="{e(row.get("split", ""))}" '
            f'data-category="{e(row.get("category", ""))}" data-sub="{e(row.get("sub_category", ""))}" '
            f'data-text="{e(text)}"')


def _rejected_html(rejections: list[dict]) -> str:
    if not rejections:
        return ""
    e = html.escape
    items = "".join(
        f'<li class="rejected-item" {_filter_attrs(r)}><b>{e(r["id"])}</b> '
        f'<span class="tag">{e(r.get("split", ""))}</span><span class="tag">{e(r.get("category", ""))}</span>'
        f'<span class="tag">{e(r.get("sub_category", ""))}</span> {e(r.get("instruction", ""))}'
        f'<div class="muted">{e(r["reason"])}: <span class="note">{e(r.get("note") or "no note")}</span></div></li>'
        for r in rejections)
    return f'<section id="rejected"><h2>Rejected by reviewers ({len(rejections)})</h2><ul>{items}</ul></section>'


def _sample_html(row: dict, verdict: str = "") -> str:
    e = html.escape
    reason = f"<details><summary>filter reason</summary>{e(row.get('filter_reason', ''))}</details>" \
        if row.get("filter_reason") else ""
    cot = f"<details><summary>CoT label</summary>{e(row.get('cot_label', ''))}</details>" \
        if row.get("cot_label") else ""
    return (
        f'<article class="sample" {_filter_attrs(row)}>'
        f'<div class="pair"><img src="{e(row["image_path1"])}" alt="image 1 of {e(row["id"])}">'
        f'<img src="{e(row["image_path2"])}" alt="image 2 of {e(row["id"])}"></div>'
        f'<div class="tags"><span class="tag split-{e(row["split"])}">{e(row["split"])}</span>'
        f'<span class="tag">{e(row["category"])}</span><span class="tag">{e(row["sub_category"])}</span>'
        + (f'<span class="tag verdict-{e(verdict)}">review: {e(verdict)}</span>' if verdict else "")
        + '</div>'
        f'<div class="instruction">{e(row["instruction"])}</div>'
        f'<div class="muted">{e(row["id"])}</div>{reason}{cot}</article>')


def render_browser(rows: list[dict], card: dict) -> str:
    e = html.escape
    splits = sorted({r["split"] for r in rows})
    categories = sorted({r["category"] for r in rows})
    review = card.get("review", {})
    rejections = review.get("rejections", [])
    subs = sorted({r["sub_category"] for r in rows} | {r.get("sub_category", "") for r in rejections} - {""})
    accepted = set(review.get("accepted", []))
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
        f"<div class=\"controls\"><label>search <input id=\"q\" type=\"search\" "
        f"placeholder=\"instruction, id, category\"></label><label>split <select id=\"split\"><option value=\"\">all</option>"
        f"{options(splits)}</select></label><label>category <select id=\"category\">"
        f"<option value=\"\">all</option>{options(categories)}</select></label>"
        f"<label>sub-category <select id=\"sub\"><option value=\"\">all</option>{options(subs)}"
        f"</select></label>"
        f"<span id=\"shown\" class=\"muted\"></span></div>"
        f"<main id=\"samples\">"
        f"{''.join(_sample_html(r, 'accepted' if r['id'] in accepted else '') for r in rows)}</main>"
        f"{_rejected_html(rejections)}"
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
