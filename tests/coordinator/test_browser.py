"""The dataset browser in headless Chromium, driven over the DevTools protocol.

At real size: a 6k-sample dataset with 12k images (written by the export's
own writers) opens on its first page with only that page's <img> elements,
thumbnails load lazily, paging and filters work across all 6000 samples.
On a real run: every sample's provenance (models, prompt versions, seeds,
the T2I rounds with both prompts, the reviewer's verdict), the left-out
samples with why and their images, and the dataset card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.coordinator.browser import DEFAULT_PAGE_SIZE, write_browser
from tests.coordinator.published import REJECT_NOTE, publish_reviewed_run
from tests.support.chromium import CHROMIUM, Page
from tests.support.synthetic_dataset import SUB_CATEGORIES, write_synthetic_dataset

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (make setup-browser)")

SAMPLES, LEFT_OUT = 6000, 30

IDS = "Array.from(document.querySelectorAll('#samples .sample'), a => a.dataset.id)"
# Resolves with the natural width of an image once it has loaded (or -1 if it failed).
LOADED = """(image => new Promise(done => {
  if (image.complete && image.naturalWidth) return done(image.naturalWidth);
  image.addEventListener('load', () => done(image.naturalWidth));
  image.addEventListener('error', () => done(-1));
}))"""


@pytest.fixture(scope="module")
def large_dataset(tmp_path_factory) -> Path:
    root = write_synthetic_dataset(tmp_path_factory.mktemp("large") / "dataset", SAMPLES, LEFT_OUT)
    return write_browser(root)


@pytest.fixture
def page(tmp_path):
    with Page(tmp_path / "chromium") as opened:
        yield opened


def test_a_6k_sample_dataset_opens_on_its_first_page_with_a_page_of_images(large_dataset, page):
    assert sum(1 for _ in (large_dataset.parent).rglob("object*.png")) >= 2 * SAMPLES
    page.open(large_dataset.as_uri())
    assert page.run("document.getElementById('shown').textContent") == f"{SAMPLES} of {SAMPLES} shown"
    assert page.run(IDS) == [f"s{n:06d}" for n in range(DEFAULT_PAGE_SIZE)]
    # Only a page of samples and a page of left-out samples have <img> elements, all lazy.
    assert page.run("document.images.length") == 2 * (DEFAULT_PAGE_SIZE + LEFT_OUT)
    assert page.run("Array.from(document.images).every(i => i.loading === 'lazy')")
    assert page.run("document.querySelector('#samples-pager .page').textContent") == \
        f"page 1 of {SAMPLES // DEFAULT_PAGE_SIZE}"
    # The first thumbnail loads; the last one, far below the fold, waits until it is scrolled to.
    assert page.run(f"{LOADED}(document.images[0])") == 48
    assert page.run("document.images[document.images.length - 1].naturalWidth") == 0
    page.run("document.images[document.images.length - 1].scrollIntoView()")
    assert page.run(f"{LOADED}(document.images[document.images.length - 1])") == 48


def test_paging_and_filters_reach_every_sample(large_dataset, page):
    last = SAMPLES // DEFAULT_PAGE_SIZE
    page.open(large_dataset.as_uri())
    page.run("document.querySelector('#samples-pager button[data-to]').click()")
    assert page.run(IDS) == [f"s{n:06d}" for n in range(DEFAULT_PAGE_SIZE, 2 * DEFAULT_PAGE_SIZE)]
    assert page.run(f"goTo({last})") == last
    assert page.run(IDS)[-1] == f"s{SAMPLES - 1:06d}"
    assert page.run("document.querySelector('#samples-pager button:last-child').disabled")
    assert page.run("document.images.length") == 2 * (DEFAULT_PAGE_SIZE + LEFT_OUT)
    # A page and its size from the query string.
    page.open(large_dataset.as_uri() + "?page=3&size=10")
    assert page.run(IDS) == [f"s{n:06d}" for n in range(20, 30)]
    # Search and the sub-category filter run over all 6000, not the page.
    page.open(large_dataset.as_uri() + "?q=case%204321")
    assert page.run(IDS) == ["s004321"]
    category, sub = SUB_CATEGORIES[2]
    page.open(large_dataset.as_uri() + "?sub=" + sub.replace(" ", "%20"))
    shown = SAMPLES // len(SUB_CATEGORIES)
    assert page.run("document.getElementById('shown').textContent") == f"{shown} of {SAMPLES} shown"
    assert page.run(f"{IDS}.length") == DEFAULT_PAGE_SIZE
    assert page.run("Array.from(document.querySelectorAll('#samples .sample'), a => a.dataset.sub)") == \
        [sub] * DEFAULT_PAGE_SIZE


@pytest.fixture
async def reviewed(stages, store, tmp_path):
    published = await publish_reviewed_run(stages, store, tmp_path / "dataset")
    return published, write_browser(published.folder)


async def test_provenance_left_out_samples_and_the_card_are_shown(reviewed, page):
    published, browser = reviewed
    page.open(browser.as_uri())
    accepted = f"document.querySelector('.sample[data-id=\"{published.accepted_id}\"]')"
    provenance = page.run(f"{accepted}.querySelector('.provenance').textContent")
    for model in ("offline-lexicon-v1", "placeholder-v1", "cot-offline-v1"):
        assert model in provenance
    for version in ("extract-v1", "detox-v2", "t2i-review-v1", "label-text-v1"):
        assert version in provenance
    assert "reviewer's decision: accept" in provenance and '"temperature"' in provenance
    rounds = page.run(f"""Array.from({accepted}.querySelectorAll('.provenance table:last-of-type tr'),
                                    tr => Array.from(tr.cells, c => c.textContent))""")
    header, first, *later = rounds
    assert header[:4] == ["round", "prompt 1", "prompt 2", "seeds"]
    assert first[0] == "0" and first[1] and first[2] and " / " in first[3]
    final = later[-1] if later else first
    assert page.run(f"{accepted}.querySelector('.pair img').alt") == f"image 1 of {published.accepted_id}"
    samples = {row["id"]: row for row in map(json.loads, (published.folder / "samples.jsonl").read_text().splitlines())}
    assert (final[1], final[2]) == (samples[published.accepted_id]["prompt1"],
                                    samples[published.accepted_id]["prompt2"])
    assert page.run(f"{accepted}.querySelector('.verdict-accepted').textContent") == "review: accepted"
    # The left-out samples: the reviewer's rejection and the near-duplicates, with why and their images.
    left_out = page.run("""Array.from(document.querySelectorAll('#rejected .rejected-item'),
                                      a => [a.dataset.id, a.querySelector('.kind').textContent, a.textContent])""")
    kinds = {sample_id: kind for sample_id, kind, _ in left_out}
    assert kinds[published.rejected_id] == "reviewer"
    rejected_text = next(text for sample_id, _, text in left_out if sample_id == published.rejected_id)
    assert "REJECTION_REASON_REVIEWER" in rejected_text and REJECT_NOTE in rejected_text
    for duplicate in published.result["duplicates"]:
        assert kinds[duplicate["id"]] == "near-duplicate"
    # A near-duplicate links to the sample it repeats, which the dataset kept.
    duplicate = published.result["duplicates"][0]
    link = page.run(f"document.querySelector('.rejected-item[data-id=\"{duplicate['id']}\"] a.original').href")
    page.open(link)
    assert page.run(IDS) == [duplicate["duplicate_of"]]
    page.open(browser.as_uri())
    page.run("document.querySelector('#rejected .rejected-item .pair img').scrollIntoView()")
    assert page.run(f"{LOADED}(document.querySelector('#rejected .rejected-item .pair img'))") == 64
    # Filtering by kind.
    page.open(browser.as_uri() + "?kind=reviewer")
    assert page.run("Array.from(document.querySelectorAll('#rejected .rejected-item'), a => a.dataset.id)") == \
        [published.rejected_id]
    # The dataset card.
    card = page.run("document.getElementById('card').textContent")
    assert "Content warning." in card and "Per stage" in card and "Run configuration" in card
    assert page.run("document.querySelectorAll('#card table').length") >= 4
    assert "config_name" not in card  # the front matter is for the Hub, not the reader


def test_each_provenance_list_is_shown_as_its_stage_declares_it(tmp_path, page, monkeypatch):
    """The retrieve stage's photos and a list of a stage the browser has never
    heard of are laid out from their declarations, without an edit of the page."""
    from services.coordinator import browser
    from services.coordinator.stages import provenance_lists
    from services.coordinator.stages.base import ProvenanceList
    checks = ProvenanceList("checks", (("checker", str), ("passed", bool), ("score", float)),
                            title="safety checks", columns=(("who", ("checker",)),
                                                            ("passed / score", ("passed", "score"))))
    monkeypatch.setattr(browser, "provenance_lists", lambda: (*provenance_lists(), checks))
    photo = {"object": 1, "index": "coco", "corpus": "coco-2017", "item_id": "000042", "url": "",
             "caption": "a kitchen knife", "score": 0.5, "rank": 0, "shows_object": True,
             "check_reason": "", "checker": "vlm"}
    row = {"id": "real-1", "split": "real", "instruction": "compare them", "image_path1": "", "image_path2": "",
           "provenance": {"models": [], "review": {}, "photos": [photo],
                          "checks": [{"checker": "guard", "passed": False, "score": 0.25}]}}
    root = tmp_path / "dataset"
    root.mkdir()
    (root / "samples.jsonl").write_text(json.dumps(row) + "\n")
    page.open(write_browser(root).as_uri())
    page.run("document.querySelector('.provenance').open = true")
    tables = page.run("""Array.from(document.querySelectorAll('.provenance table'), t =>
        [t.previousElementSibling.textContent, Array.from(t.rows, r => Array.from(r.cells, c => c.textContent))])""")
    assert tables == [
        ["retrieved photos", [["object", "index / corpus / item", "url", "caption", "score / rank",
                               "shows the object / checker", "why"],
                              ["1", "coco / coco-2017 / 000042", "", "a kitchen knife", "0.5 / 0",
                               "true / vlm", ""]]],
        ["safety checks", [["who", "passed / score"], ["guard", "false / 0.25"]]]]
