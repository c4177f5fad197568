"""The frozen reading-exercise generators draw exactly the texts the shipped models trained on.

Each digest below is of ``pretraining_corpus(make_world(0), 3, n_copy_exercises=500)`` as the
generator's own commit drew it (version 2: 8fa5311, version 4: c67265d, version 5: a9fa286);
the full corpora of the recipes' stages (30,000 and 60,000 exercises, corpus seeds 0 to 2)
give those commits' digests too. A change to ``exercises_v2.py`` or ``exercises_v4.py``, or to
a world helper they draw with, breaks the recipes of the shipped models, and these tests.
"""

import hashlib

import pytest

from lm_envs.models.exercises import EXERCISE_VERSIONS, pretraining_corpus
from lm_envs.models.pretrain import load_recipes
from lm_envs.world import make_world

DIGESTS = {2: ("fa04dff7db29e479", 6570), 4: ("31e1aa269cd43a18", 6573), 5: ("8eecf8effea2a1be", 6573)}


@pytest.mark.parametrize("version", EXERCISE_VERSIONS)
def test_each_version_draws_its_commits_texts(version):
    texts = pretraining_corpus(make_world(0), 3, n_copy_exercises=500, exercise_version=version)
    assert (hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16], len(texts)) == DIGESTS[version]


def test_versions_differ_and_an_unknown_one_is_named():
    world = make_world(0)
    drawn = {v: pretraining_corpus(world, 0, n_copy_exercises=50, exercise_version=v) for v in EXERCISE_VERSIONS}
    assert len({tuple(t) for t in drawn.values()}) == len(EXERCISE_VERSIONS)
    with pytest.raises(ValueError, match="exercise_version must be one of"):
        pretraining_corpus(world, 0, n_copy_exercises=5, exercise_version=3)


def test_shipped_recipes_name_the_versions_their_weights_saw():
    versions = {name: [stage.get("exercise_version", 5) for stage in recipe["stages"] if stage.get("copy_exercises")]
                for name, recipe in load_recipes().items()}
    assert versions == {"tiny-shop": [2], "tiny-shop-reader": [4, 4, 5]}
