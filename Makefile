# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CLI := $(BIN)/ser-classic

.PHONY: run test lint data features evaluate deploy optimize seven benchmarks cheaper loco conditions clean-cache

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Re-installs only when pyproject.toml changes (quick when already installed).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev,bench]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .

# The main job end to end on the default data (about an hour on 2 cores).
run: $(STAMP) data features evaluate deploy optimize seven

HOLDOUT := ravdess_21,ravdess_22,ravdess_23,ravdess_24
TESS := ../shared/data/tess
RAVDESS := ../shared/data/ravdess

data: $(STAMP)
	$(CLI) data scan
	$(CLI) data stats

features: $(STAMP)
	$(CLI) features

# Speaker-grouped CV of every registry model, both protocols, selection -> reports/cv;
# the augmentation ablation on the same folds -> reports/cv (VTLP) and reports/cv_augment
evaluate: $(STAMP)
	$(CLI) evaluate --ablation vtlp --ablation-model ridge
	$(CLI) evaluate --protocol group6 --models ridge,logreg,linear --augment none \
		--ablation vtlp,masks,seed --ablation-model ridge --feature-sets '' \
		--out reports/cv_augment

# CV winner vs runner-up on TESS (strict and speaker-normalised) and on held-out RAVDESS
# actors; the A/B winners are the teachers models/teacher and models/teacher-speaker_norm.
deploy: $(STAMP)
	$(CLI) train --model @selected --out .cache/models/strict/A
	$(CLI) train --model @runner_up --out .cache/models/strict/B
	$(CLI) ab --a .cache/models/strict/A --b .cache/models/strict/B --data $(TESS) \
		--out reports/ab/tess --deploy-to models/teacher
	$(CLI) train --model @selected --protocol speaker_norm --out .cache/models/speaker_norm/A
	$(CLI) train --model @runner_up --protocol speaker_norm --out .cache/models/speaker_norm/B
	$(CLI) ab --a .cache/models/speaker_norm/A --b .cache/models/speaker_norm/B \
		--data $(TESS) --out reports/ab/tess_speaker_norm \
		--deploy-to models/teacher-speaker_norm
	$(CLI) train --model @selected --exclude-speakers $(HOLDOUT) --out .cache/models/holdout/A
	$(CLI) train --model @runner_up --exclude-speakers $(HOLDOUT) --out .cache/models/holdout/B
	$(CLI) ab --a .cache/models/holdout/A --b .cache/models/holdout/B --data $(RAVDESS) \
		--speakers $(HOLDOUT) --out reports/ab/ravdess_holdout

# Distil each teacher into a student reading only cheap features (fast) and compact ones
# (small: 340 inputs, int8), quantize them, benchmark every variant against its teacher on
# held-out RAVDESS speakers, and A/B the students against their teacher on TESS. Two compact
# students per teacher: one reads every group but the extended descriptors, the other also
# skips the spectral-shape group (about a quarter of the compact student's extraction time),
# for the discriminator's 200 clips/s. The deployed models (models/deployed,
# models/deployed-speaker_norm) are decided by two A/Bs, each keeping A (the incumbent)
# unless B wins on quality or, tied on quality, on speed: teacher vs compact student, then
# that winner vs the faster compact student.
optimize: $(STAMP)
	$(CLI) distill --teacher models/teacher --out models/optimized
	$(CLI) distill --teacher models/teacher --student compact_int8 \
		--out models/optimized-compact
	$(CLI) distill --teacher models/teacher-speaker_norm --student compact_int8 \
		--out models/optimized-compact-speaker_norm
	$(CLI) distill --teacher models/teacher --student compact_fast_int8 \
		--out models/optimized-compact-fast
	$(CLI) distill --teacher models/teacher-speaker_norm --student compact_fast_int8 \
		--out models/optimized-compact-fast-speaker_norm
	$(BIN)/python experiments/bench_optimization.py --teacher models/teacher
	$(BIN)/python experiments/bench_optimization.py --teacher models/teacher-speaker_norm \
		--out reports/optimization_speaker_norm --work .cache/optimization_speaker_norm
	$(CLI) ab --a models/teacher --b models/optimized --data $(TESS) \
		--out reports/ab/teacher_vs_optimized
	$(CLI) ab --a models/teacher --b models/optimized-compact --data $(TESS) \
		--out reports/ab/teacher_vs_compact --deploy-to models/deployed
	$(CLI) ab --a models/teacher-speaker_norm --b models/optimized-compact-speaker_norm \
		--data $(TESS) --out reports/ab/teacher_vs_compact_speaker_norm \
		--deploy-to models/deployed-speaker_norm
	$(CLI) ab --a models/deployed --b models/optimized-compact-fast --data $(TESS) \
		--out reports/ab/deployed_vs_compact_fast --deploy-to models/deployed
	$(CLI) ab --a models/deployed-speaker_norm --b models/optimized-compact-fast-speaker_norm \
		--data $(TESS) --out reports/ab/deployed_vs_compact_fast_speaker_norm \
		--deploy-to models/deployed-speaker_norm

