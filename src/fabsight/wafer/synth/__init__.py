"""Synthetic wafer maps with structured ground truth: the nine WM-811K classes and their mixtures.

    from fabsight.wafer.synth import generate
    for s in generate("edge ring with a scratch, 12% fail", n=4, seed=3):
        print(s.label, s.wafer.yield_, s.truth["patterns"][0]["width_dies"])

`generate(spec, n, seed)` follows a text spec (see `spec.parse_spec`);
`sample(pattern_names, rng)` draws one wafer with the given patterns;
`generate_grids` is the bulk path for training (parallel, same results);
`write_samples` writes .npz, .png and truth.jsonl. Sample `i` of seed `s`
depends only on (s, i) and what the spec means ("ring" and "edge ring"
give the same maps; "ring" and "donut" with one seed share nothing).

The truth of one wafer (JSON-ready; every count is counted from the grid):

* `label` ("Edge-Ring+Scratch", "none"), `classes`, `mixed`;
* `rows`, `cols`, `dies`, `fails`, `yield`, `fail_share`; `target_fail` (asked, or null) and
  `expected_fail` (what the drawn probabilities give); `die_aspect` (die height / width);
* `patterns`: one dict per pattern with `name`, what was drawn (see each function in
  `patterns.py`), and `dies` (its footprint), `fails` (failing dies in it), `density`
  (fails / dies) and `centroid` (of its failing dies);
* `background`: `density` (scattered fail probability), `edge_density` (extra on the
  outermost dies), `run_share`, `run_axis` and `fails` (failing dies outside every footprint).

Places are dicts with `row`, `col` (grid, fractional), `x`, `y` (wafer radii, x right, y up),
`radius` (0 centre, 1 wafer edge), `angle_deg` (counter-clockwise from 3 o'clock, as in
`wafer.stats`), `region` ("center", "top", "upper right", ...) and `zone` ("center",
"middle", "edge" at 0.4 and 0.8 of the radius). Radii and widths of shapes are in wafer
radii; `*_dies` values are in die pitches; angles in degrees.
"""

from fabsight.wafer.synth.generator import (
    TRUTH_FILE,
    Sample,
    generate,
    generate_grids,
    iter_samples,
    label_of,
    rng_for,
    sample,
    sample_at,
    write_samples,
)
from fabsight.wafer.synth.patterns import PATTERNS
from fabsight.wafer.synth.spec import CLASSES, MIXTURES, SYNONYMS, Spec, class_name, parse_spec

__all__ = ["CLASSES", "MIXTURES", "PATTERNS", "SYNONYMS", "TRUTH_FILE", "Sample", "Spec", "class_name", "generate",
           "generate_grids", "iter_samples", "label_of", "parse_spec", "rng_for", "sample", "sample_at",
           "write_samples"]
