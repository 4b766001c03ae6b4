"""The incremental near-duplicate index against the rule it replaces, written
out pair by pair: for every order the items arrive in, the same duplicates,
pointing at the same items, for the same reasons. Then the limits: 30,000
copies of one fingerprint, and a search told to stop."""

from __future__ import annotations

import random
import threading

import pytest

from mis.v1 import filter_pb2
from services.filter.deduplication import run_deduplicate
from services.filter.fingerprints import Thresholds, similarity, tokens_of
from services.filter.near_duplicates import (IMAGE_REASON, TEXT_REASON, NearDuplicateIndex, Stopped,
                                             bands_for, chunk_masks, find_duplicates)

WORDS = "knife rope glass window bottle lighter crowbar fence chemical powder wire tape hammer".split()


def pairwise_rule(fingerprints: list[filter_pb2.Fingerprint], thresholds: Thresholds) -> list[tuple]:
    """The seed-order rule item by item against every earlier item: the first
    earlier text match, else the first earlier image match; groups chain to
    their first item."""
    tokens = [set(tokens_of(f.instruction_text)) for f in fingerprints]

    def image_near(a, b) -> bool:
        if not (a.image1_phash and b.image1_phash):
            return False
        limit = thresholds.max_image_distance
        a1, a2, b1, b2 = (int(h, 16) for h in (a.image1_phash, a.image2_phash, b.image1_phash, b.image2_phash))
        distance = lambda x, y: bin(x ^ y).count("1")  # noqa: E731
        return ((distance(a1, b1) <= limit and distance(a2, b2) <= limit)
                or (distance(a1, b2) <= limit and distance(a2, b1) <= limit))

    group_of: list[int] = []
    found = []
    for position, fingerprint in enumerate(fingerprints):
        match = None
        for earlier in range(position):
            score = similarity(tokens[position], tokens[earlier])
            if score >= thresholds.min_text_similarity:
                match = (earlier, TEXT_REASON.format(score=score))
                break
        if match is None:
            for earlier in range(position):
                if image_near(fingerprint, fingerprints[earlier]):
                    match = (earlier, IMAGE_REASON)
                    break
        group_of.append(position if match is None else group_of[match[0]])
        if match is not None:
            found.append((fingerprint.item_id, fingerprints[group_of[position]].item_id,
                          f"{match[1]} of {fingerprints[match[0]].item_id}"))
    return found


def flip_bits(value: int, rng: random.Random, count: int) -> int:
    for bit in rng.sample(range(64), count):
        value ^= 1 << bit
    return value


def a_run(rng: random.Random, count: int) -> list[filter_pb2.Fingerprint]:
    """Fingerprints with clusters: shared templates reworded by a word or two,
    re-encoded images a few bits off, swapped pairs, exact copies, items
    without image hashes and empty instructions."""
    texts = [" ".join(rng.sample(WORDS, rng.randint(3, 9))) for _ in range(count // 4 + 1)]
    images = [(rng.getrandbits(64), rng.getrandbits(64)) for _ in range(count // 4 + 1)]
    run = []
    for position in range(count):
        words = rng.choice(texts).split()
        if rng.random() < 0.5:
            words[rng.randrange(len(words))] = rng.choice(WORDS)
        if rng.random() < 0.2:
            words.append(rng.choice(WORDS))
        text = "" if rng.random() < 0.03 else " ".join(words)
        first, second = rng.choice(images)
        first, second = flip_bits(first, rng, rng.randint(0, 9)), flip_bits(second, rng, rng.randint(0, 9))
        if rng.random() < 0.3:
            first, second = second, first
        fingerprint = filter_pb2.Fingerprint(item_id=f"i{position}", instruction_text=text)
        if rng.random() < 0.9:
            fingerprint.image1_phash, fingerprint.image2_phash = f"{first:016x}", f"{second:016x}"
        run.append(fingerprint)
        if rng.random() < 0.1:
            copy = filter_pb2.Fingerprint()
            copy.CopyFrom(fingerprint)
            copy.item_id = f"i{position}-copy"
            run.append(copy)
    return run


def as_tuples(duplicates) -> list[tuple]:
    return [(d.item_id, d.duplicate_of, d.reason) for d in duplicates]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("thresholds", [Thresholds(6, 0.9), Thresholds(3, 0.6), Thresholds(0, 1.0),
                                        Thresholds(10, 0.3)])
def test_any_arrival_order_gives_the_pairwise_rules_answer(seed, thresholds):
    rng = random.Random(seed)
    run = a_run(rng, 160)
    expected = pairwise_rule(run, thresholds)
    assert expected, "the generated run has near-duplicates to find"
    assert as_tuples(find_duplicates(run, thresholds)) == expected
    for _ in range(3):
        arrival = list(enumerate(run))
        rng.shuffle(arrival)
        index = NearDuplicateIndex(thresholds)
        for order, fingerprint in arrival:
            index.add(order, fingerprint.item_id, fingerprint)
        assert as_tuples(index.duplicates()) == expected


def test_an_earlier_item_arriving_last_takes_its_groups_lead():
    thresholds = Thresholds()
    fingerprints = [filter_pb2.Fingerprint(item_id=name, instruction_text="cut the rope with the knife")
                    for name in "abc"]
    index = NearDuplicateIndex(thresholds)
    index.add(2, "c", fingerprints[2])
    index.add(1, "b", fingerprints[1])
    assert [(d.item_id, d.duplicate_of) for d in index.duplicates()] == [("c", "b")]
    index.add(0, "a", fingerprints[0])
    assert [(d.item_id, d.duplicate_of) for d in index.duplicates()] == [("b", "a"), ("c", "a")]


def test_banding_misses_a_pair_at_the_threshold_rarely_and_chunks_cover_every_bit():
    for threshold in (0.5, 0.75, 0.9, 0.95):
        bands, rows = bands_for(threshold)
        assert (1 - threshold ** rows) ** bands <= 1e-6
        assert bands * rows <= 128
    assert bands_for(0.1) is None  # no banding is safe: every group is compared
    for distance in (0, 1, 6, 20, 63, 64):
        masks = chunk_masks(distance)
        assert len(masks) == min(distance + 1, 64)
        covered = 0
        for shift, mask in masks:
            assert covered & (mask << shift) == 0
            covered |= mask << shift
        assert covered == (1 << 64) - 1


def test_thirty_thousand_copies_of_one_fingerprint_are_one_group():
    copy = dict(instruction_text="pour the chemical into the bottle",
                image1_phash="0123456789abcdef", image2_phash="fedcba9876543210")
    request = filter_pb2.DeduplicateRequest(
        fingerprints=[filter_pb2.Fingerprint(item_id=f"c{n}", **copy) for n in range(30_000)])
    asked = 0

    def should_stop() -> bool:
        nonlocal asked
        asked += 1
        return False
    response = run_deduplicate(request, Thresholds(), 200_000, should_stop)
    assert len(response.duplicates) == 29_999
    assert {d.duplicate_of for d in response.duplicates} == {"c0"}
    assert asked >= 30_000  # the stop flag is looked at for every item


def test_a_search_told_to_stop_stops_before_the_end():
    rng = random.Random(5)
    run = a_run(rng, 400)
    stop = threading.Event()
    index = NearDuplicateIndex(Thresholds(), stop.is_set)
    for order, fingerprint in enumerate(run[:100]):
        index.add(order, fingerprint.item_id, fingerprint)
    stop.set()
    with pytest.raises(Stopped):
        for order, fingerprint in enumerate(run[100:], start=100):
            index.add(order, fingerprint.item_id, fingerprint)
    assert len(index) == 100