# The 7 emotions RAVDESS shares with TESS (calm left out of training), for targets among
# them: each teacher's registry model and parameters, trained without calm, and its compact
# student; the deployed 7-emotion models are decided as the 8-emotion ones (teacher vs
# compact student on TESS). Then each 8-emotion deployed model against its 7-emotion
# counterpart on TESS (a report, not a deployment: the label sets differ), and, to separate
# new speakers from the new corpus, the compact students of 8- and 7-emotion teachers
# trained without actors 21-24 on those actors' clips of the 7 emotions. Last, the
# related-work report, which quotes the A/B winners.
# $(1) protocol, $(2) its teacher: compact students of 8- and 7-emotion teachers trained
# without the held-out actors, A/B-tested on those actors' clips of the 7 emotions
define HOLDOUT7
	$(CLI) train --model $(2) --protocol $(1) --exclude-speakers $(HOLDOUT) \
		--out .cache/models/holdout7/$(1)/teacher8
	$(CLI) train --model $(2) --protocol $(1) --exclude-speakers $(HOLDOUT) \
		--exclude-emotions calm --out .cache/models/holdout7/$(1)/teacher7
	$(CLI) distill --teacher .cache/models/holdout7/$(1)/teacher8 --student compact_int8 \
		--out .cache/models/holdout7/$(1)/compact8
	$(CLI) distill --teacher .cache/models/holdout7/$(1)/teacher7 --student compact_int8 \
		--out .cache/models/holdout7/$(1)/compact7
	$(CLI) ab --a .cache/models/holdout7/$(1)/compact8 \
		--b .cache/models/holdout7/$(1)/compact7 --data $(RAVDESS) --speakers $(HOLDOUT) \
		--exclude-emotions calm --out reports/ab/7emotions/ravdess_holdout_$(1)
endef

seven: $(STAMP)
	$(CLI) train --model models/teacher --exclude-emotions calm --out models/teacher-7emotions
	$(CLI) train --model models/teacher-speaker_norm --protocol speaker_norm \
		--exclude-emotions calm --out models/teacher-7emotions-speaker_norm
	$(CLI) distill --teacher models/teacher-7emotions --student compact_int8 \
		--out models/optimized-compact-7emotions
	$(CLI) distill --teacher models/teacher-7emotions-speaker_norm --student compact_int8 \
		--out models/optimized-compact-7emotions-speaker_norm
	$(CLI) ab --a models/teacher-7emotions --b models/optimized-compact-7emotions \
		--data $(TESS) --out reports/ab/7emotions/teacher_vs_compact \
		--deploy-to models/deployed-7emotions
	$(CLI) ab --a models/teacher-7emotions-speaker_norm \
		--b models/optimized-compact-7emotions-speaker_norm --data $(TESS) \
		--out reports/ab/7emotions/teacher_vs_compact_speaker_norm \
		--deploy-to models/deployed-7emotions-speaker_norm
	$(CLI) ab --a models/deployed --b models/deployed-7emotions --data $(TESS) \
		--out reports/ab/7emotions/deployed_vs_7emotions
	$(CLI) ab --a models/deployed-speaker_norm --b models/deployed-7emotions-speaker_norm \
		--data $(TESS) --out reports/ab/7emotions/deployed_vs_7emotions_speaker_norm
	$(call HOLDOUT7,strict,models/teacher)
	$(call HOLDOUT7,speaker_norm,models/teacher-speaker_norm)
	$(BIN)/python experiments/related_work.py

benchmarks: $(STAMP)
	$(BIN)/python experiments/bench_features.py
	$(BIN)/python experiments/bench_discriminator.py --model models/deployed models/teacher \
		models/optimized-compact-fast models/optimized models/deployed-speaker_norm \
		models/deployed-7emotions-speaker_norm --clips 128 --repeat 3

# What speed costs on a new corpus: students made cheaper than the deployed ones (fewer
# descriptor groups, a shorter FFT or a longer hop), each A/B-tested against the deployed
# model of its protocol on TESS (about 35 min; nothing is deployed from here)
# -> reports/ab/cheaper/
cheaper: $(STAMP)
	$(BIN)/python experiments/cheaper_students.py

# Leave one corpus out (RAVDESS, TESS, EMOVO): model family and parameters chosen by
# speaker-grouped inner CV on the other corpora, strict and speaker-normalised
# -> reports/loco/ (not part of `run`)
loco: $(STAMP)
	$(BIN)/python experiments/loco.py

# Recording conditions (measurement only): invariance of every committed model on 40 clips
# of actors 21-24 (gain, noise floor, PCM16, input rate, padding, DC offset), and a teacher
# and compact student per protocol trained without actors 21-24 scored on their clips
# under noise, telephone band, codecs, reverberation, Griffin-Lim and gain
# -> reports/conditions/ (not part of `run`)
conditions: $(STAMP)
	$(BIN)/python experiments/bench_conditions.py

clean-cache:
	rm -rf .cache
