"""Issue 17: "Step to next promotion" stops at every promotion event, the promotion log says who
was promoted against which cutoff, and the labels stay readable (data level; the browser side
is in tests/browser/test_promotion_browser.py)."""

from __future__ import annotations

import re

import pytest

from asha_nb.viz.lesson import LABELLED_CLIMBS, promotion_log
from asha_nb.widgets import PromotionView


@pytest.fixture(scope="module")
def view():
    return PromotionView(n_configs=64, reduction_factor=4, n_workers=10)


def test_stepping_visits_every_promotion_and_rests_on_it(view):
    """From t = 0, each step lands on the next promotion time: none skipped (the old step
    played 1.95 s past each one and skipped those in between), and at rest the frame's "last
    promotion" counter names the promotion stepped to."""
    t, visited = 0.0, []
    while (nxt := view.next_promotion(t)) is not None:
        visited.append(nxt)
        t = nxt
        texts = view.counter_texts(t)
        named = [texts[s]["promotion"] for s in view.schedulers
                 if any(p["time"] == t for p in view.promotions[s])]
        assert named and all(n.endswith(f"at t = {t:.1f}") for n in named), (t, texts)
    assert visited == view.promotion_times
    assert visited[:5] == [1.0, 2.0, 3.0, 5.0, 6.0]  # t = 2 and 4-ish are not skipped
    assert view._player_state()["promotions"] == visited


@pytest.mark.parametrize("stragglers", [0.0, 0.2])
def test_every_promotion_beat_the_cutoff_it_was_decided_against(stragglers):
    v = PromotionView(n_configs=64, reduction_factor=4, n_workers=10,
                      straggler_probability=stragglers)
    assert len(v.log) == sum(len(p) for p in v.promotions.values())
    for p in v.log:
        assert p["cutoff"] is not None and p["n_results"] >= 4
        assert p["value"] >= p["cutoff"], p  # mode max: in the top 1/eta
        assert p["time"] in v.promotion_times
    sha = [p for p in v.log if p["scheduler"] == "SHA"]
    # SHA decides at the barrier on the whole rung: 64 results -> 16, 16 -> 4, 4 -> 1
    assert sorted({(p["from_rung"], p["n_results"]) for p in sha}) == [(0, 64), (1, 16), (2, 4)]
    assert [sum(p["from_rung"] == k for p in sha) for k in range(3)] == [16, 4, 1]
    # the promoted are the best of their rung: the cutoff is the 16th best value of rung 0
    rung0 = sorted((r["value"] for r in v.jobs["SHA"] if r["rung"] == 0), reverse=True)
    assert {p["cutoff"] for p in sha if p["from_rung"] == 0} == {rung0[15]}
    log = v._player_state()["log"]
    assert [(q["scheduler"], q["time"], q["trial_id"]) for q in log] == [
        (p["scheduler"], p["time"], p["trial_id"]) for p in v.log]


def test_asha_cutoff_counts_only_results_recorded_before_the_worker_asked():
    """Two results end at t = 1 on workers 0 and 1 (eta 2): worker 0 asks first, with one
    result: no cutoff yet, nothing to promote; worker 1 asks with both: the better one climbs
    against a cutoff of itself (top 1 of 2)."""
    rows = [
        {"trial_id": 0, "rung": 0, "worker": 0, "start": 0.0, "end": 1.0, "value": 0.2,
         "promo": 0.0, "climb": False},
        {"trial_id": 1, "rung": 0, "worker": 1, "start": 0.0, "end": 1.0, "value": 0.9,
         "promo": 0.0, "climb": False},
        {"trial_id": 1, "rung": 1, "worker": 1, "start": 1.0, "end": 3.0, "value": 0.95,
         "promo": 1.0, "climb": True},
    ]
    (p,) = promotion_log(rows, reduction_factor=2)
    assert (p["trial_id"], p["n_results"], p["value"], p["cutoff"]) == (1, 2, 0.9, 0.9)
    rows[2]["worker"] = 0  # had worker 0 asked, only its own result was there
    (p,) = promotion_log(rows, reduction_factor=2)
    assert (p["n_results"], p["cutoff"]) == (1, None)


