"""The review page: one self-contained HTML file beside the sheet, with both
images of every sample (the sheet's presigned links), accept and reject
buttons and a note per sample. It builds the decisions file in the browser
(JSONL: item_id, decision, note, the format `mis review import` reads), shown
in a text box and offered as a download; nothing is sent anywhere. Decisions
already given come pre-selected."""

from __future__ import annotations

import html
import json

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2433}
header{background:#1d2433;color:#fff;padding:12px 20px;position:sticky;top:0}
header h1{font-size:18px;margin:0 0 6px}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:14px;padding:16px 20px}
.item{background:#fff;border:1px solid #d8dbe2;border-radius:6px;padding:10px}
.item.accept{border-color:#3c9d5d}.item.reject{border-color:#c0392b;background:#fdf3f2}
.pair{display:flex;gap:6px}.pair img{width:50%;aspect-ratio:1;object-fit:cover;background:#e9ecf1}
.instruction{font-weight:600;margin:6px 0}.muted{color:#6b7385;font-size:12px}
.actions{display:flex;gap:6px;margin-top:6px}.actions input{flex:1}
textarea{width:100%;height:90px;font-family:monospace;font-size:11px}
"""

_SCRIPT = """
const rows = JSON.parse(document.getElementById('rows-data').textContent);
const state = {};
for (const row of rows) state[row.item_id] = {decision: row.decision || '', note: row.note || ''};
function lines() {
  return rows.filter(r => state[r.item_id].decision)
             .map(r => JSON.stringify({item_id: r.item_id, decision: state[r.item_id].decision,
                                       note: state[r.item_id].note})).join('\\n') + '\\n';
}
function refresh() {
  let decided = 0;
  for (const item of document.querySelectorAll('.item')) {
    const s = state[item.dataset.id];
    item.classList.toggle('accept', s.decision === 'accept');
    item.classList.toggle('reject', s.decision === 'reject');
    if (s.decision) decided += 1;
  }
  document.getElementById('decided').textContent = decided + ' of ' + rows.length + ' decided';
  document.getElementById('decisions').value = decided ? lines() : '';
}
for (const item of document.querySelectorAll('.item')) {
  const s = state[item.dataset.id];
  item.querySelector('.note').value = s.note;
  for (const button of item.querySelectorAll('button[data-decision]')) {
    button.addEventListener('click', () => { s.decision = button.dataset.decision; refresh(); });
  }
  item.querySelector('.note').addEventListener('input', e => { s.note = e.target.value; refresh(); });
}
document.getElementById('download').addEventListener('click', () => {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([lines()], {type: 'application/x-ndjson'}));
  link.download = document.body.dataset.file;
  link.click();
});
refresh();
"""


def _item_html(row: dict) -> str:
    e = html.escape
    return (
        f'<article class="item" data-id="{e(row["item_id"])}">'
        f'<div class="pair"><img src="{e(row["image1_url"])}" alt="image 1 of {e(row["item_id"])}" loading="lazy">'
        f'<img src="{e(row["image2_url"])}" alt="image 2 of {e(row["item_id"])}" loading="lazy"></div>'
        f'<div class="instruction">{e(row["instruction"])}</div>'
        f'<div class="muted">{e(row["split"])} · {e(row["category"])} / {e(row["sub_category"])} · '
        f'{e(row["item_id"])}</div><div class="muted">harmful query: {e(row["harmful_query"])}</div>'
        f'<div class="actions"><button data-decision="accept">accept</button>'
        f'<button data-decision="reject">reject</button>'
        f'<input class="note" placeholder="reason (a rejection\'s note)"></div></article>')


def render_review_page(run_id: str, rows: list[dict], link_ttl_seconds: int) -> str:
    """The page for `rows` (the sheet's JSONL rows) of run `run_id`."""
    e = html.escape
    data = json.dumps(rows, ensure_ascii=False).replace("</", "<\\/")
    file_name = f"decisions-{run_id}.jsonl"
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>review {e(run_id)}</title><style>{_STYLE}</style></head>"
        f"<body data-file=\"{e(file_name)}\"><header><h1>Review of run {e(run_id)}</h1>"
        f"<span id=\"decided\"></span> · image links valid {link_ttl_seconds} s from export · "
        f"<button id=\"download\">download {e(file_name)}</button> then "
        f"<code>mis review import {e(run_id)} {e(file_name)}</code>"
        f"<textarea id=\"decisions\" readonly></textarea></header>"
        f"<main>{''.join(_item_html(r) for r in rows)}</main>"
        f"<script type=\"application/json\" id=\"rows-data\">{data}</script>"
        f"<script>{_SCRIPT}</script></body></html>")