def _texts(svg: str, mark: str) -> list[str]:
    out = []
    for block in re.findall(rf'class="(?:[^"]* )?{mark}"([^>]*?/>|.*?</g>)', svg, re.S):
        out += re.findall(r"<text[^>]*>([^<]*)</text>", block)
    return out


def test_a_barrier_s_block_of_climbs_gets_one_label_not_a_blob(view, tmp_path):
    """At SHA's first barrier 16 marks climb at once: one "16 promoted" label instead of 16
    overlapping "#id" labels; ASHA's few climbs keep their ids."""
    t = 7.0 + view.tween / 2
    svg = view.save(tmp_path / "barrier.svg", time=t).read_text()
    assert _texts(svg, "SHA_shelves_climbcount_marks") == [
        "16 promoted \u2191 (ids in the log)"]
    sha_ids = [x for m in ("SHA_shelves_climbtext0_marks", "SHA_shelves_climbtext1_marks")
               for x in _texts(svg, m)]
    assert sha_ids == []
    asha_ids = [x for m in ("ASHA_shelves_climbtext0_marks", "ASHA_shelves_climbtext1_marks")
                for x in _texts(svg, m)]
    climbing = [r for r in view.jobs["ASHA"]
                if r["climb"] and r["promo"] <= t < r["promo"] + view.tween]
    assert 0 < len(asha_ids) == len(climbing) <= 2 * LABELLED_CLIMBS
    assert sorted(asha_ids) == sorted(f"#{r['trial_id']}" for r in climbing)


def test_tooltip_and_settings_line(view):
    """The dot tooltip never says "null"; the settings line follows the theme's text colour
    (it was #444, 1.9:1 on JupyterLab Dark's #111)."""
    spec = view.chart()
    text = repr(spec)
    assert "'field': 'promoted_at', 'type': 'nominal'" in text
    assert "'not (yet)'" in text and "promoted_at': 'datum.out < 1e11 ? datum.out : null'" \
        not in text
    head = view.header_html()
    assert "color:#444" not in head and "var(--jp-content-font-color1" in head


def test_idle_labels_do_not_stack_at_40_workers(tmp_path):
    """40 workers give 7 px lanes: the "idle" labels (11 px of text) go on every other lane,
    so no two overlap (they used to stack into a solid column)."""
    v = PromotionView(n_configs=64, reduction_factor=4, n_workers=40)
    svg = v.save(tmp_path / "idle40.svg", time=v.horizon * 0.6).read_text()
    block = re.search(r'class="(?:[^"]* )?SHA_lanes_idletext_marks"(.*?)</g>', svg, re.S)
    pos = [(float(x), float(y)) for x, y in re.findall(
        r'<text[^>]*transform="translate\(([-\d.]+),([-\d.]+)\)"[^>]*>idle</text>',
        block.group(1))]
    assert len(pos) >= 10
    for i, (x1, y1) in enumerate(pos):
        for x2, y2 in pos[i + 1:]:
            assert abs(y1 - y2) >= 11 or abs(x1 - x2) >= 26, ((x1, y1), (x2, y2))


def test_gif_frames_carry_the_title_and_settings(view, monkeypatch):
    import vl_convert as vlc

    from asha_nb.widgets.promotion import TITLE

    seen = []
    real = vlc.vega_to_svg  # each frame's picture (asha_nb.viz.export.render_frames)

    def spy(spec, *a, **kw):
        seen.append(spec.get("title"))
        return real(spec, *a, **kw)

    monkeypatch.setattr(vlc, "vega_to_svg", spy)
    view.to_gif(n_frames=2)
    assert len(seen) == 2
    assert all(t["text"] == TITLE and t["subtitle"] == view._settings_text() for t in seen)
